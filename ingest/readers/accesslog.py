"""Web server access logs (Common / Combined Log Format, or a custom nginx / Apache layout) → events.

Lines are parsed a block at a time by one compiled regular expression (:mod:`tracereplay.ingest.logformat`)
with ``findall``: the regex engine walks the bytes, Python never loops over lines. Every field is then *interned*: each
distinct client, agent, request line, timestamp, status … is decoded and parsed once (a dict lookup per
row, done in C by ``map``), and the per-row columns are numpy lookups into tables built from the distinct
values. Memory is one block plus the distinct values (tables are reset when they grow past
:data:`MAX_DISTINCT`).

A line that does not fit the layout is never silently lost: it is counted in the ingest summary by reason
(``malformed: unterminated quote``, ``malformed: binary junk``, ``malformed: over-long line``,
``malformed: bad timestamp``, ``malformed: does not match the log format``), with the first line number of
each reason. A valid line that carries no HTTP request (nginx logs ``"-"`` or TLS bytes for 400/408
timeouts) is counted as ``no HTTP request line``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import repeat
from pathlib import Path
from typing import BinaryIO

import numpy as np

from tracereplay.ingest.bots import is_bot
from tracereplay.ingest.logformat import (
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
from tracereplay.ingest.readers.jsontext import gc_paused
from tracereplay.ingest.templating import template_path

SOURCE = "access-log"
#: bytes read from the stream at a time (a block is these plus the end of the line it cuts)
BLOCK_BYTES = 4 << 20
#: a longer line is skipped (and counted): no access log writes lines this long, a dump that does is hostile
MAX_LINE = 64 * 1024
#: distinct values a field's table holds before it starts afresh (bounds memory on unique-per-line fields)
MAX_DISTINCT = 1 << 20

BOT = "bot (--exclude-bots)"
NO_REQUEST = "no HTTP request line"
MALFORMED = "malformed: "
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LONG = re.compile(rb"^[^\n]{%d}" % (MAX_LINE + 1), re.MULTILINE)
_MONTHS = {m: i + 1 for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"))}
_METHOD = re.compile(r"[A-Z][A-Z0-9_-]{0,31}")
_NUMBER = re.compile(rb"[0-9]+(?:\.[0-9]+)?")
_EPOCH_UNIT_NS = {TIME_EPOCH_S: 1e9, TIME_EPOCH_MS: 1e6, TIME_EPOCH_US: 1e3}


def read(path: Path, stream: BinaryIO, options: IngestOptions) -> Iterator[RawBatch]:
    """Batches of access-log rows; malformed lines counted by reason in each batch's ``dropped``."""
    layout = compile_log_format(options.log_format) if options.log_format else combined_layout()
    parser = LineParser(layout, options)
    for block, lines_before, skipped in line_blocks(stream):
        for line in skipped:
            parser.note(MALFORMED + "over-long line", line)
        batch = parser.parse(block, lines_before)
        if batch.read or batch.dropped:
            yield batch


def line_blocks(stream: BinaryIO, size: int = BLOCK_BYTES,
                max_line: int = MAX_LINE) -> Iterator[tuple[bytes, int, list[int]]]:
    """(block of whole lines, lines before it, line numbers of over-long lines skipped just before it).

    Memory stays one read plus at most ``max_line`` bytes of a cut line: a line that grows past it is
    skipped to its newline without being kept.
    """
    tail = b""
    lines = 0
    skipping = False
    skipped: list[int] = []
    while True:
        chunk = stream.read(size)
        if not chunk:
            break
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


class _Table:
    """Distinct raw values of one field → codes, and per code whatever :meth:`add` derives from it.

    ``codes(column)`` costs one C-level dict lookup per row; ``derive`` runs once per distinct value.
    """

    def __init__(self, derive: Callable[[bytes], object]) -> None:
        self.derive = derive
        self.reset()

    def reset(self) -> None:
        self.index: dict[bytes, int] = {}
        self.derived: list[object] = []

    def codes(self, column: tuple[bytes, ...]) -> np.ndarray:
        if len(self.index) > MAX_DISTINCT:
            self.reset()
        index = self.index
        codes = np.fromiter(map(index.get, column, repeat(-1)), dtype=np.int64, count=len(column))
        unseen = np.flatnonzero(codes < 0)
        if len(unseen):
            derived, derive = self.derived, self.derive
            for i in unseen.tolist():
                raw = column[i]
                code = index.get(raw)
                if code is None:
                    code = index[raw] = len(derived)
                    derived.append(derive(raw))
                codes[i] = code
        return codes


class _Strings:
    """A string field as :class:`Coded`: codes into one growing list of distinct strings ("-"/"" missing)."""

    def __init__(self, convert: Callable[[str], str | None] = lambda s: s) -> None:
        self.convert = convert
        self.values: list[str] = []
        self.where: dict[str, int] = {}
        self.table = _Table(self._code)
        self.map: np.ndarray = np.empty(0, dtype=np.int32)

    def _code(self, raw: bytes) -> int:
        text = raw.decode("utf-8", "replace")
        value = None if text in ("", "-") else self.convert(text)
        if value is None:
            return -1
        code = self.where.get(value)
        if code is None:
            if len(self.values) > MAX_DISTINCT:  # start a new list: batches already handed on keep theirs
                self.values, self.where = [], {}
            code = self.where[value] = len(self.values)
            self.values.append(value)
        return code

    def coded(self, column: tuple[bytes, ...]) -> Coded:
        codes = self.table.codes(column)
        return Coded(_lookup(self.table.derived, codes, np.int32), self.values)


class LineParser:
    """Parses blocks of lines of one file with one layout into :class:`RawBatch` objects."""

    def __init__(self, layout: LogLayout, options: IngestOptions) -> None:
        self.layout = layout
        self.fields = layout.fields
        self.regex = re.compile(rb"^(?:" + layout.pattern + rb"\r?$|([^\n]+))", re.MULTILINE)
        self.lenient = re.compile(layout.pattern.replace(rb'([^"\n]*)', rb'((?:[^"\\\n]|\\.)*)') + rb"\r?")
        self.exclude_bots = options.exclude_bots
        self.user_field = next((k for k in options.user_keys if k in self.fields), None)
        self.dropped: Counter[str] = Counter()
        self.first_line: dict[str, int] = {}
        parse_time = _time_parser(layout.time_kind)
        self.times = _Table(lambda raw: parse_time(raw.decode("ascii", "replace")))
        self.statuses = _Table(_status)
        self.requests = _Table(self._request)
        self.durations = _Table(self._duration)
        self.upstream = _Table(lambda raw: _seconds_list(raw) * layout.upstream_scale)
        self.methods, self.paths, self.routes = _Strings(), _Strings(), _Strings()
        self.clients, self.agents = _Strings(), _Strings()
        self.users = _Strings()
        self.bots = _Table(lambda raw: is_bot(raw.decode("utf-8", "replace")))
        self.targets, self.queries = _Table(_target_path), _Table(lambda raw: None)

    def note(self, reason: str, line: int, count: int = 1) -> None:
        self.dropped[reason] += count
        self.first_line.setdefault(reason, line)

    def parse(self, block: bytes, lines_before: int) -> RawBatch:
        with gc_paused():  # findall builds a tuple per line: collections would cost more than parsing
            rows = self.regex.findall(block)
        numbers = None  # line numbers of the rows: lines_before + 1 + row index unless sifted
        if rows and (len(rows) != block.count(b"\n") or any(r[-1] for r in rows)
                     or _LONG.search(block) is not None or _CONTROL.search(block) is not None):
            rows, numbers = self._sift(block, rows, lines_before)
        read = len(rows)
        dropped, self.dropped = self.dropped, Counter()
        first, self.first_line = self.first_line, {}
        read += sum(dropped.values())
        if not rows:
            return RawBatch(n=0, columns={}, source=SOURCE, read=read, dropped=dropped, first_line=first)
        columns = list(zip(*rows, strict=True))
        if numbers is None:
            numbers = np.arange(lines_before + 1, lines_before + 1 + len(rows))
        batch = self._columns(columns, dropped, first, numbers)
        batch.read = read
        return batch

    def _sift(self, block: bytes, rows: list[tuple[bytes, ...]],
              lines_before: int) -> tuple[list[tuple[bytes, ...]], np.ndarray]:
        """The good rows and their line numbers; bad ones retried leniently (escaped quotes), else counted
        by reason."""
        good: list[tuple[bytes, ...]] = []
        numbers: list[int] = []
        lines = block.split(b"\n")
        number = lines_before
        at = 0
        for line in lines:  # rows are the non-blank lines, in order
            number += 1
            if not line:
                continue
            if at >= len(rows):
                break
            row = rows[at]
            at += 1
            reason = _malformed(line)
            if reason is None and row[-1]:
                match = self.lenient.fullmatch(line)
                if match is not None:
                    good.append((*match.groups(), b""))
                    numbers.append(number)
                    continue
                reason = "unterminated quote" if _open_quote(line) else "does not match the log format"
            if reason is not None:
                self.note(MALFORMED + reason, number)
                continue
            good.append(row)
            numbers.append(number)
        return good, np.array(numbers, dtype=np.int64)

    def _columns(self, columns: list[tuple[bytes, ...]], dropped: Counter[str], first: dict[str, int],
                 numbers: np.ndarray) -> RawBatch:
        n = len(columns[0])
        field = self.layout.field
        keep = np.ones(n, dtype=bool)

        ts = _lookup(self.times.derived, self.times.codes(columns[field("time")]), np.int64)
        bad_time = ts < 0
        if bad_time.any():
            _count(keep, bad_time, MALFORMED + "bad timestamp", dropped, first, numbers)

        method, path, route = self._request_columns(columns)
        no_request = (method.codes < 0) | (path.codes < 0)
        _count(keep, no_request, NO_REQUEST, dropped, first, numbers)

        agent = self.agents.coded(columns[field("agent")]) if field("agent") is not None else Coded.missing(n)
        if self.exclude_bots and field("agent") is not None:
            bots = _lookup(self.bots.derived, self.bots.codes(columns[field("agent")]), bool)
            _count(keep, bots, BOT, dropped, first, numbers)

        duration = self._duration_column(columns, n)
        known = ~np.isnan(duration)
        elapsed = np.where(known, duration * 1e6, 0).astype(np.int64)
        if self.layout.time_is_end:  # nginx logs when the response is done: the request began earlier
            ts = ts - elapsed
        end = np.where(known, ts + elapsed, 0)

        status_field = field("status")
        status = (_lookup(self.statuses.derived, self.statuses.codes(columns[status_field]), np.float64)
                  if status_field is not None else np.full(n, np.nan))
        out: dict[str, np.ndarray | Coded] = {
            "ts": ts, "end": end, "method": method, "path": path, "route": route, "status": status,
            "client": self.clients.coded(columns[field("client")]) if field("client") is not None
            else Coded.missing(n),
            "agent": agent,
        }
        if self.user_field is not None:
            user = self.users.coded(columns[field(self.user_field)])
            out["user"] = user
            out["user_key"] = Coded(np.where(user.present, 0, -1).astype(np.int32),
                                    np.array([self.user_field], dtype=object))
        if not keep.all():
            rows = np.flatnonzero(keep)
            out = {k: v.take(rows) if isinstance(v, Coded) else v[rows] for k, v in out.items()}
        return RawBatch(n=int(keep.sum()), columns=out, source=SOURCE, dropped=dropped, first_line=first)

    def _request_columns(self, columns: list[tuple[bytes, ...]]) -> tuple[Coded, Coded, Coded]:
        """Method, path (query stripped) and route (the templated path) of every row."""
        field = self.layout.field
        if field("request") is not None:
            codes = self.requests.codes(columns[field("request")])
            table = _lookup_rows(self.requests.derived, codes, 3)
            return (Coded(table[0], self.methods.values), Coded(table[1], self.paths.values),
                    Coded(table[2], self.routes.values))
        n = len(columns[0])
        method = self.methods.coded(columns[field("method")]) if field("method") is not None else \
            Coded.missing(n)
        source = field("path") if field("path") is not None else field("target")
        targets = _lookup(self.targets.derived, self.targets.codes(columns[source]), object)
        path = Coded.from_objects(targets)
        return method, path, path.map(template_path)

    def _request(self, raw: bytes) -> tuple[int, int, int]:
        """(method, path, route) codes of a request line; −1s when it is not ``METHOD TARGET [PROTOCOL]``."""
        parts = raw.decode("utf-8", "replace").split(" ")
        if len(parts) not in (2, 3) or not _METHOD.fullmatch(parts[0]):
            return -1, -1, -1
        path = _path_of_target(parts[1])
        if path is None:
            return -1, -1, -1
        method = self.methods._code(parts[0].encode())
        return method, self.paths._code(path.encode()), self.routes._code(template_path(path).encode())

    def _duration(self, raw: bytes) -> float:
        if self.layout.field("duration") is not None:
            return _seconds_list(raw) * self.layout.duration_scale
        return trailing_duration_ms(raw)

    def _duration_column(self, columns: list[tuple[bytes, ...]], n: int) -> np.ndarray:
        field = self.layout.field
        for name, table in (("duration", self.durations), ("trailing", self.durations),
                            ("upstream_duration", self.upstream)):
            index = field(name)
            if index is not None:
                return _lookup(table.derived, table.codes(columns[index]), np.float64)
        return np.full(n, np.nan)


def trailing_duration_ms(raw: bytes) -> float:
    """The request time among the fields after Combined's user agent, in ms (NaN when there is none).

    The first bare number counts: an integer is Apache's ``%D`` (microseconds), a decimal nginx's
    ``$request_time`` (seconds, millisecond resolution). Quoted fields (``"$http_x_forwarded_for"``) and
    ``-`` are skipped.
    """
    for token in raw.split():
        if token[:1] == b'"':
            continue
        if _NUMBER.fullmatch(token):
            return float(token) / 1000.0 if b"." not in token else float(token) * 1000.0
        key, sep, value = token.partition(b"=")  # key=value extensions: rt=0.120 request_time=0.120
        if sep and key in (b"rt", b"request_time") and _NUMBER.fullmatch(value):
            return float(value) * 1000.0
    return float("nan")


def _seconds_list(raw: bytes) -> float:
    """A number, or nginx's ``0.010, 0.002`` / ``0.010 : 0.002`` list of upstream tries (summed); NaN for
    ``-``."""
    total, seen = 0.0, False
    for token in re.split(rb"[\s,:]+", raw.strip(b'" ')):
        if _NUMBER.fullmatch(token):
            total, seen = total + float(token), True
    return total if seen else float("nan")


def _status(raw: bytes) -> float:
    return float(raw) if raw.isdigit() else float("nan")


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


def _target_path(raw: bytes) -> str | None:
    return _path_of_target(raw.decode("utf-8", "replace")) if raw not in (b"", b"-") else None


def _time_parser(kind: str) -> Callable[[str], int]:
    if kind == TIME_CLF:
        return _clf_time
    if kind in _EPOCH_UNIT_NS:
        scale = _EPOCH_UNIT_NS[kind]
        return lambda text: _epoch(text, scale)
    return _iso_time


def _clf_time(text: str) -> int:
    """``10/Oct/2000:13:55:36 -0700`` → UTC ns (−1 when invalid)."""
    try:
        month = _MONTHS[text[3:6]]
        zone = text[21:26]
        offset = (int(zone[1:3]) * 60 + int(zone[3:5])) * (1 if zone[0] == "+" else -1)
        if zone[0] not in "+-" or len(text) != 26:
            return -1
        moment = datetime(int(text[7:11]), month, int(text[0:2]), int(text[12:14]), int(text[15:17]),
                          int(text[18:20]))
    except (KeyError, ValueError, IndexError):
        return -1
    seconds = (moment - _EPOCH).total_seconds() - offset * 60
    return int(seconds) * 1_000_000_000


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


_EPOCH = datetime(1970, 1, 1)


def _lookup(derived: list, codes: np.ndarray, dtype) -> np.ndarray:
    table = np.array(derived, dtype=dtype) if derived else np.empty(0, dtype=dtype)
    return table[codes] if len(codes) else np.empty(0, dtype=dtype)


def _lookup_rows(derived: list, codes: np.ndarray, width: int) -> np.ndarray:
    table = np.array(derived, dtype=np.int32).reshape(-1, width)
    return table[codes].T if len(codes) else np.empty((width, 0), dtype=np.int32)


def _malformed(line: bytes) -> str | None:
    """Why a line is malformed before any field is looked at, or None."""
    if len(line) > MAX_LINE:
        return "over-long line"
    if _CONTROL.search(line):
        return "binary junk"
    return None


def _open_quote(line: bytes) -> bool:
    """An odd number of unescaped double quotes: a quoted field runs past the end of the line."""
    return (line.count(b'"') - line.count(b'\\"')) % 2 == 1


def _count(keep: np.ndarray, mask: np.ndarray, reason: str, dropped: Counter[str], first: dict[str, int],
           numbers: np.ndarray) -> None:
    newly = keep & mask
    count = int(newly.sum())
    if count:
        dropped[reason] += count
        first.setdefault(reason, int(numbers[np.argmax(newly)]))
        keep &= ~newly
