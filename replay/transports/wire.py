"""Requests as they go on the wire: validated, percent-encoded, with one header per name.

Both transports send what :func:`prepare` builds, so they put the same bytes on the wire (``docs/http.md``):

- **Nothing unsafe is sent.** CR, LF or NUL in the method, the path, a header name or a header value, a
  method or header name that is not an RFC 9110 token, a ``Content-Length`` that disagrees with the body or
  a ``Transfer-Encoding`` (bodies go with a length) make the request a ``protocol`` failure with the reason;
  no byte of it is sent. A CR/LF in a header value is how a second request is smuggled.
- **Paths are percent-encoded as UTF-8.** Every character outside RFC 3986's unreserved and sub-delims and
  ``: @ / ?`` is UTF-8 encoded and each byte written ``%XX``; a ``%`` followed by two hex digits is kept
  (the path is already encoded there), any other ``%`` becomes ``%25``; ``#`` is data (``%23``), since a
  fragment is never sent. ``params`` are form-encoded (``urlencode``) after ``?`` (or ``&``).
- **The user's headers replace the defaults**, compared without case (``host`` replaces ``Host``): defaults
  are ``Host``, ``User-Agent: tracereplay``, ``Content-Type: application/json`` for a JSON body,
  ``Content-Length`` for a body (and ``0`` for a POST, PUT or PATCH without one) and ``Connection: close``
  when keep-alive is off. Two user headers that differ only in case: the last one is sent. No name is ever
  sent twice. No compression is asked for and none is decoded.
"""

from __future__ import annotations

import json as jsonlib
import re
from typing import NoReturn
from urllib.parse import quote, urlencode

from tracereplay.replay.transports.base import ErrorKind, Origin, Request, RequestFailed

#: RFC 9110 token: a method or a header name.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_UNSAFE = re.compile(r"[\r\n\x00]")
#: a request target that may need no encoding: allowed characters only (then each % must start an escape)
_PLAIN_TARGET = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PATH_SAFE = "-._~!$&'()*+,;=:@/?%"
_KNOWN_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"))
_EMPTY_BODY_LENGTH = frozenset(("POST", "PUT", "PATCH"))  # a length even without a body (RFC 9110 8.6)
_USER_AGENT = ("User-Agent", "tracereplay")
_CHECKED = frozenset(("content-length", "transfer-encoding"))
#: header names already found to be tokens (validating a name once is enough)
_GOOD_NAMES: set[str] = set()
#: RFC 9110 9.2.2: a request the client may send again after a connection closed under it
IDEMPOTENT = frozenset(("GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"))


class Prepared:
    """A request ready for the wire: origin-form target, the headers in order, the body.

    (A plain class: one is made per request, and a frozen dataclass costs several times more to build.)"""

    __slots__ = ("body", "close", "headers", "method", "target")

    def __init__(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes | None, close: bool
    ) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.close = close  # the request asks the server to close the connection after answering

    def encode(self) -> bytes:
        """The request's bytes (HTTP/1.1): request line, headers, blank line, body."""
        lines = [f"{self.method} {self.target} HTTP/1.1"]
        lines.extend([f"{name}: {value}" for name, value in self.headers])
        lines.append("\r\n")
        data = "\r\n".join(lines).encode()
        return data + self.body if self.body else data


def prepare(request: Request, origin: Origin, *, keep_alive: bool = True) -> Prepared:
    """Validate and encode ``request`` for ``origin``; a request that cannot be sent safely raises
    ``RequestFailed(PROTOCOL, why)``."""
    method = request.method
    if method not in _KNOWN_METHODS and not _TOKEN.fullmatch(method):
        _refuse(f"method {method!r} is not an HTTP token")
    path = request.path
    params = request.params
    # the common case, a path with nothing to encode, costs one regular-expression match
    if (
        params
        or path[:1] != "/"
        or not _PLAIN_TARGET.fullmatch(path)
        or ("%" in path and _LONE_PERCENT.search(path))
    ):
        path = encode_target(path, params)
    target = origin.prefix + path if origin.prefix else path
    body = request.data
    headers: dict[str, tuple[str, str]] = {"host": ("Host", origin.host_header), "user-agent": _USER_AGENT}
    if request.json is not None:
        body = jsonlib.dumps(request.json, separators=(",", ":")).encode()
        headers["content-type"] = ("Content-Type", "application/json")
    if body is not None or method in _EMPTY_BODY_LENGTH:
        headers["content-length"] = ("Content-Length", str(len(body or b"")))
    if not keep_alive:
        headers["connection"] = ("Connection", "close")
    if request.headers:
        for name, value in request.headers.items():
            if name not in _GOOD_NAMES:
                if not _TOKEN.fullmatch(name):
                    _refuse(f"header name {name!r} is not an HTTP token")
                if len(_GOOD_NAMES) < 4096:  # names are few; a bound all the same
                    _GOOD_NAMES.add(name)
            if not isinstance(value, str):
                value = str(value)
            if "\r" in value or "\n" in value or "\x00" in value:
                _refuse(f"header {name} has CR, LF or NUL in its value")
            lower = name.lower()
            if lower in _CHECKED:
                if lower == "transfer-encoding":
                    _refuse("header Transfer-Encoding is not supported (bodies are sent with a length)")
                if value.strip() != str(len(body or b"")):
                    size = len(body or b"")
                    _refuse(f"header Content-Length: {value} disagrees with the body ({size} bytes)")
            headers[lower] = (name, value)
    connection = headers.get("connection")
    close = connection is not None and "close" in connection[1].lower()
    return Prepared(method, target, list(headers.values()), body, close)


def encode_target(path: str, params: object = None) -> str:
    """The origin-form request target of ``path`` and ``params`` (the module doc has the rule)."""
    if _UNSAFE.search(path):
        _refuse("the path has CR, LF or NUL in it")
    if not path.startswith("/"):
        path = "/" + path
    if not _PLAIN_TARGET.fullmatch(path) or _LONE_PERCENT.search(path):
        path = quote(_LONE_PERCENT.sub("%25", path), safe=_PATH_SAFE, encoding="utf-8")
    if params:
        path += ("&" if "?" in path else "?") + urlencode(params)  # type: ignore[arg-type]
    return path


def _refuse(why: str) -> NoReturn:
    raise RequestFailed(ErrorKind.PROTOCOL, f"request not sent: {why}")
