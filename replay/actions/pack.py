"""Action packs: Python functions for actions that need real payloads or state.

A pack is a module (dotted name, or a path to a ``.py`` file) with::

    ACTIONS: dict[str, ActionFn]          # "POST /api/v4/users/login" -> async def fn(ctx)
    async def on_start(ctx) -> None       # optional, once per simulated user

The functions run inside the ``User``: ``ctx.store`` is the user's writable store, ``ctx.request`` sends and
records a request under the action's name. Actions without a pack entry use the generic HTTP action.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tracereplay.errors import ConfigError
from tracereplay.replay.store import MutableUserStore
from tracereplay.replay.transports.base import Response


class ActionContext(Protocol):
    """What an action function sees."""

    store: MutableUserStore
    rng: np.random.Generator
    user_key: str
    action: str

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
    ) -> Response:
        """Send a request to the target, recorded under the running action's name (or ``action``).

        ``route`` is the route template to record (e.g. ``/api/v4/users/{user_id}``); ``action`` records a
        helper request under its own name (a sign-up an action needs first, say).
        Sends the user's token (``Authorization: Bearer``) and cookies unless ``headers`` set them. A
        request that got no answer raises ``RequestFailed`` (already recorded); an HTTP error status is
        returned (and recorded as ``http_4xx``/``http_5xx``).
        """
        ...


ActionFn = Callable[[ActionContext], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ActionPack:
    """A loaded pack: its name, its actions and its optional ``on_start`` hook."""

    name: str
    actions: Mapping[str, ActionFn]
    on_start: ActionFn | None = None


EMPTY_PACK = ActionPack("none", {})


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
    for name, fn in actions.items():
        if not isinstance(name, str) or not callable(fn):
            problems.append(f"action pack {spec!r}: ACTIONS[{name!r}] is not a callable keyed by action name")
    on_start = getattr(module, "on_start", None)
    if on_start is not None and not callable(on_start):
        problems.append(f"action pack {spec!r}: on_start is not callable")
    if problems:
        raise ConfigError(problems)
    return ActionPack(spec, dict(actions), on_start)


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
