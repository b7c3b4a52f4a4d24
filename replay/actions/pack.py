"""Action packs: Python functions for actions that need real payloads or state.

A pack is a module (dotted name, or a path to a ``.py`` file) with::

    ACTIONS: dict[str, ActionFn]          # "POST /api/v4/users/login" -> async def fn(ctx)
    async def on_start(ctx) -> None       # optional, once per simulated user
    EVENTS: dict[str, EventHandler]       # optional: "posted" -> def fn(store, message), for every websocket

The functions run inside the ``User``: ``ctx.store`` is the user's writable store, ``ctx.request`` sends and
records a request under the action's name, ``ctx.websocket`` opens (or returns) the user's websocket
(replay/websocket.py). Actions without a pack entry use the generic HTTP action.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tracereplay.errors import ConfigError
from tracereplay.replay.store import MutableUserStore
from tracereplay.replay.transports.base import Response
from tracereplay.replay.websocket import EventHandler, Extract, UserWebSocket, WsSettings


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
class ActionPack:
    """A loaded pack: its name, its actions, its optional ``on_start`` hook and websocket handlers."""

    name: str
    actions: Mapping[str, ActionFn]
    on_start: ActionFn | None = None
    events: Mapping[str, EventHandler] = field(default_factory=dict)


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
    events = getattr(module, "EVENTS", {})
    if not isinstance(events, Mapping):
        problems.append(f"action pack {spec!r}: EVENTS is not a dict of message type -> handler")
        events = {}
    for name, fn in events.items():
        if not isinstance(name, str) or not callable(fn):
            problems.append(f"action pack {spec!r}: EVENTS[{name!r}] is not a callable keyed by message type")
    if problems:
        raise ConfigError(problems)
    return ActionPack(spec, dict(actions), on_start, dict(events))


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
