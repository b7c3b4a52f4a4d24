"""Access-log layouts: an nginx ``log_format`` or Apache ``LogFormat`` string compiled once into a program.

A :class:`LogLayout` is a small program for the line scanner (``ingest/native/scan_log.c``, or its Python
twin in :mod:`tracereplay.ingest.readers.accesslog`) plus the name of each field it keeps. Literal text must
match exactly; a variable becomes a field that runs to the first byte of the literal text after it (as nginx
and Apache write them: fields are separated by literal text), and a field between ``"`` and ``"`` runs to
the next unescaped quote. A field the model needs gets a canonical name:

| name | nginx | Apache |
|---|---|---|
| client | ``$remote_addr``, ``$realip_remote_addr`` | ``%h``, ``%a``, ``%{c}a`` |
| remote_user | ``$remote_user`` | ``%u`` |
| time | ``$time_local``, ``$time_iso8601``, ``$msec`` | ``%t``, ``%{sec}t``, ``%{msec}t``, ``%{usec}t`` |
| request | ``$request`` | ``%r`` |
| method, path, query | ``$request_method``, ``$uri``, ``$args`` | ``%m``, ``%U``, ``%q`` |
| target (path?query), protocol | ``$request_uri``, ``$server_protocol`` | —, ``%H`` |
| status | ``$status`` | ``%s``, ``%>s`` |
| referer, agent | ``$http_referer``, ``$http_user_agent`` | ``%{Referer}i``, ``%{User-Agent}i`` |
| duration (→ ms) | ``$request_time`` (s) | ``%D`` (µs), ``%T`` (s), ``%{ms}T``, ``%{us}T`` |
| upstream_duration (→ ms) | ``$upstream_response_time`` (s) | — |

Other variables keep their name: ``$cookie_sid`` and ``%{sid}C`` are both ``cookie_sid``, request headers are
``http_<name>`` (lower case, ``-`` → ``_``), the rest ``$name`` → ``name``, ``%v`` → ``apache_v``. Those
names are what ``--user-key`` picks from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tracereplay.errors import ConfigError

#: time field encodings
TIME_CLF, TIME_ISO, TIME_EPOCH_S, TIME_EPOCH_MS, TIME_EPOCH_US = "clf", "iso8601", "s", "ms", "us"
#: scanner operations and field kinds (mirrored in scan_log.c)
OP_LIT, OP_FIELD, OP_OPT, OP_END = 1, 2, 3, 4
PLAIN, QUOTED = 0, 1
#: the slot of a field that is only skipped
SKIP = 255

_NGINX_NAMES = {
    "remote_addr": "client", "realip_remote_addr": "client", "remote_user": "remote_user",
    "time_local": "time", "time_iso8601": "time", "msec": "time",
    "request": "request", "request_method": "method", "uri": "path", "document_uri": "path",
    "request_uri": "target", "args": "query", "query_string": "query", "server_protocol": "protocol",
    "status": "status", "http_referer": "referer", "http_user_agent": "agent",
    "request_time": "duration", "upstream_response_time": "upstream_duration",
}
_NGINX_TIME = {"time_local": TIME_CLF, "time_iso8601": TIME_ISO, "msec": TIME_EPOCH_S}
#: nginx durations are seconds with millisecond resolution (×1000 → ms)
_NGINX_SCALE = {"request_time": 1000.0, "upstream_response_time": 1000.0}

_APACHE_NAMES = {
    "h": "client", "a": "client", "u": "remote_user", "l": "ident", "t": "time", "r": "request",
    "m": "method", "U": "path", "q": "query", "H": "protocol", "s": "status",
    "b": "bytes", "B": "bytes", "O": "bytes_out", "I": "bytes_in", "S": "bytes_total",
}
_APACHE_T_SCALE = {None: 1000.0, "s": 1000.0, "ms": 1.0, "us": 1e-3}
_APACHE_TIME = {None: TIME_CLF, "sec": TIME_EPOCH_S, "msec": TIME_EPOCH_MS, "usec": TIME_EPOCH_US}

_NGINX_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_APACHE_DIRECTIVE = re.compile(r"%([<>]?)(?:!?\d+(?:,\d+)*)?(?:\{([^}]*)\})?([<>]?)([a-zA-Z%])")
@dataclass(frozen=True)
class LogLayout:
    """A compiled line layout: ``program`` for the scanner; field slot i is ``fields[i]``."""

    program: bytes
    fields: tuple[str, ...]
    #: how the ``time`` field is written
    time_kind: str = TIME_CLF
    #: ms per unit of the ``duration`` / ``upstream_duration`` fields
    duration_scale: float = 1.0
    upstream_scale: float = 1.0
    #: the logged time is when the response ended (nginx), not when the request came in (Apache)
    time_is_end: bool = False
    #: the source text, for messages
    text: str = "combined"

    def field(self, name: str) -> int | None:
        """The slot of a field, or None."""
        return self.fields.index(name) if name in self.fields else None


class _Program:
    """Assembles scanner operations (little-endian u16 lengths and jump targets)."""

    def __init__(self) -> None:
        self.code = bytearray()
        self.fields: list[str] = []
        self._pending: list[int] = []

    def lit(self, text: str) -> None:
        if text:
            data = text.encode()
            self.code += bytes([OP_LIT]) + len(data).to_bytes(2, "little") + data

    def field(self, name: str, kind: int, stop: str) -> None:
        if name in self.fields:  # written twice: the first one counts, the second is only skipped
            slot = SKIP
        else:
            slot = len(self.fields)
            self.fields.append(name)
        self.code += bytes([OP_FIELD, slot, kind, ord(stop) if stop else 0])

    def optional(self, text: str) -> None:
        """Take ``text`` if the line continues with it, else jump to the next :meth:`label`."""
        data = text.encode()
        self.code += bytes([OP_OPT]) + len(data).to_bytes(2, "little") + data
        self._pending.append(len(self.code))
        self.code += b"\0\0"

    def label(self) -> None:
        at = self._pending.pop()
        self.code[at:at + 2] = len(self.code).to_bytes(2, "little")

    def end(self) -> bytes:
        self.code.append(OP_END)
        return bytes(self.code)


#: Common Log Format: (field, kind, stop byte, literal text after it)
_COMBINED = (("client", PLAIN, " ", " "), ("ident", PLAIN, " ", " "), ("remote_user", PLAIN, " ", " ["),
             ("time", PLAIN, "]", '] "'), ("request", QUOTED, '"', '" '), ("status", PLAIN, " ", " "),
             ("bytes", PLAIN, " ", ""))


def combined_layout() -> LogLayout:
    """Common or Combined Log Format with optional trailing fields (the layout without ``--log-format``).

    ``client ident user [time] "request" status bytes``, then optionally ``"referer" "agent"``, then
    optionally anything (nginx ``"$http_x_forwarded_for"``, ``$request_time``, Apache ``%D`` …: read by
    :func:`tracereplay.ingest.readers.accesslog.trailing_duration_ms`).
    """
    p = _Program()
    for name, kind, stop, literal in _COMBINED:
        p.field(name, kind, stop)
        p.lit(literal)
    p.optional(' "')
    for name, literal in (("referer", '" "'), ("agent", '"')):
        p.field(name, QUOTED, '"')
        p.lit(literal)
    p.label()
    p.optional(" ")
    p.field("trailing", PLAIN, "")
    p.label()
    return LogLayout(program=p.end(), fields=tuple(p.fields))


def compile_log_format(text: str) -> LogLayout:
    """Compile an nginx ``log_format`` (``$var``) or an Apache ``LogFormat`` (``%x``) string.

    >>> compile_log_format('$remote_addr [$time_local] "$request" $status $request_time').fields
    ('client', 'time', 'request', 'status', 'duration')
    """
    body = _unwrap(text)
    nginx = bool(_NGINX_VAR.search(body))
    apache = bool(_APACHE_DIRECTIVE.search(body))
    if nginx == apache:
        raise ConfigError(f"--log-format {text!r}: neither an nginx log_format ($variables) nor an Apache "
                          "LogFormat (%directives)" if not nginx else
                          f"--log-format {text!r}: mixes nginx $variables and Apache %directives")
    parts = _nginx_parts(body) if nginx else _apache_parts(body)
    names = [p[0] for p in parts if isinstance(p, tuple)]
    if "time" not in names:
        raise ConfigError(f"--log-format {text!r}: has no time field ($time_local, $time_iso8601, $msec, %t)")
    if "request" not in names and "path" not in names and "target" not in names:
        raise ConfigError(f"--log-format {text!r}: has no request ($request, %r) or path ($uri, %U)")
    program, fields, extra = _assemble(parts)
    return LogLayout(program=program, fields=fields, text=text, time_is_end=nginx, **extra)


def _unwrap(text: str) -> str:
    """The format itself: nginx configs quote it in single quotes, Apache in double ones with \\" inside."""
    body = text.strip()
    if len(body) >= 2 and body[0] == body[-1] and body[0] in "'\"" and body.count(body[0]) == 2:
        body = body[1:-1]
    return body.replace('\\"', '"')


#: a parsed format: literal text, or (field name, options) for a variable
_Part = str | tuple[str, dict]


def _nginx_parts(body: str) -> list[_Part]:
    parts: list[_Part] = []
    at = 0
    for match in _NGINX_VAR.finditer(body):
        parts.append(body[at:match.start()])
        var = match.group(1) or match.group(2)
        name = _NGINX_NAMES.get(var, var)
        options: dict = {}
        if var in _NGINX_TIME:
            options["time_kind"] = _NGINX_TIME[var]
        if var in _NGINX_SCALE:
            options["scale"] = _NGINX_SCALE[var]
        parts.append((name, options))
        at = match.end()
    parts.append(body[at:])
    return parts


def _apache_parts(body: str) -> list[_Part]:
    parts: list[_Part] = []
    at = 0
    for match in _APACHE_DIRECTIVE.finditer(body):
        parts.append(body[at:match.start()])
        at = match.end()
        argument, letter = match.group(2), match.group(4)
        if letter == "%":
            parts.append("%")
            continue
        options: dict = {}
        if letter == "i" and argument:
            header = argument.lower().replace("-", "_")
            name = {"referer": "referer", "user_agent": "agent"}.get(header, f"http_{header}")
        elif letter == "C" and argument:
            name = f"cookie_{argument}"
        elif letter == "t":
            if argument not in _APACHE_TIME:
                raise ConfigError(f"LogFormat %{{{argument}}}t: only %t, %{{sec}}t, %{{msec}}t and "
                                  "%{usec}t times are read")
            if argument is None:  # %t writes [..] itself
                parts += ["[", ("time", {"time_kind": TIME_CLF}), "]"]
                continue
            name = "time"
            options["time_kind"] = _APACHE_TIME[argument]
        elif letter == "T":
            name = "duration"
            options["scale"] = _APACHE_T_SCALE.get(argument, 1000.0)
        elif letter == "D":
            name = "duration"
            options["scale"] = 1e-3  # microseconds
        else:
            name = _APACHE_NAMES.get(letter, f"apache_{letter}")
        parts.append((name, options))
    parts.append(body[at:])
    return parts


def _literal_at(parts: list[_Part], i: int) -> str:
    """The literal at ``parts[i]``; "" for a field or past either end."""
    part = parts[i] if 0 <= i < len(parts) else ""
    return part if isinstance(part, str) else ""


def _assemble(parts: list[_Part]) -> tuple[bytes, tuple[str, ...], dict]:
    """The scanner program of a parsed format, its field names, and the settings its fields imply."""
    merged: list[_Part] = []
    for part in parts:  # adjacent literals (from %% or %t's brackets) join
        if part == "":
            continue
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    program = _Program()
    extra: dict = {}
    for i, part in enumerate(merged):
        if isinstance(part, str):
            program.lit(part)
            continue
        name, options = part
        before, after = _literal_at(merged, i - 1), _literal_at(merged, i + 1)
        if i + 1 < len(merged) and not after:  # no byte to stop at between them
            raise ConfigError(f"log format: two fields ({name} and the next) with nothing between them")
        quoted = before.endswith('"') and after.startswith('"')
        first = name not in program.fields  # a field written twice is read from its first place
        program.field(name, QUOTED if quoted else PLAIN, after[:1])
        if not first:
            continue
        if "time_kind" in options and name == "time":
            extra["time_kind"] = options["time_kind"]
        if name == "duration":
            extra["duration_scale"] = options.get("scale", 1.0)
        if name == "upstream_duration":
            extra["upstream_scale"] = options.get("scale", 1.0)
    return program.end(), tuple(program.fields), extra
