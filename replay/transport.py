"""The one narrow seam between a simulated user and the network: ``async def send(request) -> response``.

Like httpx's transports, a ``Transport`` knows nothing of users, actions or recording, so a controller or an
action pack can be tested with a fake transport, and the HTTP layer can be swapped without touching behaviour.

``AiohttpTransport`` sends over ONE shared ``aiohttp.ClientSession`` per worker process: connections are
pooled across users (a user in think time holds no connection and no session), cookies are per user (kept in
the user's store, never in a shared jar). Failures are raised as :class:`RequestFailed` with an
:class:`ErrorKind`; the ``User`` records them, they are never fatal to a run.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import json as jsonlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from tracereplay.replay.tls import client_context, warn_failure


class ErrorKind(enum.Enum):
    """Why a request failed, as recorded in the ``error_kind`` column."""

    CONNECT = "connect"  # could not open a connection (refused, unreachable, DNS)
    TIMEOUT = "timeout"  # no complete answer within the per-request timeout
    RESET = "reset"  # the connection was closed or reset while we waited for the answer
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    PROTOCOL = "protocol"  # not a valid HTTP answer, or the request could not be built
    TLS = "tls"  # https: the certificate did not verify, or the TLS handshake failed


@dataclass(slots=True)
class Request:
    """One HTTP request, with the path relative to the target."""

    method: str
    path: str
    headers: dict[str, str] | None = None
    json: Any = None
    params: Mapping[str, str] | None = None
    data: bytes | None = None


@dataclass(slots=True)
class Response:
    """A complete answer: status, headers and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes = b""
    _decoded: Any = field(default=None, repr=False)

    def json(self) -> Any:
        """The body decoded as JSON (None when empty or not JSON)."""
        if self._decoded is None and self.body:
            try:
                self._decoded = jsonlib.loads(self.body)
            except ValueError:
                self._decoded = None
        return self._decoded

    @property
    def is_json(self) -> bool:
        return "json" in self.headers.get("Content-Type", "")


class RequestFailed(Exception):
    """A request that got no usable HTTP answer."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind
        self.detail = detail


class Transport(Protocol):
    """Sends one request and returns the complete response, or raises :class:`RequestFailed`."""

    async def send(self, request: Request) -> Response: ...


class AiohttpTransport:
    """A ``Transport`` over one shared ``aiohttp.ClientSession`` (use as ``async with``)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        max_connections: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_connections = max_connections
        self.ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._tls_warned = False

    async def __aenter__(self) -> AiohttpTransport:
        # the same context as FastTransport (replay/tls.py): verification on unless asked otherwise
        context = self.ssl_context or client_context()
        connector = aiohttp.TCPConnector(limit=self.max_connections, ttl_dns_cache=300, ssl=context)
        self._session = aiohttp.ClientSession(
            base_url=self.base_url,
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s if self.timeout_s > 0 else None),
            cookie_jar=aiohttp.DummyCookieJar(),  # cookies are per user, in the user's store
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
            headers={"User-Agent": "tracereplay"},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, request: Request) -> Response:
        session = self._session
        if session is None:
            raise RuntimeError("AiohttpTransport used outside 'async with'")
        try:
            async with session.request(
                request.method,
                request.path,
                headers=request.headers,
                json=request.json,
                data=request.data,
                params=request.params,
                allow_redirects=False,
            ) as response:
                body = await response.read()
                return Response(response.status, response.headers, body)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            kind = classify(exc)
            if kind is ErrorKind.TLS and not self._tls_warned:
                self._tls_warned = True
                certificate = isinstance(exc, aiohttp.ClientConnectorCertificateError)
                warn_failure(_describe(exc), certificate=certificate)
            raise RequestFailed(kind, _describe(exc)) from None


def classify(exc: BaseException) -> ErrorKind:
    """Map a client-side exception to the kind of failure it means."""
    if isinstance(exc, aiohttp.ClientSSLError):  # a ClientConnectorError too: check it first
        return ErrorKind.TLS
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ErrorKind.CONNECT
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return ErrorKind.TIMEOUT
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return ErrorKind.RESET
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.InvalidURL):
        return ErrorKind.PROTOCOL
    if isinstance(exc, ConnectionResetError | BrokenPipeError | aiohttp.ClientOSError):
        code = getattr(exc, "errno", None)
        if code in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH):
            return ErrorKind.CONNECT
        return ErrorKind.RESET
    return ErrorKind.PROTOCOL


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
