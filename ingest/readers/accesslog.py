"""Web server access logs (Common / Combined Log Format, or a custom nginx / Apache layout) → events.

A compiled scanner (``ingest/native/scan_log.c``, :func:`scan_lines` is its Python twin when the extension
is missing) runs the layout's program (:mod:`tracereplay.ingest.logformat`) over blocks of whole lines and
interns every kept field into one pool per field for the file. Python then works per *distinct* value —
parsing a timestamp, splitting a request line, templating a path, telling a bot — and turns codes into
columns by numpy lookups. Memory is one block plus the distinct values (pools start afresh past
:data:`MAX_DISTINCT` values).

A line that does not fit the layout is never silently lost: it is counted in the ingest summary by reason
(``malformed: unterminated quote``, ``malformed: binary junk``, ``malformed: over-long line``,
``malformed: bad timestamp``, ``malformed: does not match the log format``) with the first line number of
each reason. A well-formed line without an HTTP request (nginx logs ``"-"`` or raw TLS bytes for 400/408
answers) is counted as ``no HTTP request line``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Generator, Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
from numpy.typing import DTypeLike

from tracereplay.ingest.bots import is_bot
from tracereplay.ingest.logformat import (
    OP_END,
    OP_FIELD,
    OP_LIT,
    OP_OPT,
    QUOTED,
    TIME_CLF,
    TIME_EPOCH_MS,
    TIME_EPOCH_S,
    TIME_EPOCH_US,
    LogLayout,
    combined_layout,
    compile_log_format,
)
from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import Coded, RawBatch
from tracereplay.ingest.readers.native import _native
from tracereplay.ingest.templating import template_path

SOURCE = "access-log"
#: bytes read from the stream at a time (a block is these plus the end of the line it cuts)
BLOCK_BYTES = 8 << 20
#: rows a batch holds at most
BATCH_ROWS = 1 << 17
#: a longer line is skipped (and counted): no server writes lines this long, a dump that does is hostile
MAX_LINE = 64 * 1024
#: distinct values a field's pool holds before it starts afresh (bounds memory on unique-per-line fields)
MAX_DISTINCT = 1 << 17

BOT = "bot (--exclude-bots)"
NO_REQUEST = "no HTTP request line"
MALFORMED = "malformed: "
#: scanner line statuses (mirrored in scan_log.c) → reasons
LINE_OK = 0
LINE_REASONS = {1: "unterminated quote", 2: "binary junk", 3: "over-long line",
                4: "does not match the log format"}
#: fields the event table uses; the others are only skipped over
_USED = frozenset({"client", "remote_user", "time", "request", "method", "path", "target", "status", "agent",
                   "duration", "upstream_duration", "trailing"})
_MONTHS = {m: i + 1 for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"))}
_EPOCH_UNIT_NS = {TIME_EPOCH_S: 1e9, TIME_EPOCH_MS: 1e6, TIME_EPOCH_US: 1e3}


def read(path: Path, stream: BinaryIO, options: IngestOptions) -> Generator[RawBatch, None, None]:
    """Batches of access-log rows; malformed lines counted by reason in each batch's ``dropped``."""
    layout = compile_log_format(options.log_format) if options.log_format else combined_layout()
    parser = LineParser(layout, options)
    for block, lines_before, skipped in line_blocks(stream):
        for line in skipped:
            parser.note(MALFORMED + LINE_REASONS[3], line)
        yield from parser.parse(block, lines_before)
    if parser.dropped:
        yield parser.flush()


def line_blocks(stream: BinaryIO, size: int = BLOCK_BYTES,
                max_line: int = MAX_LINE) -> Iterator[tuple[bytes, int, list[int]]]:
    """(block of whole lines, lines before it, line numbers of over-long lines skipped before it).

    Memory stays one read plus at most ``max_line`` bytes of a cut line: a line that grows past it is
    skipped to its newline without being kept.
    """
    tail = b""
    lines = 0
    skipping = False
    skipped: list[int] = []
    while chunk := stream.read(size):
        if skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                continue
            chunk, skipping = chunk[newline + 1:], False
            lines += 1
        data = tail + chunk if tail else chunk
        end = data.rfind(b"\n") + 1
        block, tail = data[:end], data[end:]
        if len(tail) > max_line:
            skipped.append(lines + block.count(b"\n") + 1)
            tail, skipping = b"", True
        if block:
            yield block, lines, skipped
            lines += block.count(b"\n")
            skipped = []
    if skipping:
        lines += 1
    if tail or skipped:
        yield (tail + b"\n" if tail else b""), lines, skipped


class _Pool(Protocol):
    """A field's distinct values and their codes: ``_native.Pool``, or :class:`_PyPool` without it."""

    @property
    def values(self) -> list[str]: ...

    def __len__(self) -> int: ...

    def intern(self, raw: bytes, /) -> int: ...


class _PyPool:
    """The Python stand-in for ``_native.Pool``: distinct byte strings → codes, ``values`` as str."""

    def __init__(self) -> None:
        self.index: dict[bytes, int] = {}
        self.values: list[str] = []

    def __len__(self) -> int:
        return len(self.values)

    def intern(self, raw: bytes) -> int:
        code = self.index.get(raw)
        if code is None:
            code = self.index[raw] = len(self.values)
            self.values.append(raw.decode("utf-8", "replace"))
        return code


def _new_pool() -> _Pool:
    return _native.Pool() if _native is not None else _PyPool()


class _Derived:
    """Something computed once per distinct value of a pool (a parsed time, a status …), as a numpy table
    that grows with the pool; ``lookup(codes)`` gives it per row, ``missing`` for code −1.

    ``many``, when given, computes a whole run of new values at once (vectorised) instead of ``function``.
    """

    def __init__(self, function: Callable[[str], float], dtype: DTypeLike, missing: float,
                 many: Callable[[list[str]], np.ndarray] | None = None) -> None:
        self.function, self.dtype, self.missing, self.many = function, dtype, missing, many
        self.table = np.empty(0, dtype=dtype)
        self.filled = 0

    def lookup(self, codes: np.ndarray, values: list[str]) -> np.ndarray:
        n = len(values)
        if n + 1 > len(self.table):
            table = np.empty(max(2 * len(self.table), n + 1, 64), dtype=self.dtype)
            table[:self.filled] = self.table[:self.filled]
            self.table = table
        if n > self.filled:
            new = values[self.filled:n]
            self.table[self.filled:n] = self.many(new) if self.many else [self.function(v) for v in new]
            self.filled = n
        self.table[n] = self.missing
        return self.table[:n + 1][codes]


class _Strings:
    """A growing list of distinct strings with their codes: the values of a :class:`Coded` column."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self.index: dict[str, int] = {}

    def code(self, value: str) -> int:
        code = self.index.get(value)
        if code is None:
            code = self.index[value] = len(self.values)
            self.values.append(value)
        return code


class LineParser:
    """Parses the blocks of one file with one layout into :class:`RawBatch` objects."""

    def __init__(self, layout: LogLayout, options: IngestOptions) -> None:
        self.layout = layout
        self.user_field = next((k for k in options.user_keys if k in layout.fields), None)
        used = _USED | {self.user_field}
        self.kept = [name in used for name in layout.fields]
        self.exclude_bots = options.exclude_bots
        self.dropped: Counter[str] = Counter()
        self.first_line: dict[str, int] = {}
        self._fresh()

    def _fresh(self) -> None:
        """New pools and the tables derived from them (at the start, and once a pool passes MAX_DISTINCT)."""
        self.pools: tuple[_Pool | None, ...] = tuple(_new_pool() if kept else None for kept in self.kept)
        parse_time = _time_parser(self.layout.time_kind)
        self.times = _Derived(parse_time, np.int64, -1,
                              many=_clf_times if self.layout.time_kind == TIME_CLF else None)
        self.statuses = _Derived(_status, np.float64, np.nan)
        self.present = {name: _Derived(_present, np.bool_, False) for name in ("client", "agent", "user")}
        self.bots = _Derived(is_bot, np.bool_, False)
        self.durations = _Derived(self._duration, np.float64, np.nan)
        self.methods, self.paths, self.routes = _Strings(), _Strings(), _Strings()
        self.requests = _Derived(self._request, np.int64, -1)  # method | path << 8 | route << 36
        self.targets = _Derived(self._target, np.int64, -1)
        self.route_of_path = _Derived(lambda path: self.routes.code(template_path(path)), np.int64, -1)
        self.lone_methods = _Derived(self._request, np.int64, -1)

    def note(self, reason: str, line: int, count: int = 1) -> None:
        self.dropped[reason] += count
        self.first_line.setdefault(reason, line)

    def flush(self) -> RawBatch:
        """An empty batch carrying the drops noted since the last batch."""
        dropped, self.dropped = self.dropped, Counter()
        first, self.first_line = self.first_line, {}
        return RawBatch(n=0, columns={}, source=SOURCE, read=sum(dropped.values()), dropped=dropped,
                        first_line=first)

    def parse(self, block: bytes, lines_before: int) -> Iterator[RawBatch]:
        start = 0
        while start < len(block):
            if any(pool is not None and len(pool) > MAX_DISTINCT for pool in self.pools):
                self._fresh()
            codes = np.empty((len(self.pools), BATCH_ROWS), dtype=np.int32)
            status = np.empty(BATCH_ROWS, dtype=np.uint8)
            line = np.empty(BATCH_ROWS, dtype=np.int32)
            rows, consumed, lines = _scan(block, start, self.layout.program, self.pools, codes, status, line)
            if not consumed:
                break
            yield self._batch(codes[:, :rows], status[:rows], line[:rows].astype(np.int64) + lines_before + 1)
            start += consumed
            lines_before += lines

    def _batch(self, codes: np.ndarray, status: np.ndarray, numbers: np.ndarray) -> RawBatch:
        bad = status != LINE_OK
        if bad.any():
            for state, reason in LINE_REASONS.items():
                hit = status == state
                if hit.any():
                    self.note(MALFORMED + reason, int(numbers[np.argmax(hit)]), int(hit.sum()))
        dropped, first = self.dropped, self.first_line
        self.dropped, self.first_line = Counter(), {}
        read = len(status) + sum(dropped.values()) - int(bad.sum())
        keep = ~bad
        layout, n = self.layout, len(status)

        def column(name: str) -> np.ndarray | None:
            slot = layout.field(name)
            return codes[slot] if slot is not None else None

        def values(name: str) -> list[str]:
            """The pool of a field the layout reads (callers check ``column(name)`` first)."""
            slot = layout.field(name)
            pool = self.pools[slot] if slot is not None else None
            if pool is None:
                raise LookupError(f"the log layout does not read {name!r}")
            return pool.values

        times = column("time")
        if times is None:  # compile_log_format refuses a layout without one
            raise LookupError("the log layout has no time field")
        ts = self.times.lookup(times, values("time"))
        _count(keep, ts < 0, MALFORMED + "bad timestamp", dropped, first, numbers)

        method, path, route = self._request_columns(column, values, n)
        _count(keep, (method.codes < 0) | (path.codes < 0), NO_REQUEST, dropped, first, numbers)

        out: dict[str, np.ndarray | Coded] = {"method": method, "path": path, "route": route}
        for name, field in (("client", "client"), ("agent", "agent"), ("user", self.user_field)):
            codes_of = column(field) if field is not None else None
            if field is None or codes_of is None:
                continue
            present = self.present[name].lookup(codes_of, values(field))
            out[name] = Coded(np.where(present, codes_of, -1).astype(np.int32), values(field))
        agents = column("agent")
        if self.exclude_bots and agents is not None:
            bots = self.bots.lookup(agents, values("agent"))
            _count(keep, bots, BOT, dropped, first, numbers)
        user = out.get("user")
        if isinstance(user, Coded):  # set just above, when the layout has a user field
            named = np.where(user.codes >= 0, 0, -1).astype(np.int32)
            out["user_key"] = Coded(named, np.array([self.user_field], dtype=object))

        duration = self._duration_column(column, values, n)
        known = ~np.isnan(duration)
        elapsed = np.where(known, duration * 1e6, 0).astype(np.int64)
        if layout.time_is_end:  # nginx logs when the response is done: the request began earlier
            ts = ts - elapsed
        out["ts"] = ts
        out["end"] = np.where(known, ts + elapsed, 0)
        status_codes = column("status")
        out["status"] = (self.statuses.lookup(status_codes, values("status")) if status_codes is not None
                         else np.full(n, np.nan))
        if not keep.all():
            rows = np.flatnonzero(keep)
            out = {k: v.take(rows) if isinstance(v, Coded) else v[rows] for k, v in out.items()}
        return RawBatch(n=int(keep.sum()), columns=out, source=SOURCE, read=read, dropped=dropped,
                        first_line=first)

    def _request_columns(self, column, values, n: int) -> tuple[Coded, Coded, Coded]:
        """Method, path (query stripped) and route (the templated path) of every row."""
        requests = column("request")
        if requests is not None:
            packed = self.requests.lookup(requests, values("request"))
            method = np.where(packed >= 0, packed & 0xFF, -1)
            path = np.where(packed >= 0, (packed >> 8) & 0xFFFFFFF, -1)
            route = np.where(packed >= 0, packed >> 36, -1)
        else:
            name = "path" if column("path") is not None else "target"
            path = self.targets.lookup(column(name), values(name))
            route = self.route_of_path.lookup(path, self.paths.values)
            methods = column("method")
            method = self.lone_methods.lookup(methods, values("method")) if methods is not None else \
                np.full(n, -1)
        return (Coded(method.astype(np.int32), self.methods.values),
                Coded(path.astype(np.int32), self.paths.values),
                Coded(route.astype(np.int32), self.routes.values))

    def _request(self, text: str) -> int:
        """``METHOD TARGET [PROTOCOL]`` → method | path << 8 | route << 36 (codes), −1 when it is not one.

        A lone method (a layout with ``%m`` / ``$request_method``) gives just the method code.
        """
        parts = text.split(" ")
        method = parts[0]
        if not (0 < len(method) <= 32 and method.isascii() and method.isupper() and method.isalpha()):
            return -1
        if len(parts) == 1:
            return self.methods.code(method) if len(self.methods.values) < 255 else -1
        if len(parts) > 3:
            return -1
        path = _path_of_target(parts[1])
        if path is None or len(self.methods.values) >= 255:
            return -1
        return (self.methods.code(method) | self.paths.code(path) << 8
                | self.routes.code(template_path(path)) << 36)

    def _target(self, text: str) -> int:
        path = _path_of_target(text) if text not in ("", "-") else None
        return -1 if path is None else self.paths.code(path)

    def _duration(self, text: str) -> float:
        if self.layout.field("trailing") is not None:
            return trailing_duration_ms(text)
        scale = self.layout.duration_scale if self.layout.field("duration") is not None else \
            self.layout.upstream_scale
        return _seconds_list(text) * scale

    def _duration_column(self, column, values, n: int) -> np.ndarray:
        for name in ("duration", "trailing", "upstream_duration"):
            codes = column(name)
            if codes is not None:
                return self.durations.lookup(codes, values(name))
        return np.full(n, np.nan)


def _scan(block: bytes, start: int, program: bytes, pools: tuple[_Pool | None, ...], codes: np.ndarray,
          status: np.ndarray, line: np.ndarray) -> tuple[int, int, int]:
    """``_native.scan_log`` when it is built (the pools are then its own), else :func:`scan_lines`."""
    if _native is not None:
        native_pools = tuple(pool for pool in pools if pool is None or isinstance(pool, _native.Pool))
        if len(native_pools) == len(pools):
            return _native.scan_log(block, start, program, native_pools, codes, status, line, MAX_LINE)
    return scan_lines(block, start, program, pools, codes, status, line, MAX_LINE)


def scan_lines(block: bytes, start: int, program: bytes, pools: tuple[_Pool | None, ...], codes: np.ndarray,
               status: np.ndarray, line: np.ndarray, max_line: int) -> tuple[int, int, int]:
    """The Python twin of ``_native.scan_log`` (same program, same results; ~20× slower)."""
    capacity = len(status)
    rows = lines = 0
    at = start
    while at < len(block) and rows < capacity:
        newline = block.find(b"\n", at)
        if newline < 0:
            break
        text = block[at:newline]
        at = newline + 1
        if text.endswith(b"\r"):
            text = text[:-1]
        if not text:
            lines += 1
            continue
        spans: list[bytes | None] = [None] * len(pools)
        state = 3 if len(text) > max_line else _run_program(program, text, spans)
        if state != 3 and any((c < 0x20 and c not in (9, 13)) or c == 0x7F for c in text):
            state = 2
        status[rows], line[rows] = state, lines
        for j, pool in enumerate(pools):
            value = spans[j]
            if state == LINE_OK and pool is not None and value is not None:
                codes[j, rows] = pool.intern(value)
            else:
                codes[j, rows] = -1
        rows += 1
        lines += 1
    return rows, at - start, lines


def _run_program(program: bytes, text: bytes, spans: list[bytes | None]) -> int:
    pc, p, end = 0, 0, len(text)
    while pc < len(program):
        op = program[pc]
        if op in (OP_LIT, OP_OPT):
            n = int.from_bytes(program[pc + 1:pc + 3], "little")
            literal = program[pc + 3:pc + 3 + n]
            match = text.startswith(literal, p)
            if op == OP_LIT:
                if not match:
                    return 4
                p, pc = p + n, pc + 3 + n
            elif match:
                p, pc = p + n, pc + 5 + n
            else:
                pc = int.from_bytes(program[pc + 3 + n:pc + 5 + n], "little")
        elif op == OP_FIELD:
            slot, kind, stop = program[pc + 1], program[pc + 2], program[pc + 3]
            first = p
            if kind == QUOTED:
                while p < end and text[p] != 0x22:
                    p += 2 if text[p] == 0x5C and p + 1 < end else 1
                if p >= end:
                    return 1
            elif stop:
                found = text.find(bytes([stop]), p)
                p = found if found >= 0 else end
            else:
                p = end
            if slot < len(spans):
                spans[slot] = text[first:p]
            pc += 4
        elif op == OP_END:
            return LINE_OK if not text[p:].strip(b" \t\r") else 4
        else:
            return 4
    return LINE_OK


def trailing_duration_ms(text: str) -> float:
    """The request time among the fields after Combined's user agent, in ms (NaN when there is none).

    The first bare number counts: an integer is Apache's ``%D`` (microseconds), a decimal nginx's
    ``$request_time`` (seconds, millisecond resolution). Quoted fields (``"$http_x_forwarded_for"``) and
    ``-`` are skipped; ``rt=0.120`` / ``request_time=0.120`` (nginx "main_ext" style) are read too.
    """
    for token in text.split():
        if token[:1] == '"':
            continue
        key, sep, value = token.partition("=")
        if sep and key not in ("rt", "request_time"):
            continue
        number = value if sep else token
        if number.replace(".", "", 1).isdigit() and number.isascii():
            return float(number) * 1000.0 if "." in number or sep else float(number) / 1000.0
    return float("nan")


def _seconds_list(text: str) -> float:
    """A number, or nginx's ``0.010, 0.002`` / ``0.010 : 0.002`` upstream tries (summed); NaN for ``-``."""
    total, seen = 0.0, False
    for token in text.replace(",", " ").replace(":", " ").split():
        token = token.strip('"')
        if token.replace(".", "", 1).isdigit() and token.isascii():
            total, seen = total + float(token), True
    return total if seen else float("nan")


def _status(text: str) -> float:
    return float(text) if text.isdigit() and text.isascii() and len(text) == 3 else float("nan")


def _present(text: str) -> bool:
    return text not in ("", "-")


def _path_of_target(target: str) -> str | None:
    """The path of a request target: origin form (``/a?q``), absolute form (``http://h/a``) or ``*``."""
    if target.startswith("/"):
        path = target.split("?", 1)[0].split("#", 1)[0]
        return path or "/"
    if target == "*":
        return "*"
    if "://" in target:
        rest = target.split("://", 1)[1]
        slash = rest.find("/")
        return _path_of_target(rest[slash:]) if slash >= 0 else "/"
    return None


def _time_parser(kind: str) -> Callable[[str], int]:
    if kind == TIME_CLF:
        return lambda text: int(_clf_times([text])[0])
    if kind in _EPOCH_UNIT_NS:
        scale = _EPOCH_UNIT_NS[kind]
        return lambda text: _epoch(text, scale)
    return _iso_time


_CLF_WIDTH = 26
#: month names packed as 3 bytes (big-endian) → month number
_MONTH_KEYS = np.array(sorted((int.from_bytes(m.encode(), "big"), n) for m, n in _MONTHS.items()))


def _clf_times(texts: list[str]) -> np.ndarray:
    """``10/Oct/2000:13:55:36 -0700`` → UTC ns (−1 when invalid), for many values in one numpy pass (every
    new distinct timestamp of a batch; a per-value ``datetime`` was most of the reader's time)."""
    out = np.full(len(texts), -1, dtype=np.int64)
    joined = "".join(texts)
    if len(joined) == _CLF_WIDTH * len(texts) and joined.isascii():  # the usual case: no per-value pass
        sized: list[int] | slice = slice(None)
    else:
        sized = [i for i, text in enumerate(texts) if len(text) == _CLF_WIDTH and text.isascii()]
        if not sized:
            return out
        joined = "".join(texts[i] for i in sized)
    chars = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    chars = chars.reshape(-1, _CLF_WIDTH).astype(np.int64)
    digits = chars - 48

    def number(start: int, width: int) -> np.ndarray:
        value = np.zeros(len(chars), dtype=np.int64)
        for k in range(start, start + width):
            value = value * 10 + digits[:, k]
        return value

    digit_columns = [0, 1, 7, 8, 9, 10, 12, 13, 15, 16, 18, 19, 22, 23, 24, 25]
    separators = {2: "/", 6: "/", 11: ":", 14: ":", 17: ":", 20: " "}
    valid = ((digits[:, digit_columns] >= 0) & (digits[:, digit_columns] <= 9)).all(axis=1)
    for column, char in separators.items():
        valid &= chars[:, column] == ord(char)
    sign = np.where(chars[:, 21] == ord("-"), -1, 1)
    valid &= (chars[:, 21] == ord("+")) | (chars[:, 21] == ord("-"))
    key = (chars[:, 3] << 16) | (chars[:, 4] << 8) | chars[:, 5]
    at = np.clip(np.searchsorted(_MONTH_KEYS[:, 0], key), 0, 11)
    valid &= _MONTH_KEYS[at, 0] == key
    month = _MONTH_KEYS[at, 1]
    day, year = number(0, 2), number(7, 4)
    hour, minute, second = number(12, 2), number(15, 2), number(18, 2)
    valid &= (day >= 1) & (day <= _days_in_month(year, month)) & (hour < 24) & (minute < 60) & (second < 60)
    offset = sign * (number(22, 2) * 60 + number(24, 2))
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset * 60
    out[sized] = np.where(valid, seconds * 1_000_000_000, -1)
    return out


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm), vectorised."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[month]
    return days + ((month == 2) & leap)


def _iso_time(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return -1
    if moment.tzinfo is None:
        return -1
    return int(moment.timestamp() * 1e6) * 1000


def _epoch(text: str, scale: float) -> int:
    try:
        return round(float(text) * scale)
    except ValueError:
        return -1


def _count(keep: np.ndarray, mask: np.ndarray, reason: str, dropped: Counter[str], first: dict[str, int],
           numbers: np.ndarray) -> None:
    newly = keep & mask
    count = int(newly.sum())
    if count:
        dropped[reason] += count
        first.setdefault(reason, int(numbers[np.argmax(newly)]))
        keep &= ~newly
