"""A simulated user: performs actions over the shared transport and is the only writer of its store.

``User.perform(action, intended)`` runs one action: the pack's function for it when the pack has one,
else the generic HTTP action. Every request, sent or not, is announced once as a
:class:`~tracereplay.replay.events.RequestEvent` on the worker's ``RequestHook`` with its intended start
(from the schedule), its actual start and end, status, bytes, error kind and detail; the recorder and the
live numbers are listeners the user knows nothing of. Failures are announced, never raised to the controller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping
from types import FrameType
from typing import Any

import numpy as np

from tracereplay.replay.actions.generic import HttpRoute, harvest, parse_action
from tracereplay.replay.actions.pack import EMPTY_PACK, Action, ActionFn, ActionPack
from tracereplay.replay.actions.paths import FilledPath, fill_path
from tracereplay.replay.events import LATER_DEFAULTS, RequestEvent, RequestHook
from tracereplay.replay.limiter import RateLimiter
from tracereplay.replay.store import MemStore, MutableUserStore
from tracereplay.replay.transports.base import ErrorKind, Request, RequestFailed, Response, Transport
from tracereplay.replay.websocket import ORIGIN, Extract, UserWebSocket, WebSockets, WsSettings

log = logging.getLogger(__name__)
_now = time.monotonic

_PROTOCOL = ErrorKind.PROTOCOL.value
#: ``_event(RequestEvent, (15 core fields, *LATER_DEFAULTS))``: a RequestEvent without the named tuple's
#: argument binding, on the hot path (replay/events.py)
_event = tuple.__new__


class Halted(Exception):
    """The user was stopped while waiting to send (``--max-rps``): the request is not sent, not recorded."""


class ActionTable:
    """Resolves action names to pack functions or parsed HTTP routes, once per worker (shared by users)."""

    def __init__(self, pack: ActionPack = EMPTY_PACK) -> None:
        self.pack = pack
        self._warned: set[tuple[str, str]] = set()

    def function(self, action: str) -> ActionFn | None:
        entry = self.pack.actions.get(action)
        return entry.fn if entry is not None else None

    def entry(self, action: str) -> Action | None:
        """The pack's entry for ``action`` (its function and defaults), if it has one."""
        return self.pack.actions.get(action)

    def route(self, action: str) -> HttpRoute | None:
        return parse_action(action)

    def warn_once(self, action: str, exc: BaseException) -> None:
        key = (action, type(exc).__name__)
        if key not in self._warned:
            self._warned.add(key)
            log.warning(
                "action %r raised %s: %s (recorded as protocol errors)", action, type(exc).__name__, exc
            )


class User:
    """One simulated user: identity, store, and the actions it can perform."""

    __slots__ = (
        "_fire", "_limiter", "_table", "_transport", "halted", "key", "rng", "session", "sockets",
        "store", "websockets",
    )

    def __init__(
        self,
        key: str,
        *,
        transport: Transport,
        hook: RequestHook,
        table: ActionTable,
        rng: np.random.Generator,
        limiter: RateLimiter | None = None,
        store: MutableUserStore | None = None,
        sockets: WebSockets | None = None,
    ) -> None:
        self.key = key
        self.session = f"{key}-s0"
        self.store: MutableUserStore = store if store is not None else MemStore()
        self.rng = rng
        self._transport = transport
        self._fire = hook.fire  # bound once: the hot path fires one event per request
        self._table = table
        self._limiter = limiter
        self.halted = False  # set when the user is stopped: nothing more is sent
        self.sockets = sockets  # the worker's websockets, for ctx.websocket
        self.websockets: dict[str, UserWebSocket] | None = None  # this user's, by path (most users: none)

    async def websocket(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        settings: WsSettings | None = None,
        type_of: Extract | None = None,
        correlation_of: Extract | None = None,
    ) -> UserWebSocket:
        """The user's websocket to ``path``, opened (with the user's credentials) if it has none open."""
        sockets = self.sockets
        if sockets is None:
            raise RuntimeError("this user has no websocket client (a LoadTester gives it one)")
        held = self.websockets if self.websockets is not None else {}
        self.websockets = held
        socket = held.get(path)
        if socket is not None and not socket.closed:
            return socket
        options: dict[str, Any] = {"type_of": type_of} if type_of is not None else {}
        if correlation_of is not None:
            options["correlation_of"] = correlation_of
        socket = held[path] = await sockets.open(
            self, path, headers=self._credentials(headers), settings=settings,
            handlers=self._table.pack.events, **options,
        )
        return socket

    async def close_websocket(self, path: str) -> None:
        socket = self.websockets.pop(path, None) if self.websockets else None
        if socket is not None:
            await socket.close()

    def close_websockets(self) -> None:
        """Close the user's websockets (its end): scheduled, as this runs from a task's done-callback."""
        for socket in (self.websockets or {}).values():
            socket.close_soon()
        self.websockets = None

    async def start(self) -> None:
        """Run the pack's ``on_start`` hook, if any (e.g. nothing, or signing up)."""
        hook = self._table.pack.on_start
        if hook is not None:
            context = _Context(self, "on_start", _now())
            try:
                await hook(context)
            except RequestFailed:
                pass
            except Halted:
                raise
            except Exception as exc:
                self._table.warn_once("on_start", exc)

    async def perform(self, action: str, intended: float, path: str | None = None) -> bool:
        """Perform ``action`` now; ``intended`` is when the schedule wanted it to start (monotonic s).

        ``path`` is the concrete path the controller chose for an HTTP action from the user's store
        (``replay/controllers/paths.py``); a route without parameters needs none. Returns False when nothing
        could be sent (recorded as a ``protocol`` error).
        """
        function = self._table.function(action)
        if function is not None:
            return await self._run_function(action, function, intended)
        route = self._table.route(action)
        if route is None:
            self._record_unsent(action, None, intended, "not an HTTP action and no pack function")
            return False
        if path is None and not route.params:
            path = route.route
        if path is None:
            self._record_unsent(action, route, intended, "no value for a path parameter")
            return False
        try:
            response = await self.send(action, route.method, path, route.route, intended)
        except RequestFailed:
            return True
        if response.status < 400 and response.body and response.is_json:
            harvest(response.json(), route.resource, self.store)
        return True

    async def send(
        self,
        action: str,
        method: str,
        path: str,
        route: str | None,
        intended: float,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        expect: Collection[int] = (),
        auth: bool = True,
        timeout: float | None = None,
        long_poll: bool = False,
    ) -> Response:
        """Send one request with the user's credentials (none with ``auth=False``) and record it under
        ``action``; a status in ``expect`` is recorded as expected, not as an error."""
        sent_headers = self._credentials(headers) if auth else (dict(headers) if headers else None)
        if self._limiter is not None:
            await self._limiter.wait()
            if self.halted:
                raise Halted
        start = _now()
        try:
            request = Request(method, path, sent_headers, json, params)
            if timeout is None:
                response = await self._transport.send(request)
            else:
                response = await self._transport.send(request, timeout=timeout)  # a per-action timeout
        except Exception as error:  # a failure, or any transport surprise: a recorded result, never fatal
            failure = (
                error if isinstance(error, RequestFailed) else RequestFailed(ErrorKind.PROTOCOL, repr(error))
            )
            kind = failure.kind.value
            self._fire(
                _event(
                    RequestEvent,
                    (self.key, self.session, action, method, route, path,
                     None, intended, start, _now(), kind, 0, failure.detail, False, long_poll,
                     *LATER_DEFAULTS),
                )
            )
            raise failure from None
        end = _now()
        status = response.status
        expected = status >= 400 and status in expect
        kind = None if status < 400 or expected else ("http_4xx" if status < 500 else "http_5xx")
        self._fire(
            _event(
                RequestEvent,
                (self.key, self.session, action, method, route, path,
                 status, intended, start, end, kind, response.size, None, expected, long_poll,
                 *LATER_DEFAULTS),
            )
        )
        self._absorb(response)
        return response

    def _credentials(self, headers: Mapping[str, str] | None) -> dict[str, str] | None:
        store = self.store
        if store.token is None and not store.cookies:
            return dict(headers) if headers else None
        sent: dict[str, str] = {}
        if store.token is not None:
            sent["Authorization"] = f"Bearer {store.token}"
        if store.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in store.cookies.items())
        if headers:
            sent.update(headers)
        return sent

    def _absorb(self, response: Response) -> None:
        """Keep what the answer hands the user: a session token header, cookies."""
        headers = response.headers
        token = headers.get("Token")
        if token:
            self.store.set_token(token)
        if "Set-Cookie" in headers:
            getall = getattr(headers, "getall", None)
            for line in getall("Set-Cookie") if getall else [headers["Set-Cookie"]]:
                name, _, rest = line.partition("=")
                self.store.set_cookie(name.strip(), rest.split(";", 1)[0].strip())

    async def _run_function(self, action: str, function: ActionFn, intended: float) -> bool:
        context = _Context(self, action, intended)
        try:
            await function(context)
        except RequestFailed:
            pass  # already recorded by send()
        except Halted:
            raise
        except Exception as exc:  # a pack bug or an unexpected answer: a result, never fatal
            self._table.warn_once(action, exc)
            if not context.sent:
                self._record_unsent(action, None, intended, f"{type(exc).__name__}: {exc}")
        return context.sent > 0

    def _record_unsent(self, action: str, route: HttpRoute | None, intended: float, why: str) -> None:
        now = _now()
        method, template = (route.method, route.route) if route else (None, None)
        self._fire(
            RequestEvent(
                self.key, self.session, action, method, template, None,
                None, intended, now, now, _PROTOCOL, 0, why,
            )
        )


#: The frames of a user running its actions: a pack's code below one of them is that action's.
_ACTING = frozenset({User._run_function.__code__, User.perform.__code__, User.start.__code__})


def acting(frame: FrameType | None) -> str | None:
    """The action a ``User`` is performing in ``frame``'s stack (the loop watchdog's ``locate``), or None."""
    while frame is not None:
        if frame.f_code in _ACTING:
            action = frame.f_locals.get("action")
            return action if isinstance(action, str) else "on_start"
        frame = frame.f_back
    return None


class _Context:
    """The ``ActionContext`` a pack function gets: the user's store and a recorded ``request``."""

    __slots__ = ("_intended", "_last_start", "_user", "action", "sent")

    def __init__(self, user: User, action: str, intended: float) -> None:
        self._user = user
        self._intended = intended
        self._last_start: float | None = None
        self.action = action
        self.sent = 0

    @property
    def store(self) -> MutableUserStore:
        return self._user.store

    @property
    def rng(self) -> np.random.Generator:
        return self._user.rng

    @property
    def user_key(self) -> str:
        return self._user.key

    def path(self, template: str, /, **params: object) -> FilledPath:
        return fill_path(template, params)

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
        name = action or self.action
        # defaults from the pack's entry for the name the request is recorded under (a helper's own)
        entry = self._user._table.entry(name)
        accepted = _accepted(expect, entry)
        # the first request of an action is due when the action was; later ones when they are sent
        intended = self._intended if self.sent == 0 else _now()
        self.sent += 1
        self._last_start = _now()  # what ctx.correlate times deliveries from
        response = await self._user.send(
            name,
            method.upper(),
            path,
            # recorded route: as given, else a ctx.path()'s template, else the path itself
            route if route is not None else getattr(path, "template", path),
            intended,
            json=json,
            headers=headers,
            params=params,
            expect=accepted,
            auth=auth,
            timeout=timeout if timeout is not None else (entry.timeout if entry else None),
            long_poll=long_poll if long_poll is not None else bool(entry and entry.long_poll),
        )
        if remember and (response.status < 400 or response.status in accepted):
            remember_fields(self.store, response, remember)
        return response

    async def json(self, method: str, path: str, **options: Any) -> Any:
        response = await self.request(method, path, **options)
        entry = self._user._table.entry(options.get("action") or self.action)
        accepted = _accepted(options.get("expect"), entry)
        if response.status >= 400 and response.status not in accepted:
            return None
        return response.json() if response.body and response.is_json else None

    async def websocket(self, path: str, **options: Any) -> UserWebSocket:
        return await self._user.websocket(path, **options)  # the options: User.websocket's

    async def close_websocket(self, path: str) -> None:
        await self._user.close_websocket(path)

    def correlate(self, correlation: str, *, type: str | None = None) -> None:
        user = self._user
        if user.sockets is None:
            return
        start = self._last_start if self._last_start is not None else _now()
        user.sockets.recorder.record(start, user, None, None, ORIGIN, type or self.action, str(correlation))


def _accepted(expect: Collection[int] | None, entry: Action | None) -> Collection[int]:
    """The statuses a request takes as answers: its own ``expect``, else its action's default."""
    if expect is not None:
        return frozenset(expect)
    return entry.expect if entry is not None else ()


def remember_fields(store: MutableUserStore, response: Response, fields: Mapping[str, str]) -> None:
    """Keep fields of a JSON answer: store name → dotted field path (``"room_id"``, ``"rooms.0.id"``).

    A string or number found is ``store.remember``-ed under its name (``"token"`` sets the user's token);
    a field that is missing, or an answer that is not JSON, leaves the store as it was."""
    if not response.body or not response.is_json:
        return
    try:
        body = response.json()
    except ValueError:
        return
    for name, dotted in fields.items():
        value: Any = body
        for key in dotted.split("."):
            if isinstance(value, dict):
                value = value.get(key)
            elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                value = None
                break
        if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
            continue
        if name == "token":
            store.set_token(str(value))
        else:
            store.remember(name, str(value))
