"""Action packs: Python functions for actions that need real payloads or state.

A pack is a module (dotted name, or a path to a ``.py`` file) with::

    ACTIONS: dict[str, ActionFn | Action]  # "POST /api/v4/users/login" -> async def fn(ctx), or
                                           # Action(fn, expect=(401,), timeout=35, long_poll=True)
    async def on_start(ctx) -> None        # optional, once per simulated user
    EVENTS: dict[str, EventHandler]        # optional: "posted" -> def fn(store, message), for every websocket
    def new_store(user_key) -> MutableUserStore  # optional: each user's store (default: an empty MemStore)

The functions run inside the ``User``: ``ctx.store`` is the user's writable store, ``ctx.request`` sends and
records a request under the action's name, ``ctx.websocket`` opens (or returns) the user's websocket
(replay/websocket.py). Actions without a pack entry use the generic HTTP action.
:func:`check_actions` holds a model's or a script's action names against the pack before a run starts.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tracereplay.errors import ConfigError
from tracereplay.replay.actions.generic import parse_action
from tracereplay.replay.actions.paths import FilledPath
from tracereplay.replay.store import MutableUserStore, StoreFactory, new_mem_store
from tracereplay.replay.transports.base import Response
from tracereplay.replay.websocket import EventHandler, Extract, UserWebSocket, WsSettings


class ActionContext(Protocol):
    """What an action function sees."""

    @property
    def store(self) -> MutableUserStore: ...

    @property
    def rng(self) -> np.random.Generator: ...

    @property
    def user_key(self) -> str: ...

    @property
    def action(self) -> str: ...

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        route: str | None = None,
        action: str | None = None,
        expect: Collection[int] | None = None,
        auth: bool = True,
        timeout: float | None = None,
        long_poll: bool | None = None,
        remember: Mapping[str, str] | None = None,
    ) -> Response:
        """Send a request to the target, recorded under the running action's name (or ``action``).

        ``route``: the route template to record (e.g. ``/api/v4/users/{user_id}``); a path made by
        :meth:`path` brings its own; default: the path. ``action`` records a helper request under its
        own name (a sign-up an action needs first, say). The user's token (``Authorization: Bearer``)
        and cookies go out unless ``auth=False`` or ``headers`` set them. ``expect``: statuses that are
        answers, not errors (a handshake's 401, a 404 the pack handles), recorded with ``expected`` set
        and no ``error_kind``; default: the action's ``Action.expect``. ``timeout`` (seconds) and
        ``long_poll`` override the action's. ``remember`` maps store names to fields of a JSON answer
        under 400 or expected (``"room_id"``, ``"rooms.0.id"``): each one found is ``store.remember``-ed;
        the name ``"token"`` sets the token. A request that got no answer raises ``RequestFailed``
        (already recorded); any status is returned.
        """
        ...

    async def json(self, method: str, path: str, **options: Any) -> Any:
        """:meth:`request`, then the decoded JSON answer (None when the status is ≥ 400 and not expected,
        or the body is not JSON)."""
        ...

    def path(self, template: str, /, **params: object) -> FilledPath:
        """``template`` with every ``{name}`` replaced by ``params[name]`` escaped as one path segment
        (:mod:`tracereplay.replay.actions.paths`); the request records ``template`` as its route."""
        ...

    async def websocket(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        settings: WsSettings | None = None,
        type_of: Extract | None = None,
        correlation_of: Extract | None = None,
    ) -> UserWebSocket:
        """The user's websocket to ``path``: the open one if the user has it, else a new connection.

        It stays open across actions and sessions until ``ws.close()`` or the user's end, reconnecting
        with backoff when it drops. The pack's ``EVENTS`` handlers are registered on it; ``ws.on`` adds
        more. ``type_of``/``correlation_of`` find a message's type and correlation id.
        """
        ...

    async def close_websocket(self, path: str) -> None:
        """Close the user's websocket to ``path`` if it holds one (recorded as ``client_close``)."""
        ...

    def correlate(self, correlation: str, *, type: str | None = None) -> None:
        """Tag the running action's latest request with ``correlation``: messages that arrive carrying the
        same id (any user's websocket) are its deliveries, timed from that request's start."""
        ...


ActionFn = Callable[[ActionContext], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Action:
    """A pack function with its defaults: statuses that are not errors, a timeout, a long-poll mark.

    ``expect``: statuses every request of the action accepts (``ctx.request(expect=)`` overrides).
    ``timeout``: seconds each of its requests may take (default: the run's ``--timeout``). ``long_poll``:
    its requests are held open by the server on purpose (a sync, a watch); they are reported in their own
    section and kept out of the headline percentiles and thresholds (``report --long-polls``).
    """

    fn: ActionFn
    expect: frozenset[int] = frozenset()
    timeout: float | None = None
    long_poll: bool = False

    def __init__(
        self,
        fn: ActionFn,
        *,
        expect: Iterable[int] = (),
        timeout: float | None = None,
        long_poll: bool = False,
    ) -> None:
        object.__setattr__(self, "fn", fn)
        object.__setattr__(self, "expect", frozenset(expect))
        object.__setattr__(self, "timeout", timeout)
        object.__setattr__(self, "long_poll", long_poll)

    def problems(self, name: str, spec: str) -> list[str]:
        where = f"action pack {spec!r}: ACTIONS[{name!r}]"
        found = []
        if not callable(self.fn):
            found.append(f"{where} is not a callable")
        if not all(isinstance(s, int) and 100 <= s <= 599 for s in self.expect):
            found.append(f"{where}: expect must hold HTTP statuses (100–599), not {sorted(self.expect)!r}")
        if self.timeout is not None and not (isinstance(self.timeout, int | float) and self.timeout > 0):
            found.append(f"{where}: timeout must be a positive number of seconds, not {self.timeout!r}")
        return found


@dataclass(frozen=True, slots=True)
class ActionPack:
    """A loaded pack: its name, its actions, its optional ``on_start`` hook and websocket handlers, and the
    factory of its users' stores."""

    name: str
    actions: Mapping[str, Action]
    on_start: ActionFn | None = None
    events: Mapping[str, EventHandler] = field(default_factory=dict)
    new_store: StoreFactory = new_mem_store


EMPTY_PACK = ActionPack("none", {})

#: How alike (difflib ratio) an HTTP action must be to a pack name to be taken for a typo of it.
TYPO_RATIO = 0.9


def check_actions(pack: ActionPack, actions: Iterable[str], *, source: str) -> None:
    """Every action ``source`` (a model, a script, a trace) names must be performable with ``pack``.

    An action the pack lacks is an error (``ConfigError`` naming each, with the closest pack names)
    when it is not an HTTP route (nothing else could perform it), or when it is one but so like a pack
    name that it is most likely a typo of it (the generic action would send it to a path nobody meant).
    Any other HTTP action goes through the generic action, as documented. Without a pack nothing is
    checked: a model's actions are then all generic.
    """
    if not pack.actions:
        return
    names = list(pack.actions)
    problems = []
    for action in dict.fromkeys(actions):
        if action in pack.actions:
            continue
        http = parse_action(action) is not None
        close = difflib.get_close_matches(action, names, n=3, cutoff=TYPO_RATIO if http else 0.5)
        if http and not close:
            continue
        hint = f"closest: {', '.join(repr(c) for c in close)}" if close else "pack has no similar name"
        problems.append(f"{source}: unknown action {action!r} ({hint})")
    if problems:
        problems.append(f"the pack {pack.name!r} has: {', '.join(repr(n) for n in names)}")
        raise ConfigError(problems)


def load_pack(spec: str | None) -> ActionPack:
    """Import a pack by dotted module name or ``.py`` path; ``None`` gives the empty pack."""
    if not spec:
        return EMPTY_PACK
    module = _import(spec)
    actions = getattr(module, "ACTIONS", None)
    problems = []
    if not isinstance(actions, Mapping):
        problems.append(f"action pack {spec!r} has no ACTIONS dict")
        actions = {}
    loaded: dict[str, Action] = {}
    for name, entry in actions.items():
        if not isinstance(name, str) or not (callable(entry) or isinstance(entry, Action)):
            problems.append(f"action pack {spec!r}: ACTIONS[{name!r}] is not a callable keyed by action name")
            continue
        loaded[name] = entry if isinstance(entry, Action) else Action(entry)
        problems += loaded[name].problems(name, spec)
    on_start = getattr(module, "on_start", None)
    if on_start is not None and not callable(on_start):
        problems.append(f"action pack {spec!r}: on_start is not callable")
    events = getattr(module, "EVENTS", {})
    if not isinstance(events, Mapping):
        problems.append(f"action pack {spec!r}: EVENTS is not a dict of message type -> handler")
        events = {}
    for name, fn in events.items():
        if not isinstance(name, str) or not callable(fn):
            problems.append(f"action pack {spec!r}: EVENTS[{name!r}] is not a callable keyed by message type")
    new_store = getattr(module, "new_store", new_mem_store)
    if not callable(new_store):
        problems.append(f"action pack {spec!r}: new_store is not callable")
    if problems:
        raise ConfigError(problems)
    return ActionPack(spec, loaded, on_start, dict(events), new_store)


def _import(spec: str) -> Any:
    path = Path(spec)
    if spec.endswith(".py") or path.exists():
        if not path.is_file():
            raise ConfigError(f"action pack file {spec} does not exist")
        name = f"tracereplay_pack_{path.stem}"
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ConfigError(f"cannot load action pack file {spec}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module  # so worker processes and dataclasses inside the pack resolve
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:
            raise ConfigError(f"action pack {spec} failed to import: {type(exc).__name__}: {exc}") from None
        return module
    try:
        return importlib.import_module(spec)
    except ImportError as exc:
        raise ConfigError(f"cannot import action pack {spec!r}: {exc}") from None
