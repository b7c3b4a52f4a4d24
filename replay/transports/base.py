"""The one narrow seam between a simulated user and the network: ``await transport.send(request)``.

Like httpx's transports, a :class:`Transport` knows nothing of users, actions or recording, so a controller
or an action pack can be tested with a fake transport, and the HTTP client can be swapped without touching
behaviour. A transport is an async context manager (``async with``); ``aclose()`` closes every connection it
opened, idle or in flight. Failures are raised as :class:`RequestFailed` with an :class:`ErrorKind`; the
``User`` records them, they are never fatal to a run.
"""

from __future__ import annotations

import enum
import json as jsonlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, Self
from urllib.parse import urlsplit

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from tracereplay.replay.transports.settings import TransportSettings

#: Response headers: case-insensitive, repeated fields kept in order (``getall("Set-Cookie")``).
Headers = CIMultiDictProxy[str]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where requests go: scheme, host, port, a path prefix, and the ``Host`` header naming them."""

    scheme: str
    host: str
    port: int
    prefix: str  # the target URL's path, without the trailing "/" ("" for none)
    host_header: str

    @classmethod
    def parse(cls, base_url: str) -> Origin:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        default = 443 if url.scheme == "https" else 80
        port = url.port or default
        name = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
        host_header = name if port == default else f"{name}:{port}"
        return cls(url.scheme, url.hostname, port, url.path.rstrip("/"), host_header)

    @property
    def url(self) -> str:
        """``scheme://host:port`` (no path)."""
        name = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{name}:{self.port}"


class ErrorKind(enum.Enum):
    """Why a request failed, as recorded in the ``error_kind`` column."""

    CONNECT = "connect"  # could not open a connection (refused, unreachable, DNS)
    TIMEOUT = "timeout"  # no complete answer within the per-request timeout (or no connection in time)
    RESET = "reset"  # the connection was closed or reset while we waited for the answer
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    PROTOCOL = "protocol"  # not a valid HTTP answer, or the request could not be built (never sent)
    TLS = "tls"  # https: the certificate did not verify, or the TLS handshake failed


@dataclass(slots=True)
class Request:
    """One HTTP request, with the path relative to the target (``docs/http.md``: how it goes on the wire)."""

    method: str
    path: str
    headers: Mapping[str, str] | None = None
    json: Any = None
    params: Mapping[str, str] | None = None
    data: bytes | None = None


@dataclass(slots=True)
class Response:
    """A complete answer: status, headers and the body, kept up to the transport's ``max_body_bytes``.

    ``size`` is every body byte received (after de-chunking), including those discarded past the limit:
    what the recorder counts. ``truncated`` says the body was cut at the limit.
    """

    status: int
    headers: Headers
    body: bytes = b""
    size: int = -1  # -1: len(body)
    _decoded: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.size < 0:
            self.size = len(self.body)
        if not isinstance(self.headers, CIMultiDictProxy):  # a plain mapping (fake transports, tests)
            self.headers = CIMultiDictProxy(CIMultiDict(self.headers))

    @property
    def truncated(self) -> bool:
        return self.size > len(self.body)

    def json(self) -> Any:
        """The body decoded as JSON (None when empty, cut at the limit, or not JSON)."""
        if self._decoded is None and self.body and not self.truncated:
            try:
                self._decoded = decode_json(self.body)
            except ValueError:
                self._decoded = None
        return self._decoded

    @property
    def is_json(self) -> bool:
        return "json" in self.headers.get("Content-Type", "")


#: digits → "0", every other byte → " ": an integer literal of 20 digits or more shows as a run of 20 "0"
_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_NUMBER = b"0" * 20


def decode_json(data: bytes) -> Any:
    """``json.loads(data)``, with orjson where it gives the same value (~5× faster: every answer of a run
    is decoded for ids); raises ``ValueError`` for what is not JSON.

    orjson reads an integer past 64 bits as a float (an id would change), so a body with a 20-digit run
    goes to the standard library, and so does what orjson refuses and it reads (``NaN``, ``1E400``, a BOM,
    UTF-16): the same value either way."""
    if _LONG_NUMBER not in data.translate(_DIGITS):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return jsonlib.loads(data)


class RequestFailed(Exception):
    """A request that got no usable HTTP answer (or could not be sent: ``PROTOCOL``, with the reason)."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind
        self.detail = detail


class Transport(Protocol):
    """Sends one request and returns the complete response, or raises :class:`RequestFailed`.

    ``timeout`` (seconds) bounds this request, connecting included; None: the transport's
    ``request_timeout``. Use as ``async with``; ``aclose()`` aborts whatever is still open."""

    async def send(self, request: Request, *, timeout: float | None = None) -> Response: ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...


class BaseTransport:
    """What both transports share: the target, the settings, the TLS context, and the lifecycle (``async
    with`` opens nothing eagerly and closes everything)."""

    def __init__(
        self,
        base_url: str,
        settings: TransportSettings | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.origin = Origin.parse(base_url)
        self.settings = settings or TransportSettings()
        self.ssl_context = ssl_context  # None: replay/tls.py's default context (verification on)
        self._init()

    def _init(self) -> None:
        """A transport's own state (its pool, its session), set up once the common part is."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:  # pragma: no cover - every transport overrides it
        raise NotImplementedError


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception, for a failure's detail."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
