"""WebSocket connections of simulated users: opened by action packs, owned by the ``User``, recorded.

    ws = await ctx.websocket("/api/v4/websocket", correlation_of=post_id)  # the user's open one, or a new one
    ws.on("posted", lambda store, event: store.remember("post_id", post_id(event)))
    await ws.send_json({"action": "user_typing", "seq": 1})

A :class:`UserWebSocket` belongs to one user and lives until the pack closes it or the user ends, across
actions and sessions. One reader task per connection receives every message, finds its type (``type_of``,
default the JSON object's ``"event"`` or ``"type"``), runs the handlers registered for that type with the
user's store (the user stays the only writer: handlers run in its event loop, one at a time), and records
it. When the connection drops it records why and reconnects after an exponential backoff with jitter, so a
misbehaving server costs a user its connection for a while, never the user or the run.

Every connection attempt, disconnect, sent and received message is one row of the worker's
``ws-<worker>`` table (``tracereplay.rundir.WS_SCHEMA``), written once a second like the requests. A
message may carry a correlation id (``correlation_of``); a pack tags the action that caused it with the same
id (``ctx.correlate`` or ``send_json(..., correlation=…)``), and the report turns each pair into a delivery
latency (send start → receipt, per receiving user).

Disconnect reasons (``outcome`` of a ``disconnect`` row): ``server_close`` (a close frame; ``detail`` has
its code), ``reset`` (the TCP connection ended without one), ``ping_timeout`` (no pong within half the
heartbeat), ``malformed_frame`` (a frame that breaks RFC 6455), ``too_large`` (a message above
``max_msg_size``), ``send_timeout`` (the server stopped reading: a send waited longer than
``send_timeout_s`` for room in the socket buffer), ``client_close`` (the pack closed it, or the user or run
ended).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import numpy as np
import pyarrow as pa

from tracereplay.replay.store import MutableUserStore
from tracereplay.replay.transports.aiohttp_client import classify
from tracereplay.replay.transports.base import ErrorKind
from tracereplay.rundir import WS, WS_SCHEMA, StreamOpener, StreamSink, StreamWriter

log = logging.getLogger(__name__)
_now = time.monotonic

#: A handler for one type of incoming message: runs in the user's event loop with the user's store.
EventHandler = Callable[[MutableUserStore, Any], None]
#: Finds a message's type, or its correlation id, in the decoded message (None when it has none).
Extract = Callable[[Any], str | None]

CONNECT, DISCONNECT, SEND, RECEIVE, ORIGIN = "connect", "disconnect", "send", "receive", "origin"
OK = "ok"
SERVER_CLOSE, RESET, PING_TIMEOUT = "server_close", "reset", "ping_timeout"
MALFORMED, TOO_LARGE = "malformed_frame", "too_large"
SEND_TIMEOUT, CLIENT_CLOSE = "send_timeout", "client_close"
NOT_CONNECTED = "not_connected"  # a send while the connection is down (waiting to reconnect)
HANDLER_ERROR = "handler_error"  # a receive whose handler raised (logged once per type and error)
TEXT, BINARY = "(text)", "(binary)"  # the type of a message that is not a JSON object with a type
_MESSAGE_TOO_BIG = 1009  # RFC 6455 close code


@dataclass(frozen=True, kw_only=True, slots=True)
class WsSettings:
    """How a user's websocket behaves; every field can be set per ``ctx.websocket`` call.

    ``heartbeat_s``: a ping this often, the connection counts as dead (``ping_timeout``) without a pong
    within half of it (aiohttp's rule); None sends none. ``send_timeout_s`` bounds how long a send may
    wait for room in the socket buffer. Reconnection waits ``backoff_s * 2**attempt`` capped at
    ``backoff_max_s``, times a uniform jitter in [0.5, 1) so users dropped together do not return together.
    """

    heartbeat_s: float | None = 20.0
    connect_timeout_s: float = 10.0
    send_timeout_s: float = 5.0
    max_msg_size: int = 4 << 20
    reconnect: bool = True
    backoff_s: float = 0.5
    backoff_max_s: float = 30.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The wait before reconnection attempt ``attempt`` (0 for the first after a drop)."""
        return min(self.backoff_max_s, self.backoff_s * 2.0 ** min(attempt, 30)) * rng.uniform(0.5, 1.0)


class SocketOwner(Protocol):
    """What a connection needs of its user (the ``User``): who it is and the store its handlers write."""

    key: str
    session: str
    store: MutableUserStore


def default_type(message: Any) -> str | None:
    """A JSON object's ``"event"`` (Mattermost) or ``"type"`` field, when it is a string."""
    if isinstance(message, dict):
        kind = message.get("event", message.get("type"))
        if isinstance(kind, str):
            return kind
    return None


def _no_correlation(_message: Any) -> str | None:
    return None


# ------------------------------------------------------------------------------------------------- recording
class WsRecorder:
    """One worker's websocket rows: appended in the loop, written once a second to ``ws-<worker>.arrows``.

    The stream is created with its first row, so a run whose pack never opens a websocket has no ws file.
    Times come in as ``time.monotonic()`` seconds and are written as UTC with ``wall_offset_ns`` (the
    request recorder's, so both tables share one clock).
    """

    def __init__(
        self, run_dir: str | Path, worker: int, wall_offset_ns: int, streams: StreamOpener | None = None
    ) -> None:
        self.run_dir, self.worker, self.wall_offset_ns = Path(run_dir), worker, wall_offset_ns
        self._rows: list[tuple] = []
        # where the stream goes: the run directory, or bytes shipped to a parent (replay/cluster/worker.py)
        self._open: StreamOpener = streams or partial(StreamWriter, self.run_dir)
        self._out: StreamSink | None = None
        self._lock = threading.Lock()
        self.rows = 0

    # hot path: one append
    def record(
        self,
        when: float,
        owner: SocketOwner | None,
        socket: str | None,
        conn: int | None,
        kind: str,
        type_: str | None = None,
        correlation: str | None = None,
        duration_ms: float | None = None,
        outcome: str | None = None,
        detail: str | None = None,
        nbytes: int | None = None,
    ) -> None:
        user, session = (owner.key, owner.session) if owner is not None else (None, None)
        row = (
            when,
            user,
            session,
            socket,
            conn,
            kind,
            type_,
            correlation,
            duration_ms,
            outcome,
            detail,
            nbytes,
        )
        self._rows.append(row)

    def take(self) -> list[tuple]:
        rows, self._rows = self._rows, []
        return rows

    def flush(self, rows: list[tuple] | None = None) -> None:
        """Write ``rows`` (default: everything since the last flush); safe in a worker thread."""
        rows = self.take() if rows is None else rows
        if not rows:
            return
        with self._lock:
            if self._out is None:
                self._out = self._open(WS, self.worker, WS_SCHEMA)
            self._out.write(self._to_table(rows))
            self.rows += len(rows)

    def close(self) -> Path | None:
        """Flush the rest and convert the stream into ``ws-<worker>.parquet`` (None if there were no rows)."""
        self.flush()
        with self._lock:
            out, self._out = self._out, None
            return out.finish() if out is not None else None

    def _to_table(self, rows: list[tuple]) -> pa.Table:
        when, user, session, socket, conn, kind, type_, corr, duration, outcome, detail, nbytes = zip(
            *rows, strict=True
        )
        seconds = np.fromiter(when, np.float64, len(rows))
        ns = (seconds * 1e9).astype(np.int64) + self.wall_offset_ns
        columns = {
            "ts": pa.array(ns, pa.timestamp("ns", tz="UTC")),
            "worker": pa.array(np.full(len(rows), self.worker, dtype=np.int32)),
            "user": pa.array(user, pa.string()),
            "session": pa.array(session, pa.string()),
            "socket": pa.array(socket, pa.string()),
            "conn": pa.array(conn, pa.int64()),
            "kind": pa.array(kind, pa.string()),
            "type": pa.array(type_, pa.string()),
            "correlation": pa.array(corr, pa.string()),
            "duration_ms": pa.array(duration, pa.float64()),
            "outcome": pa.array(outcome, pa.string()),
            "detail": pa.array(detail, pa.string()),
            "bytes": pa.array(nbytes, pa.int64()),
        }
        return pa.Table.from_pydict(columns, schema=WS_SCHEMA)


# ------------------------------------------------------------------------------------------- the worker's hub
class WebSockets:
    """The websocket side of one worker: one client session, every user's connections, their recorder.

    Nothing is opened until a pack asks for a websocket. :meth:`close` ends every connection (recorded as
    ``client_close``) and closes the session; the recorder is closed by its owner after that.
    """

    def __init__(
        self,
        base_url: str,
        recorder: WsRecorder,
        *,
        ssl_context: ssl.SSLContext | None = None,
        settings: WsSettings | None = None,
        seed: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.recorder = recorder
        self.settings = settings or WsSettings()
        self.ssl_context = ssl_context
        self.rng = random.Random(seed)  # backoff jitter only
        self.sockets: set[UserWebSocket] = set()
        self._session: aiohttp.ClientSession | None = None
        self._connections = 0
        self._closing: set[asyncio.Task] = set()  # closes scheduled by users that ended
        self._closed = False
        self._warned: set[tuple[str, str]] = set()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # no pool limit (each websocket holds its own connection for its life), no shared cookie jar
            # (cookies are the user's, sent as a header), the transport's TLS context
            connector = aiohttp.TCPConnector(limit=0, ssl=self.ssl_context or True)
            self._session = aiohttp.ClientSession(
                base_url=self.base_url, connector=connector, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    def next_connection(self) -> int:
        self._connections += 1
        return self._connections

    async def open(
        self,
        owner: SocketOwner,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        settings: WsSettings | None = None,
        type_of: Extract = default_type,
        correlation_of: Extract = _no_correlation,
        handlers: Mapping[str, EventHandler] | None = None,
    ) -> UserWebSocket:
        """A new connection for ``owner``, connected once (or waiting to reconnect if that failed)."""
        if self._closed:
            raise RuntimeError("the run is ending: no new websockets")
        socket = UserWebSocket(
            self,
            owner,
            path,
            headers=dict(headers or {}),
            settings=settings or self.settings,
            type_of=type_of,
            correlation_of=correlation_of,
        )
        for kind, handler in (handlers or {}).items():
            socket.on(kind, handler)
        self.sockets.add(socket)
        await socket.start()
        return socket

    async def close(self, timeout_s: float = 2.0) -> None:
        """Close every connection (bounded by ``timeout_s``) and the client session."""
        self._closed = True
        closing = [asyncio.ensure_future(socket.close()) for socket in list(self.sockets)]
        closing += self._closing
        if closing:
            await asyncio.wait(closing, timeout=timeout_s)
        for socket in list(self.sockets):
            socket.abort()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def close_later(self, socket: UserWebSocket) -> None:
        """Close ``socket`` from synchronous code; :meth:`close` waits for it, so its row is written."""
        task = asyncio.get_running_loop().create_task(socket.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def warn_once(self, where: str, exc: BaseException) -> None:
        key = (where, type(exc).__name__)
        if key not in self._warned:
            self._warned.add(key)
            log.warning("websocket handler for %r raised %s: %s (recorded)", where, type(exc).__name__, exc)


# ------------------------------------------------------------------------------------------ one connection
class UserWebSocket:
    """One user's websocket: send, handlers by message type, close. Survives drops by reconnecting."""

    def __init__(
        self,
        hub: WebSockets,
        owner: SocketOwner,
        path: str,
        *,
        headers: dict[str, str],
        settings: WsSettings,
        type_of: Extract,
        correlation_of: Extract,
    ) -> None:
        self.hub, self.owner, self.path, self.headers, self.settings = hub, owner, path, headers, settings
        self.type_of, self.correlation_of = type_of, correlation_of
        self.handlers: dict[str, list[EventHandler]] = {}
        self.conn: int | None = None  # the current connection's number
        self.connects = 0  # successful connections (the first and every reconnection)
        self.received = 0
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task | None = None
        self._closing = False
        self._drop_reason: tuple[str, str | None] | None = None
        self._connected = asyncio.Event()

    # ------------------------------------------------------------------ what a pack uses
    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    @property
    def closed(self) -> bool:
        """Closed for good (by the pack, the user's end or the run's); a drop is not a close."""
        return self._closing

    def on(self, kind: str, handler: EventHandler) -> EventHandler:
        """Run ``handler(store, message)`` for every incoming message of type ``kind``; returns it."""
        self.handlers.setdefault(kind, []).append(handler)
        return handler

    async def send_json(self, data: Any, *, type: str | None = None, correlation: str | None = None) -> bool:
        """Send ``data`` as JSON text; see :meth:`send_str`."""
        return await self.send_str(json.dumps(data), type=type or default_type(data), correlation=correlation)

    async def send_str(self, text: str, *, type: str | None = None, correlation: str | None = None) -> bool:
        """Send a text message; True once it is handed to the socket.

        ``correlation`` tags it: messages that later arrive with the same id are deliveries of this one.
        A send while disconnected records ``not_connected``; one that waits longer than ``send_timeout_s``
        for room in the socket buffer records ``send_timeout`` and drops the connection (it reconnects).
        Neither raises: a broken connection is data, not a pack failure.
        """
        start = _now()
        ws = self._ws

        def sent(outcome: str | None, detail: str | None = None) -> None:
            elapsed = (_now() - start) * 1e3
            self._record(start, SEND, type, correlation, elapsed, outcome, detail, len(text))

        if ws is None or ws.closed:
            sent(NOT_CONNECTED)
            return False
        try:
            await asyncio.wait_for(ws.send_str(text), self.settings.send_timeout_s)
        except TimeoutError:
            sent(SEND_TIMEOUT)
            self._drop(SEND_TIMEOUT, f"no room to send for {self.settings.send_timeout_s:g} s")
            return False
        except Exception as exc:  # the connection went away under the send: the reader records why
            sent(NOT_CONNECTED, _describe(exc))
            return False
        sent(None)
        return True

    async def wait_connected(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the connection to be up (after a drop, say); True if it is."""
        if self.connected:
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        return self.connected

    async def close(self) -> None:
        """Close for good (recorded as ``client_close``); no reconnection. Safe to call twice."""
        if self._closing:
            return
        self._closing = True
        self.hub.sockets.discard(self)
        ws = self._ws
        if ws is not None and not ws.closed:
            self._drop_reason = (CLIENT_CLOSE, None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), self.settings.send_timeout_s)
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def close_soon(self) -> None:
        """:meth:`close` from synchronous code (the user ending): scheduled on the loop."""
        if not self._closing:
            self.hub.close_later(self)

    def abort(self) -> None:
        """Drop the connection at once, unsent bytes and all (the run's end, past its grace)."""
        self._closing = True
        self.hub.sockets.discard(self)
        if self._task is not None:
            self._task.cancel()
        _abort_transport(self._ws)

    # ------------------------------------------------------------------ the connection's life
    async def start(self) -> None:
        """Connect once, then read (and reconnect) in the background."""
        await self._connect()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _connect(self) -> bool:
        start = _now()
        conn = self.hub.next_connection()
        s = self.settings
        try:
            ws = await asyncio.wait_for(
                self.hub.session.ws_connect(
                    self.path,
                    headers=self.headers,
                    heartbeat=s.heartbeat_s,
                    max_msg_size=s.max_msg_size,
                    autoping=True,
                    compress=0,
                ),
                s.connect_timeout_s,
            )
        except Exception as exc:  # refused, timed out, not upgraded: recorded, and retried by _run
            outcome, detail = _connect_failure(exc)
            self._record(
                start, CONNECT, duration_ms=(_now() - start) * 1e3, outcome=outcome, detail=detail, conn=conn
            )
            return False
        if self._closing:  # closed while connecting
            await ws.close()
            return False
        self._ws, self.conn, self._drop_reason = ws, conn, None
        self.connects += 1
        self._connected.set()
        self._record(start, CONNECT, duration_ms=(_now() - start) * 1e3, outcome=OK)
        return True

    async def _run(self) -> None:
        attempt = 0
        try:
            while not self._closing:
                if self.connected:
                    attempt = 0
                    await self._read()
                if self._closing or not self.settings.reconnect:
                    return
                await asyncio.sleep(self.settings.backoff(attempt, self.hub.rng))
                attempt += 1
                if not self._closing:
                    await self._connect()
        finally:
            self.hub.sockets.discard(self)

    async def _read(self) -> None:
        """Receive until the connection ends; record each message and, at the end, why it ended."""
        ws = self._ws
        assert ws is not None
        reason: tuple[str, str | None] = (RESET, None)
        try:
            while True:
                message = await ws.receive()
                when = _now()
                kind = message.type
                if kind is aiohttp.WSMsgType.TEXT:
                    self._on_message(when, message.data, len(message.data))
                elif kind is aiohttp.WSMsgType.BINARY:
                    self._on_binary(when, message.data)
                else:
                    reason = _why_closed(message, ws)
                    break
        except asyncio.CancelledError:
            reason = (CLIENT_CLOSE, None)
            raise
        finally:
            self._connected.clear()
            self._ws = None
            reason = self._drop_reason or reason
            self._record(_now(), DISCONNECT, outcome=reason[0], detail=reason[1])

    def _on_message(self, when: float, text: str, nbytes: int) -> None:
        self.received += 1
        try:
            message = json.loads(text)
        except ValueError:
            self._record(when, RECEIVE, TEXT, nbytes=nbytes)
            return
        kind = self.type_of(message) or TEXT
        outcome = None
        try:
            correlation = self.correlation_of(message)
        except Exception as exc:  # a message without the expected shape: no correlation, still a receipt
            self.hub.warn_once(f"correlation_of({kind})", exc)
            correlation = None
        for handler in self.handlers.get(kind, ()):
            try:
                handler(self.owner.store, message)
            except Exception as exc:  # a pack bug or an unexpected message: recorded, the user goes on
                self.hub.warn_once(kind, exc)
                outcome = HANDLER_ERROR
        if correlation is not None and not isinstance(correlation, str):
            correlation = str(correlation)  # a numeric id, say
        self._record(when, RECEIVE, kind, correlation, outcome=outcome, nbytes=nbytes)

    def _on_binary(self, when: float, data: bytes) -> None:
        self.received += 1
        self._record(when, RECEIVE, BINARY, nbytes=len(data))

    def _record(self, when: float, kind: str, *fields: Any, conn: int | None = None, **named: Any) -> None:
        """One row of this connection (``fields``/``named``: the rest of :meth:`WsRecorder.record`'s)."""
        self.hub.recorder.record(when, self.owner, self.path, conn or self.conn, kind, *fields, **named)

    def _drop(self, reason: str, detail: str | None) -> None:
        """End the current connection for ``reason`` (the reader records it and reconnects)."""
        if self._drop_reason is None:
            self._drop_reason = (reason, detail)
        _abort_transport(self._ws)


def _why_closed(message: aiohttp.WSMessage, ws: aiohttp.ClientWebSocketResponse) -> tuple[str, str | None]:
    """The disconnect reason for a message that ended the connection."""
    kind = message.type
    if kind in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING):
        code = message.data if kind is aiohttp.WSMsgType.CLOSE else ws.close_code
        return SERVER_CLOSE, f"code {code}" + (f": {message.extra}" if message.extra else "")
    if kind is aiohttp.WSMsgType.ERROR:
        exc = message.data
        if isinstance(exc, aiohttp.ServerTimeoutError):
            return PING_TIMEOUT, _describe(exc)
        if getattr(exc, "code", None) == _MESSAGE_TOO_BIG:
            return TOO_LARGE, _describe(exc)
        if isinstance(exc, aiohttp.WebSocketError):
            return MALFORMED, _describe(exc)
        return RESET, _describe(exc)
    return RESET, None  # CLOSED: the connection ended without a close frame


def _connect_failure(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        status = exc.status
        if status >= 500:
            return ErrorKind.HTTP_5XX.value, f"handshake answered {status}"
        if status >= 400:
            return ErrorKind.HTTP_4XX.value, f"handshake answered {status}"
        return ErrorKind.PROTOCOL.value, _describe(exc)
    if isinstance(exc, TimeoutError):
        return ErrorKind.TIMEOUT.value, "no websocket within the connect timeout"
    return classify(exc).value, _describe(exc)


def _abort_transport(ws: aiohttp.ClientWebSocketResponse | None) -> None:
    """Close the socket under ``ws`` without flushing: the way out when the server stopped reading.

    aiohttp's ``close()`` sends a close frame and would wait behind the full buffer; there is no public
    abort, so this reaches the connection through the response (guarded: a missing attribute does nothing).
    """
    if ws is None:
        return
    response = getattr(ws, "_response", None)
    connection = getattr(response, "connection", None)
    transport = getattr(connection, "transport", None)
    if transport is not None:
        transport.abort()
    elif response is not None:
        response.close()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
