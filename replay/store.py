"""What a simulated user knows: its state, kept apart from its behaviour.

``UserStore`` is the read-only view a controller gets; ``MutableUserStore`` is what the ``User`` (the only
writer) and the action packs running inside it use. Each user's store is made by a :data:`StoreFactory`
(``new_store(user_key)``): :func:`new_mem_store` unless the action pack brings its own ``new_store`` (a store
seeded from a file of accounts, say). ``MemStore`` keeps everything in memory, per user:

- ``token`` and ``cookies``: the user's credentials, sent with every request;
- values by parameter name (``"channel_id"`` → ids the user created or received), newest last, a few each;
- facts: small named scalars an action pack wants to keep (``"username"``, ``"password"`` …).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: How many values a store keeps per parameter name; old ones are forgotten first.
VALUES_PER_NAME = 32


@runtime_checkable
class UserStore(Protocol):
    """Read-only view of what one simulated user knows."""

    @property
    def token(self) -> str | None: ...

    @property
    def cookies(self) -> Mapping[str, str]:
        """The user's cookies by name, sent with every request (``Cookie``)."""
        ...

    def values(self, name: str) -> Sequence[str]:
        """Every value kept for a parameter name, oldest first (empty when none)."""
        ...

    def latest(self, name: str) -> str | None:
        """The newest value kept for a parameter name, or None."""
        ...

    def fact(self, name: str, default: Any = None) -> Any:
        """A named scalar an action stored (``"username"``), or ``default``."""
        ...

    def pick(self, name: str, rng: np.random.Generator) -> str | None:
        """A value for ``name`` chosen uniformly with ``rng``, or None when none is kept."""
        ...

    def related(self, name: str, value: str) -> Mapping[str, str]:
        """The values ``value`` was remembered with (empty when none)."""
        ...


@runtime_checkable
class MutableUserStore(UserStore, Protocol):
    """What the ``User`` and action packs may change."""

    def set_token(self, token: str | None) -> None: ...

    def remember(self, name: str, value: str, related: Mapping[str, str] | None = None) -> None:
        """Keep a value for a parameter name (newest last; the oldest are dropped past a few).

        ``related`` names the values it belongs with (an item's ``cart_id``), so a route with several
        parameters is filled with values that belong together.
        """
        ...

    def forget(self, name: str) -> None: ...

    def set_fact(self, name: str, value: Any) -> None: ...

    def set_cookie(self, name: str, value: str) -> None: ...


#: Makes a user's store from its key (``"w0-u12"``); an action pack may bring its own (``new_store``).
StoreFactory = Callable[[str], MutableUserStore]


class MemStore:
    """In-memory ``MutableUserStore``; small (a few hundred bytes for a fresh user)."""

    __slots__ = ("_facts", "_links", "_token", "_values", "cookies")

    def __init__(self) -> None:
        self._token: str | None = None
        self._values: dict[str, list[str]] = {}
        self._facts: dict[str, Any] = {}
        self._links: dict[tuple[str, str], dict[str, str]] = {}
        self.cookies: dict[str, str] = {}

    # read side (UserStore)
    @property
    def token(self) -> str | None:
        return self._token

    def values(self, name: str) -> Sequence[str]:
        return tuple(self._values.get(name, ()))

    def latest(self, name: str) -> str | None:
        kept = self._values.get(name)
        return kept[-1] if kept else None

    def fact(self, name: str, default: Any = None) -> Any:
        return self._facts.get(name, default)

    def pick(self, name: str, rng: np.random.Generator) -> str | None:
        """A value for ``name`` chosen uniformly with ``rng``, or None when the user knows none."""
        kept = self._values.get(name)
        if not kept:
            return None
        # rng.random() rather than rng.integers(n): the same uniform choice at a quarter of the cost (~1 µs
        # a request: most requests fill a path parameter)
        return kept[int(rng.random() * len(kept))] if len(kept) > 1 else kept[0]

    def related(self, name: str, value: str) -> Mapping[str, str]:
        return self._links.get((name, value), {})

    def names(self) -> list[str]:
        return list(self._values)

    def facts(self) -> dict[str, Any]:
        """Every fact kept, by name (a copy)."""
        return dict(self._facts)

    # write side (MutableUserStore)
    def set_token(self, token: str | None) -> None:
        self._token = token

    def remember(self, name: str, value: str, related: Mapping[str, str] | None = None) -> None:
        kept = self._values.get(name)  # a kept list is never empty: forget() drops the name
        if kept is None:
            self._values[name] = kept = [value]
        elif kept[-1] == value:  # already the newest: the common case of an id seen again
            if related:
                self._links[(name, value)] = dict(related)
            return
        else:
            if value in kept:
                kept.remove(value)  # move to newest
            kept.append(value)
            if len(kept) > VALUES_PER_NAME:
                self._links.pop((name, kept.pop(0)), None)
        if related:
            self._links[(name, value)] = dict(related)

    def forget(self, name: str) -> None:
        for value in self._values.pop(name, ()):
            self._links.pop((name, value), None)

    def set_fact(self, name: str, value: Any) -> None:
        self._facts[name] = value

    def set_cookie(self, name: str, value: str) -> None:
        self.cookies[name] = value

    def __repr__(self) -> str:
        counts = {k: len(v) for k, v in self._values.items()}
        return f"MemStore(token={'set' if self._token else None}, values={counts}, facts={list(self._facts)})"


def new_mem_store(user_key: str) -> MemStore:
    """The default :data:`StoreFactory`: an empty in-memory store, whoever the user is."""
    return MemStore()
