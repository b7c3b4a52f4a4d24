"""``FastTransport``: a lean HTTP/1.1 keep-alive client on asyncio protocols, for load generation.

aiohttp's client is general and careful; per request it costs several times what a load generator can
afford (``benchmarks/replay_throughput.py``). This transport does only what replaying needs: one pool of
keep-alive connections to one target, requests written as bytes, responses parsed from the buffer
(``Content-Length``, chunked, or until close), a per-request timeout as one timer handle, and the same
:class:`~tracereplay.replay.transport.ErrorKind` classification as :class:`AiohttpTransport`. It follows no
redirects, asks for no compression, keeps no cookies (the user's store does) and speaks TLS via ``ssl`` with
the context of ``replay/tls.py`` (a failed handshake or certificate is ``ErrorKind.TLS``).
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import ssl
from collections import deque
from collections.abc import Iterator, Mapping
from urllib.parse import urlencode, urlsplit

from tracereplay.replay.tls import client_context, warn_failure
from tracereplay.replay.transport import ErrorKind, Request, RequestFailed, Response

_CRLF2 = b"\r\n\r\n"
#: A response head larger than this is not HTTP we want to parse.
MAX_HEAD = 64 * 1024


class Headers(Mapping[str, str]):
    """Response headers: case-insensitive lookup, ``getall`` for repeated ones (``Set-Cookie``).

    Kept as the raw head text; a lookup searches it (C speed) and the full mapping is only built when
    iterated, since most answers are asked for two or three headers at most.
    """

    __slots__ = ("_items", "_lower", "_text")

    def __init__(self, text: str) -> None:
        self._text = text  # "\r\nName: value\r\nName: value" (status line removed)
        self._lower = text.lower()
        self._items: list[tuple[str, str]] | None = None

    def get(self, key: str, default=None):  # type: ignore[override]
        lower = self._lower
        start = lower.find(f"\r\n{key.lower()}:")
        if start < 0:
            return default
        start += len(key) + 3
        end = lower.find("\r\n", start)
        return self._text[start : end if end >= 0 else len(lower)].strip()

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and f"\r\n{key.lower()}:" in self._lower

    def items_list(self) -> list[tuple[str, str]]:
        if self._items is None:
            self._items = []
            for line in self._text.split("\r\n")[1:]:
                name, sep, value = line.partition(":")
                if not sep:
                    raise ValueError(f"header line {line[:40]!r}")
                self._items.append((name.strip(), value.strip()))
        return self._items

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self.items_list())

    def __len__(self) -> int:
        return len(self.items_list())

    def getall(self, key: str) -> list[str]:
        wanted = key.lower()
        return [v for k, v in self.items_list() if k.lower() == wanted]


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request in flight."""

    __slots__ = (
        "_body_start",
        "_buffer",
        "_chunked",
        "_closes",
        "_head",
        "_length",
        "_loop",
        "_status",
        "_waiter",
        "closed",
        "got_bytes",
        "transport",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future | None = None
        self._buffer = bytearray()
        self.closed = False
        self.got_bytes = False
        self._reset()

    def _reset(self) -> None:
        self._head: Headers | None = None
        self._status = 0
        self._length = -1  # -1: unknown yet, -2: read until close
        self._chunked = False
        self._closes = False
        self._body_start = 0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if self._head is not None and self._length == -2:
                self._finish(bytes(self._buffer[self._body_start :]))  # body delimited by close
            else:
                waiter.set_exception(RequestFailed(ErrorKind.RESET, f"connection closed: {exc or 'by peer'}"))

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        if self._waiter is None:  # unsolicited bytes: this connection is not usable any more
            self.abort()
            return
        self._buffer += data
        try:
            self._parse()
        except (ValueError, IndexError) as exc:
            self._fail(RequestFailed(ErrorKind.PROTOCOL, f"not a valid HTTP response: {exc}"))

    # one exchange
    def eof_received(self) -> bool | None:
        self.closed = True  # the peer will send no more: not reusable (connection_lost follows)
        return None

    def exchange(self, payload: bytes) -> asyncio.Future:
        self._waiter = waiter = self._loop.create_future()
        self.got_bytes = False
        self._buffer.clear()
        self._reset()
        try:
            self.transport.write(payload)  # type: ignore[union-attr]
        except RuntimeError as exc:  # closed under our feet
            self.closed = True
            waiter.set_exception(RequestFailed(ErrorKind.RESET, str(exc)))
        return waiter

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, failure: RequestFailed) -> None:
        waiter = self._waiter
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(failure)

    def _parse(self) -> None:
        buffer = self._buffer
        if self._head is None:
            end = buffer.find(_CRLF2)
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise ValueError("response head too large")
                return
            self._read_head(bytes(buffer[:end]))
            self._body_start = end + 4
            if self._status in (204, 304) or 100 <= self._status < 200:
                self._length = 0
        if self._chunked:
            body = _dechunk(buffer, self._body_start)
            if body is not None:
                self._finish(body)
        elif self._length >= 0 and len(buffer) - self._body_start >= self._length:
            self._finish(bytes(buffer[self._body_start : self._body_start + self._length]))

    def _read_head(self, head: bytes) -> None:
        text = head.decode("latin-1")
        line_end = text.find("\r\n")
        status_line = text if line_end < 0 else text[:line_end]
        version, _, rest = status_line.partition(" ")
        if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
            raise ValueError(f"status line {status_line[:40]!r}")
        self._status = int(rest[:3])
        headers = self._head = Headers("" if line_end < 0 else text[line_end:])
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self._length = int(length) if length is not None and not self._chunked else -2
        connection = headers.get("connection", "").lower()
        self._closes = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")

    def _finish(self, body: bytes) -> None:
        waiter, self._waiter = self._waiter, None
        if self._closes or self._length == -2:
            self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(self._status, self._head, body))  # type: ignore[arg-type]


def _dechunk(buffer: bytearray, start: int) -> bytes | None:
    """The whole body of a chunked message, or None while incomplete."""
    body = bytearray()
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(bytes(buffer[position:line_end]).split(b";")[0].strip() or b"x", 16)
        position = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n", position)
            if trailer_end < 0:
                return None
            if trailer_end == position:
                return bytes(body)
            end = buffer.find(_CRLF2, position)  # trailers present
            return bytes(body) if end >= 0 else None
        if len(buffer) < position + size + 2:
            return None
        body += buffer[position : position + size]
        position += size + 2


class FastTransport:
    """A ``Transport`` over pooled keep-alive HTTP/1.1 connections to one target (use as ``async with``)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        max_connections: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.path.rstrip("/")
        # https: the one context for every connection (replay/tls.py); SNI and the host-name check use
        # self.host, which create_connection passes as server_hostname
        self.ssl = (ssl_context or client_context()) if url.scheme == "https" else None
        default_port = self.port == (443 if url.scheme == "https" else 80)
        self.host_header = (self.host if default_port else f"{self.host}:{self.port}").encode("ascii")
        self.timeout_s = timeout_s
        self.max_connections = max_connections
        self._idle: deque[_Connection] = deque()
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tls_warned = False

    async def __aenter__(self) -> FastTransport:
        self._loop = asyncio.get_running_loop()
        if self.max_connections:
            self._slots = asyncio.Semaphore(self.max_connections)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().abort()

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    async def send(self, request: Request) -> Response:
        if self._slots is None:
            return await self._send(request)
        async with self._slots:
            return await self._send(request)

    async def _send(self, request: Request) -> Response:
        payload = self._encode(request)
        connection, reused = await self._connection()
        loop = self._loop
        assert loop is not None
        future = connection.exchange(payload)
        timer = loop.call_later(self.timeout_s, _expire, future, connection) if self.timeout_s > 0 else None
        try:
            response = await future
        except RequestFailed as failure:
            if reused and failure.kind is ErrorKind.RESET and not connection.got_bytes:
                # the server had closed this idle connection: what every keep-alive client retries once
                if timer is not None:
                    timer.cancel()
                return await self._retry_fresh(payload)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if not connection.closed:
            self._idle.append(connection)
        return response

    async def _retry_fresh(self, payload: bytes) -> Response:
        connection = await self._connect()
        future = connection.exchange(payload)
        timer = self._loop.call_later(self.timeout_s, _expire, future, connection)  # type: ignore[union-attr]
        try:
            response = await future
        finally:
            timer.cancel()
        if not connection.closed:
            self._idle.append(connection)
        return response

    async def _connection(self) -> tuple[_Connection, bool]:
        idle = self._idle
        while idle:
            connection = idle.pop()
            if not connection.closed and not connection.transport.is_closing():  # type: ignore[union-attr]
                return connection, True
        return await self._connect(), False

    async def _connect(self) -> _Connection:
        loop = self._loop
        assert loop is not None
        try:
            async with asyncio.timeout(self.timeout_s if self.timeout_s > 0 else None):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop), self.host, self.port, ssl=self.ssl
                )
        except TimeoutError:
            raise RequestFailed(ErrorKind.TIMEOUT, f"connect to {self.host}:{self.port} timed out") from None
        except ssl.SSLError as exc:  # before OSError, its base: a bad certificate or a failed handshake
            detail = f"{self.host}:{self.port}: {_tls_reason(exc)}"
            if not self._tls_warned:
                self._tls_warned = True
                warn_failure(detail, certificate=isinstance(exc, ssl.SSLCertVerificationError))
            raise RequestFailed(ErrorKind.TLS, detail) from None
        except OSError as exc:
            raise RequestFailed(
                ErrorKind.CONNECT, f"{self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        return connection

    def _encode(self, request: Request) -> bytes:
        path = self.prefix + request.path
        if request.params:
            path += ("&" if "?" in path else "?") + urlencode(request.params)
        body = request.data
        content_type = None
        if request.json is not None:
            body = jsonlib.dumps(request.json, separators=(",", ":")).encode()
            content_type = "application/json"
        lines = [
            f"{request.method} {path} HTTP/1.1".encode("latin-1"),
            b"Host: " + self.host_header,
            b"User-Agent: tracereplay",
        ]
        headers = request.headers
        if headers:
            for name, value in headers.items():
                lines.append(f"{name}: {value}".encode("latin-1"))
            if content_type and any(n.lower() == "content-type" for n in headers):
                content_type = None
        if content_type:
            lines.append(b"Content-Type: " + content_type.encode())
        if body is not None:
            lines.append(b"Content-Length: %d" % len(body))
        elif request.method in ("POST", "PUT", "PATCH"):
            lines.append(b"Content-Length: 0")
        head = b"\r\n".join(lines) + _CRLF2
        return head + body if body else head


def _expire(future: asyncio.Future, connection: _Connection) -> None:
    if not future.done():
        connection.abort()
        future.set_exception(RequestFailed(ErrorKind.TIMEOUT, "no complete answer in time"))


def _tls_reason(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    return f"TLS handshake failed: {exc.reason or exc}"
