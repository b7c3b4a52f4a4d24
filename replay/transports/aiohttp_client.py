"""``AiohttpTransport``: the same seam over aiohttp's client, one shared ``ClientSession`` per worker.

Connections are pooled across users (a user in think time holds no connection and no session); cookies are
per user (kept in the user's store, never in a shared jar). The request is the one ``wire.prepare`` builds
for :class:`FastTransport` — same target, same headers, no automatic ``Accept``/``Accept-Encoding``/
``Content-Type`` and no decompression — and the body is read up to ``max_body_bytes`` and counted past it,
so both transports answer alike (``docs/http.md``: where RFC 9112 lets them differ, and how they do).
"""

from __future__ import annotations

import asyncio
import errno

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from tracereplay.replay.tls import client_context, warn_failure
from tracereplay.replay.transports.base import (
    BaseTransport,
    ErrorKind,
    Request,
    RequestFailed,
    Response,
    describe,
)
from tracereplay.replay.transports.fast import MAX_HEAD
from tracereplay.replay.transports.wire import prepare

#: headers aiohttp would add on its own: wire.prepare decides every header instead
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
_CHUNK = 64 * 1024


class AiohttpTransport(BaseTransport):
    """A ``Transport`` over one shared ``aiohttp.ClientSession`` (use as ``async with``)."""

    def _init(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._tls_warned = False
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        """The session, made on first use (it needs a running loop)."""
        if self._closed:
            raise RequestFailed(ErrorKind.RESET, "the transport is closed")
        if self._session is None:
            settings = self.settings
            # the same context as FastTransport (replay/tls.py): verification on unless asked otherwise; an
            # http target has no use for one
            https = self.origin.scheme == "https"
            connector = aiohttp.TCPConnector(
                limit=settings.max_connections,
                ttl_dns_cache=300,
                ssl=self.ssl_context or (client_context() if https else True),
                force_close=not settings.keep_alive,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # cookies are per user, in the user's store
                auto_decompress=False,
                skip_auto_headers=_NO_AUTO_HEADERS,
                # the same head limit as FastTransport's, rather than aiohttp's 8 KiB a line
                max_line_size=MAX_HEAD,
                max_field_size=MAX_HEAD,
            )
        return self._session

    async def aclose(self) -> None:
        """Close the session and every connection it holds; later sends fail."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _timeout(self, limit: float | None) -> aiohttp.ClientTimeout:
        try:
            return self._timeouts[limit]
        except KeyError:
            made = aiohttp.ClientTimeout(total=limit, sock_connect=self.settings.connect_timeout)
            if len(self._timeouts) < 64:  # per-action timeouts are few; never grow without bound
                self._timeouts[limit] = made
            return made

    async def send(self, request: Request, *, timeout: float | None = None) -> Response:
        session = self._open()
        prepared = prepare(request, self.origin, keep_alive=self.settings.keep_alive)
        limit = self.settings.request_timeout if timeout is None else timeout
        try:
            async with session.request(
                prepared.method,
                URL(self.origin.url + prepared.target, encoded=True),
                headers=CIMultiDict(prepared.headers),
                data=prepared.body,
                allow_redirects=False,
                timeout=self._timeout(limit if limit is not None and limit > 0 else None),
            ) as response:
                if response.status < 200:  # 101: we never ask to switch protocols (1xx are skipped)
                    response.close()
                    raise RequestFailed(ErrorKind.PROTOCOL, "the server switched protocols unasked")
                body, size = await self._read(response)
                return Response(response.status, response.headers, body, size)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            kind = classify(exc)
            if kind is ErrorKind.TLS and not self._tls_warned:
                self._tls_warned = True
                certificate = isinstance(exc, aiohttp.ClientConnectorCertificateError)
                warn_failure(describe(exc), certificate=certificate)
            raise RequestFailed(kind, describe(exc)) from None

    async def _read(self, response: aiohttp.ClientResponse) -> tuple[bytes, int]:
        """The body up to ``max_body_bytes``, and how many bytes it had."""
        limit = self.settings.max_body_bytes
        length = response.content_length
        if length is not None and length <= limit:
            body = await response.read()
            return body, len(body)
        parts: list[bytes] = []
        kept = size = 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if kept < limit:
                part = chunk[: limit - kept]
                parts.append(part)
                kept += len(part)
        return b"".join(parts), size


def classify(exc: BaseException) -> ErrorKind:
    """Map an aiohttp exception to the kind of failure it means."""
    if isinstance(exc, aiohttp.ClientSSLError):  # a ClientConnectorError too: check it first
        return ErrorKind.TLS
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ErrorKind.CONNECT
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return ErrorKind.TIMEOUT
    if isinstance(exc, aiohttp.ClientPayloadError):
        # a body cut short by a close is a reset; a body that is not valid HTTP a protocol error
        return (
            ErrorKind.RESET
            if str(exc).startswith("Response payload is not completed")
            else ErrorKind.PROTOCOL
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ErrorKind.RESET
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.InvalidURL):
        return ErrorKind.PROTOCOL
    if isinstance(exc, ConnectionResetError | BrokenPipeError | aiohttp.ClientOSError):
        code = getattr(exc, "errno", None)
        if code in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH):
            return ErrorKind.CONNECT
        return ErrorKind.RESET
    return ErrorKind.PROTOCOL
