"""``FastTransport``: a lean HTTP/1.1 keep-alive client for load generation, parsing with ``httptools``.

aiohttp's client is general and careful; per request it costs several times what a load generator can
afford (``benchmarks/replay_throughput.py``). This transport does only what replaying needs: one pool of
keep-alive connections to one target, at most one request in flight per connection, requests built by
``wire.prepare``, answers parsed by llhttp (the parser of Node.js and of aiohttp) inside an
``asyncio.Protocol``, and a per-request deadline kept by one timer per connection, re-armed only when it
fires early (arming and cancelling a timer per request cost more than the rest of ``send``).

**Writes are coalesced per turn of the event loop.** ``send`` queues the request's bytes and one callback
at the end of the turn writes every request the turn's users asked for, back to back. Written at once, each
request woke the server from its idle wait on its own (a wake-up crosses cores: ~5 µs of kernel time a
request on loopback); back to back, the server wakes once per turn and answers a batch, whose answers then
arrive together. The run's CPU per request fell by a fifth (``benchmarks/replay_cpu.py``). The wait this
adds is the rest of the turn, the same wait an answer that arrives during a busy turn already has, and it
is counted in the request's latency (its start is taken when the user asks to send), not hidden.

What llhttp leaves to its caller is done here (``docs/http.md`` has every rule):

- a HEAD answer ends at its head, whatever its ``Content-Length`` says (llhttp cannot know the method);
- interim answers (``100 Continue``, ``103 Early Hints``) are skipped: the final answer is the response;
- a body without a length ends when the server closes: it is finished in ``connection_lost``;
- bytes after a complete answer (a body on a 204, a second answer nobody asked for) close the connection
  instead of being taken as the next request's answer;
- a body is kept up to ``max_body_bytes`` and the rest counted and dropped, so memory stays bounded;
- a connection closed under a reused request is retried once on a new connection, for idempotent methods
  only (a POST may have been acted on); a cancelled send aborts its connection; ``aclose()`` aborts all.

The parser is as lenient as aiohttp's (obs-fold unfolded, a bare LF accepted, spaces after a chunk size)
and, as aiohttp does, refuses NUL in a header value; invalid or repeated ``Content-Length``, a bad chunk
size, ``Transfer-Encoding`` with ``Content-Length``: a ``protocol`` failure, and the connection is closed.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from tracereplay.replay.tls import client_context, warn_failure
from tracereplay.replay.transports.base import BaseTransport, ErrorKind, Request, RequestFailed, Response
from tracereplay.replay.transports.wire import IDEMPOTENT, prepare

#: A response head (status line and headers) larger than this is refused: a server streaming headers
#: forever must not grow our memory.
MAX_HEAD = 64 * 1024
#: How many header-less requests (method, path) keep their bytes: a run sends the same few hundred paths
#: over and over, so each is validated and encoded once. Bounded: emptied when full.
ENCODED_MAX = 4096
#: A deadline timer that fires this close to the deadline expires the request (the loop's clock has ~1 ms
#: of resolution), rather than being armed again.
_EARLY_S = 0.001


class _Stop(Exception):
    """Raised from a parser callback to stop parsing this buffer (the answer is complete or refused)."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request in flight, its answer parsed as bytes arrive."""

    __slots__ = (
        "_body",
        "_final",
        "_head",
        "_head_bytes",
        "_headers",
        "_keep_alive",
        "_kept",
        "_max_body",
        "_on_lost",
        "_parser",
        "_size",
        "_status",
        "_suspect",
        "_timer",
        "_timer_at",
        "closed",
        "deadline",
        "got_bytes",
        "sent",
        "transport",
        "waiter",
    )

    def __init__(self, max_body: int, on_lost) -> None:
        self._max_body = max_body
        self._on_lost = on_lost  # the pool forgets a closed connection
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Response] | None = None
        self.closed = False
        self.got_bytes = False
        self.sent = False  # the request in flight was written (see write)
        self.deadline: float | None = None  # of the request in flight (loop time); None: no limit
        self._timer: asyncio.TimerHandle | None = None  # armed at _timer_at, at most one per connection
        self._timer_at = 0.0
        self._parser = _parser(self)
        self._reset(head=False)

    def _reset(self, *, head: bool) -> None:
        self._head = head  # the request is a HEAD: the answer ends at its head
        self._headers: list[tuple[bytes, bytes]] = []  # as received; decoded once, when complete
        self._body: list[bytes] = []
        self._size = 0
        self._kept = 0
        self._status = 0
        self._final = False  # the message being parsed is the final answer (not 1xx)
        self._suspect = False  # a NUL byte arrived with the head: look for it in the headers
        self._keep_alive = False
        self._head_bytes = 0

    # ------------------------------------------------------------------ one exchange
    def start(
        self, loop: asyncio.AbstractEventLoop, *, head: bool, deadline: float | None
    ) -> asyncio.Future[Response]:
        """Expect an answer (the request's bytes go out with :meth:`write`)."""
        self.waiter = waiter = loop.create_future()
        self.got_bytes = False
        self.sent = False
        self._reset(head=head)
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            self.waiter = None
            waiter.set_exception(
                RequestFailed(ErrorKind.RESET, "connection closed before the request was sent")
            )
            return waiter
        self.deadline = deadline
        # the timer of an earlier request, still armed, fires first and re-arms for this one
        if deadline is not None and (self._timer is None or deadline < self._timer_at):
            self._arm(loop, deadline)
        return waiter

    def write(self, payload: bytes) -> None:
        """Send the request :meth:`start` expects an answer to, unless it ended meanwhile (cancelled, timed
        out, or the connection closing: ``connection_lost`` then fails it)."""
        transport = self.transport
        if self.waiter is None or self.closed or transport is None or transport.is_closing():
            return
        transport.write(payload)
        self.sent = True

    def _arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(at, self._on_timer, loop)
        self._timer_at = at

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        deadline = self.deadline
        if self.waiter is None or deadline is None:
            return  # idle, or a request without a limit: armed again by the next start
        if loop.time() < deadline - _EARLY_S:
            self._arm(loop, deadline)  # armed for an earlier request: now this one's deadline
        else:
            self.expire()

    def expire(self) -> None:
        """The request's deadline passed: fail it and drop the connection (its answer may still come)."""
        self.fail(ErrorKind.TIMEOUT, "no complete answer in time")

    def fail(self, kind: ErrorKind, detail: str) -> None:
        waiter, self.waiter = self.waiter, None
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(RequestFailed(kind, detail))

    def abort(self) -> None:
        self.closed = True
        self._disarm()
        if self.transport is not None:
            self.transport.abort()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ------------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._disarm()
        self._on_lost(self)
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self._final and not self._framed() and self._status not in (204, 304):
            self._complete()  # the body is delimited by the close (RFC 9112 6.3, rule 8)
        else:
            self.waiter = None
            reason = f"{exc}" if exc else "by the server"
            where = "in the answer's body" if self._final else "before an answer"
            waiter.set_exception(RequestFailed(ErrorKind.RESET, f"connection closed {where}: {reason}"))

    def eof_received(self) -> bool | None:
        self.closed = True  # the peer sends no more: not reusable (connection_lost follows)
        return None

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or not self.sent:
            # bytes nobody asked for (after an answer, or before the request went out: an idle connection's
            # "408" as we reused it): this connection cannot be trusted any more, and a request not yet
            # written is sent again on a new one
            self.abort()
            return
        self.got_bytes = True
        if not self._final:
            # the head's size and NUL bytes are checked per read, in C, not per header in Python
            self._head_bytes += len(data)
            if b"\x00" in data:
                self._suspect = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.fail(ErrorKind.PROTOCOL, "the server switched protocols unasked")
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _Stop):
                self.fail(ErrorKind.PROTOCOL, f"not a valid HTTP response: {exc.__context__ or exc}")
            elif self._head and self.waiter is None and not self.closed:
                # a HEAD answer ended at its head: a fresh parser for the next one, and any byte past the
                # head in this read (a body the server sent anyway) closes the connection
                self._parser = _parser(self)
                if not data.endswith(b"\r\n\r\n"):
                    self.abort()
        except httptools.HttpParserError as exc:
            self.fail(ErrorKind.PROTOCOL, f"not a valid HTTP response: {exc}")
        else:
            if not self._final and self.waiter is not None and self._head_bytes > MAX_HEAD:
                self.fail(ErrorKind.PROTOCOL, f"response head larger than {MAX_HEAD // 1024} KiB")

    # ------------------------------------------------------------------ httptools callbacks
    def on_message_begin(self) -> None:
        if self.waiter is None:  # a second answer after the complete one: leftover bytes
            self.abort()
            raise _Stop

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        headers = self._headers
        if self._head_bytes > MAX_HEAD and sum(len(n) + len(v) for n, v in headers) > MAX_HEAD:
            raise ValueError(f"response head larger than {MAX_HEAD // 1024} KiB")
        if self._suspect and any(b"\x00" in value for _, value in headers):
            raise ValueError("NUL in a header value")
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            if status == 101:  # we never ask to switch protocols
                self.fail(ErrorKind.PROTOCOL, "the server switched protocols unasked")
                raise _Stop
            self._headers = []  # an interim answer (100 Continue, 103 Early Hints): skipped
            self._head_bytes = 0
            return
        self._status = status
        self._final = True
        self._keep_alive = self._parser.should_keep_alive()
        if self._head:
            self._complete()
            raise _Stop

    def on_body(self, body: bytes) -> None:
        size = self._size
        self._size = size + len(body)
        room = self._max_body - size
        if room > 0:
            self._body.append(body if len(body) <= room else body[:room])

    def on_message_complete(self) -> None:
        if self._final:
            self._complete()

    def _complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        if not self._keep_alive:  # Connection: close, HTTP/1.0, or a body delimited by the close
            self.abort()
        if waiter is not None and not waiter.done():
            body = self._body
            data = body[0] if len(body) == 1 else b"".join(body)
            waiter.set_result(Response(self._status, _decode(self._headers), data, self._size))

    def _framed(self) -> bool:
        """The answer has a length (Content-Length or chunked): it does not end when the server closes."""
        for name, value in self._headers:
            lower = name.lower()
            if lower == b"content-length" or (lower == b"transfer-encoding" and b"chunked" in value.lower()):
                return True
        return False


def _decode(raw: list[tuple[bytes, bytes]]) -> CIMultiDictProxy[str]:
    """Headers as llhttp handed them over, decoded: names are tokens (ASCII), values are read as UTF-8 as
    aiohttp does, without the trailing spaces llhttp leaves (it drops the leading ones)."""
    items = [(n.decode("latin-1"), v.rstrip(b" \t").decode("utf-8", "surrogateescape")) for n, v in raw]
    return CIMultiDictProxy(
        CIMultiDict(items)
    )  # built from a list: several times faster than from a generator


def _parser(connection: _Connection) -> httptools.HttpResponseParser:
    parser = httptools.HttpResponseParser(connection)
    # as lenient as aiohttp's response parser, so both transports accept the same answers (docs/http.md)
    parser.set_dangerous_leniencies(
        lenient_headers=True, lenient_optional_cr_before_lf=True, lenient_spaces_after_chunk_size=True
    )
    return parser


class FastTransport(BaseTransport):
    """A ``Transport`` over pooled keep-alive HTTP/1.1 connections to one target (use as ``async with``)."""

    def _init(self) -> None:
        # https: one context for every connection (replay/tls.py); SNI and the host-name check use the
        # target's host, which create_connection passes as server_hostname
        self.ssl = (self.ssl_context or client_context()) if self.origin.scheme == "https" else None
        self._idle: deque[_Connection] = deque()
        self._open: set[_Connection] = set()  # every connection not yet lost, idle or in flight
        self._slots = (
            asyncio.Semaphore(self.settings.max_connections) if self.settings.max_connections else None
        )
        self._closed = False
        self._tls_warned = False
        self._encoded: dict[tuple[str, str], tuple[bytes, str, bool]] = {}  # header-less requests' bytes
        self._writes: list[tuple[_Connection, bytes]] = []  # this turn's requests, written at its end

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    @property
    def open_connections(self) -> int:
        return len(self._open)

    async def aclose(self) -> None:
        """Abort every connection, idle or in flight; later sends fail."""
        self._closed = True
        self._idle.clear()
        for connection in list(self._open):
            connection.abort()
        await asyncio.sleep(0)  # let the aborted transports call connection_lost

    async def send(self, request: Request, *, timeout: float | None = None) -> Response:
        if self._closed:
            raise RequestFailed(ErrorKind.RESET, "the transport is closed")
        payload, method, close = self._encode(request)
        loop = asyncio.get_running_loop()
        limit = self.settings.request_timeout if timeout is None else timeout
        deadline = loop.time() + limit if limit is not None and limit > 0 else None
        slots = self._slots
        if slots is not None:
            await _acquire(slots, deadline)
        # one coroutine per request (no inner one): the hot path of every simulated user
        try:
            idempotent, retry = method in IDEMPOTENT, True
            idle = self._idle
            while True:
                connection = None
                while idle:
                    candidate = idle.pop()
                    if not candidate.closed and not candidate.transport.is_closing():  # type: ignore[union-attr]
                        connection = candidate
                        break
                if connection is None:
                    connection = await self._connect(deadline, loop)
                future = connection.start(loop, head=method == "HEAD", deadline=deadline)
                if not future.done():
                    self._write_soon(connection, payload, loop)
                try:
                    response = await future
                    break
                except RequestFailed as failure:
                    resend = idempotent or not connection.sent  # a request never written is safe to send
                    if retry and resend and failure.kind is ErrorKind.RESET and not connection.got_bytes:
                        # closed before a byte of answer, most often an idle connection the server had timed
                        # out as we reused it: an idempotent request is sent once more, on a new connection
                        # (RFC 9112 9.3.1, as aiohttp does); a POST or PATCH may have been acted on: never,
                        # unless it was not written at all
                        retry = False
                        continue
                    raise
                except asyncio.CancelledError:
                    connection.abort()  # its answer, if any, would be taken as the next request's
                    raise
        finally:
            if slots is not None:
                slots.release()
        if close or not self.settings.keep_alive:
            connection.abort()
        elif not connection.closed and not self._closed:
            idle.append(connection)
        return response

    def _write_soon(self, connection: _Connection, payload: bytes, loop: asyncio.AbstractEventLoop) -> None:
        """Queue a request's bytes for the end of this turn of the loop (see the module's docstring)."""
        writes = self._writes
        writes.append((connection, payload))
        if len(writes) == 1:
            loop.call_soon(self._write_all)

    def _write_all(self) -> None:
        writes, self._writes = self._writes, []
        for connection, payload in writes:
            try:
                connection.write(payload)
            except Exception as exc:  # one broken socket fails its own request, not the turn's others
                connection.fail(ErrorKind.RESET, f"could not send the request: {exc!r}")

    def _encode(self, request: Request) -> tuple[bytes, str, bool]:
        """The request's bytes, method and whether it asks to close (``wire.prepare``; a request refused
        raises). Requests without headers, body or parameters are encoded once per (method, path)."""
        plain = request.headers is None and request.json is None and request.data is None
        if not plain or request.params:
            prepared = prepare(request, self.origin, keep_alive=self.settings.keep_alive)
            return prepared.encode(), prepared.method, prepared.close
        key = (request.method, request.path)
        encoded = self._encoded.get(key)
        if encoded is None:
            prepared = prepare(request, self.origin, keep_alive=self.settings.keep_alive)
            encoded = (prepared.encode(), prepared.method, prepared.close)
            if len(self._encoded) >= ENCODED_MAX:
                self._encoded.clear()
            self._encoded[key] = encoded
        return encoded

    async def _connect(self, deadline: float | None, loop: asyncio.AbstractEventLoop) -> _Connection:
        host, port = self.origin.host, self.origin.port
        connect_by = loop.time() + self.settings.connect_timeout
        cut = connect_by if deadline is None else min(connect_by, deadline)
        try:
            async with asyncio.timeout_at(cut):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self.settings.max_body_bytes, self._open.discard),
                    host,
                    port,
                    ssl=self.ssl,
                )
        except TimeoutError:
            what = "no answer in time" if cut == deadline else "connect timed out"
            raise RequestFailed(ErrorKind.TIMEOUT, f"{host}:{port}: {what}") from None
        except ssl.SSLError as exc:  # before OSError, its base: a bad certificate or a failed handshake
            detail = f"{host}:{port}: {_tls_reason(exc)}"
            if not self._tls_warned:
                self._tls_warned = True
                warn_failure(detail, certificate=isinstance(exc, ssl.SSLCertVerificationError))
            raise RequestFailed(ErrorKind.TLS, detail) from None
        except OSError as exc:
            raise RequestFailed(ErrorKind.CONNECT, f"{host}:{port}: {exc.strerror or exc}") from None
        if self._closed:  # closed while we connected
            connection.abort()
            raise RequestFailed(ErrorKind.RESET, "the transport is closed")
        self._open.add(connection)
        return connection


async def _acquire(slots: asyncio.Semaphore, deadline: float | None) -> None:
    """A connection slot (``max_connections``) by the request's deadline."""
    try:
        async with asyncio.timeout_at(deadline):
            await slots.acquire()
    except TimeoutError:
        raise RequestFailed(ErrorKind.TIMEOUT, "no free connection in time") from None


def _tls_reason(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    return f"TLS handshake failed: {exc.reason or exc}"
