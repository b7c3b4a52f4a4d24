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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

from multidict import CIMultiDict, CIMultiDictProxy

#: Response headers: case-insensitive, repeated fields kept in order (``getall("Set-Cookie")``).
Headers = CIMultiDictProxy[str]


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
                self._decoded = jsonlib.loads(self.body)
            except ValueError:
                self._decoded = None
        return self._decoded

    @property
    def is_json(self) -> bool:
        return "json" in self.headers.get("Content-Type", "")


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
    """The lifecycle both transports share: ``async with`` opens nothing eagerly and closes everything."""

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
