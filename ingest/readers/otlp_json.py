"""OTLP/JSON: one ``TracesData`` / ``ExportTraceServiceRequest`` document, or JSON lines of them (the
Collector's file exporter), or the Jaeger api_v3 ``{"result": …}`` wrapper.

Per the OTLP/JSON encoding: ids are hex (any case — only their presence is used here), 64-bit integers may
be strings or numbers, enums are integers (names are accepted too), unknown fields are ignored, and field
names are lowerCamelCase (snake_case is accepted as protobuf's JSON parsers do).

Two readers, one behaviour: the compiled scanner (``ingest/native/scan_json.c``) walks the bytes once and
writes only the table's fields into columns; where the extension is missing, :func:`read_decoded` decodes
with orjson and loops over the spans in Python (the reference the scanner is tested against). Whether a dump
is JSON lines or one document is told as ``jsontext.json_values`` does: JSON lines when its first non-blank
line is a JSON value by itself.
"""

from __future__ import annotations

import mmap
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tracereplay.errors import InputError
from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import AttributeTable, RawBatch
from tracereplay.ingest.readers import native
from tracereplay.ingest.readers.jsontext import json_values
from tracereplay.ingest.readers.rows import SpanRows
from tracereplay.ingest.readers.windows import is_plain_file, windows

NAME = "otlp-json"
#: read with the compiled scanner (True) or by orjson decoding (the reference; used when it is missing)
USE_SCANNER = True
#: JSON lines are scanned in blocks of whole lines of about this size (a longer line is one block)
BLOCK_BYTES = 24 * 1024 * 1024
#: rows a batch of the scanner holds (a document with more spans gets a batch of its own, as large as needed)
BATCH_ROWS = native.BATCH_ROWS
_KIND_NAMES = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2,
               "SPAN_KIND_CLIENT": 3, "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
_VALUE_KEYS = ("stringValue", "string_value", "intValue", "int_value", "doubleValue", "double_value",
               "boolValue", "bool_value")


def read(path: Path, stream: BinaryIO, options: IngestOptions) -> Generator[RawBatch, None, None]:
    """Yield the spans of an OTLP/JSON dump in batches (compiled scanner; orjson decoding without)."""
    if not (USE_SCANNER and native.available()):
        yield from read_decoded(path, stream, options)
        return
    columns = native.SpanColumns(options, NAME, batch_rows=BATCH_ROWS)
    blank, head = _first_line(stream)
    if not head:
        raise InputError(path, "empty file (only white space)")
    scanned = yield from _scan(columns, head, lines=True)
    if scanned.status in (native.JSON_TRUNCATED, native.JSON_MALFORMED):  # not a value by itself: a document
        with _document(stream, head) as document:
            scanned = yield from _scan(columns, document, lines=False)
            scanned.check(path, document, first_line=blank + 1)
    else:
        scanned.check(path, head, first_line=blank + 1)
        line = blank + 1 + scanned.newlines
        for block in _line_blocks(stream):
            scanned = yield from _scan(columns, block, lines=True)
            scanned.check(path, block, first_line=line)
            line += scanned.newlines
    last = columns.take()
    if last is not None:
        yield last


@dataclass(frozen=True)
class _Scanned:
    """How a block's scan ended: status, byte offset, lines passed (JSON lines) and the scanner's message."""

    status: int
    offset: int
    newlines: int
    message: str | None
    lines: bool

    def check(self, path: Path, block: bytes | memoryview, first_line: int) -> None:
        """One-line InputError for a failed scan: the line (JSON lines) or line and column (a document)."""
        if self.status == native.OK:
            return
        if self.lines:
            where = f"line {first_line + self.newlines}"
        else:
            data = bytes(block[: self.offset])
            line, column = first_line + data.count(b"\n"), self.offset - data.rfind(b"\n")
            where = f"line {line} column {column}"
        if self.status == native.JSON_NOT_OTLP:
            raise InputError(path, f"not OTLP/JSON ({self.message})", where=where)
        raise InputError(path, f"invalid JSON ({self.message})", where=where)


def _scan(columns: native.SpanColumns, block: bytes | memoryview, *,
          lines: bool) -> Generator[RawBatch, None, _Scanned]:
    """Scan a block into the columns, handing on each batch that fills up; returns how the scan ended."""
    start = newlines = 0
    while True:
        read, kept, status, offset, passed, needed, message = native.scan_json(
            block, columns.sink, columns.rows, start, lines)
        columns.scanned(read, kept)
        newlines += passed
        if status != native.JSON_FULL:
            return _Scanned(status, offset, newlines, message, lines)
        full = columns.make_room(needed)  # the document at `offset` did not fit: scanned again in new room
        if full is not None:
            yield full
        start = offset


def _first_line(stream: BinaryIO) -> tuple[int, bytes]:
    """The first non-blank line and how many blank lines came before it."""
    blank = 0
    line = stream.readline()
    while line and not line.strip():
        blank += 1
        line = stream.readline()
    return blank, line


@contextmanager
def _document(stream: BinaryIO, head: bytes) -> Iterator[bytes | memoryview]:
    """The document from its first line to the end: a memory map of a plain file, else read whole."""
    if not is_plain_file(stream):
        yield head + stream.read()
        return
    start = stream.tell() - len(head)
    with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)[start:]
        try:
            yield view
        finally:  # a map cannot close under a live view
            view.release()


def _line_blocks(stream: BinaryIO) -> Iterator[memoryview]:
    """The rest of the stream in blocks of whole lines of about BLOCK_BYTES (a longer line is one block; the
    last may lack its newline). Each view is released once scanned, so its memory can be reused."""
    for window in windows(stream, BLOCK_BYTES):
        end = window.length if window.last else window.whole_lines()
        if end:
            block = window.view[:end]
            try:
                yield block
            finally:
                block.release()
        window.taken = end


def read_decoded(path: Path, stream: BinaryIO, options: IngestOptions) -> Iterator[RawBatch]:
    """The same as :func:`read` by orjson and a Python loop (the reference the scanner is tested against)."""
    table = AttributeTable(options)
    kinds = options.kind_codes
    for values in json_values(path, stream):
        builder = _Builder(table, kinds)
        for where, value in values:
            try:
                builder.add_document(value)
            except (TypeError, AttributeError, ValueError, KeyError) as exc:
                raise InputError(path, f"not OTLP/JSON ({type(exc).__name__}: {exc})", where=where) from None
            if len(builder) >= options.batch_spans:
                yield builder.finish()
                builder = _Builder(table, kinds)
        yield builder.finish()


class _Builder(SpanRows):
    """Span rows filled straight from OTLP/JSON documents (the span loop appends to the lists inline)."""

    def __init__(self, table: AttributeTable, kinds: frozenset[int] | None) -> None:
        super().__init__(table, kinds, NAME)

    def add_document(self, document: object) -> None:
        if not isinstance(document, dict):
            raise TypeError(f"expected an object with resourceSpans, found {type(document).__name__}")
        result = document.get("result")
        if isinstance(result, dict):  # Jaeger api_v3 wrapper
            document = result
        resource_spans = _field(document, "resourceSpans", "resource_spans")
        if resource_spans is None:
            raise KeyError("resourceSpans")
        if isinstance(resource_spans, dict | str) and not resource_spans:
            resource_spans = []  # an empty object or string holds no spans, as the native scanner reads it
        if not isinstance(resource_spans, list):
            raise TypeError(f"resourceSpans is {type(resource_spans).__name__}, not a list")
        slot_of = self.table.slot_of.get
        kinds = self.kinds
        idx, vals = self.idx, self.vals
        for rs in resource_spans:
            service = ""
            resource = rs.get("resource") or {}
            for kv in resource.get("attributes") or ():
                if kv.get("key") == "service.name":
                    name = _scalar(kv.get("value"))
                    service = name if isinstance(name, str) else ""  # a number names no service (as "")
            scopes = _field(rs, "scopeSpans", "scope_spans", "instrumentationLibrarySpans") or []
            if not isinstance(scopes, list):
                raise TypeError(f"scopeSpans is {type(scopes).__name__}, not a list")
            for ss in scopes:
                spans = ss.get("spans") or ()
                self.read += len(spans)
                for span in spans:
                    self._add_span(span, service, kinds, slot_of, idx, vals)

    def _add_span(self, span: dict, service: str, kinds, slot_of, idx, vals) -> None:
        # the hot loop: one dict lookup a field in the usual (lowerCamelCase) spelling, fallbacks if absent
        kind = span.get("kind", 0)
        if kind.__class__ is not int:
            kind = _kind(kind)
        if (kinds is not None and kind not in kinds) or not 0 <= kind < 8:  # 8+: no kind (as in the scanner)
            self.dropped["span kind"] += 1
            return
        row = len(self.ts)
        start = span.get("startTimeUnixNano")
        if start is None:
            start = span.get("start_time_unix_nano", 0)
        end = span.get("endTimeUnixNano")
        if end is None:
            end = span.get("end_time_unix_nano", 0)
        self.ts.append(_int64(start))
        self.end.append(_int64(end))
        name = span.get("name")
        self.names.append(name if isinstance(name, str) else "")
        self.kind.append(kind)
        self.root.append(not (span.get("parentSpanId") or span.get("parent_span_id")))
        self.service.append(service)
        status = span.get("status")
        code = status.get("code", 0) if status else 0
        self.error.append(code == 2 or code == "STATUS_CODE_ERROR")
        for kv in span.get("attributes") or ():
            slot = slot_of(kv.get("key"))
            if slot is not None:
                any_value = kv.get("value")
                value = any_value.get("stringValue") if any_value.__class__ is dict else None
                if value.__class__ is not str:
                    value = _scalar(any_value)
                if value is not None and value != "":  # empty is absent: the next key in order is read
                    idx[slot].append(row)
                    vals[slot].append(value)


def _field(record: dict, *names: str) -> object:
    for name in names:
        value = record.get(name)
        if value is not None:
            return value
    return None


def _int64(value: object) -> int:
    if not isinstance(value, (int, str, float)):  # JSON writes int64 as a string or a number
        raise TypeError(f"a time is {type(value).__name__}, not a number")
    number = int(value)
    if not -(2**63) <= number < 2**63:
        raise ValueError(f"{number} is out of the int64 range of OTLP times")
    return number


def _kind(value: object) -> int:
    if isinstance(value, int):
        return value
    return _KIND_NAMES.get(str(value), 0)


def _scalar(value: object) -> object:
    """The scalar inside an AnyValue object (``{"stringValue": "x"}``, ``{"intValue": "200"}`` …).

    stringValue when present, else the first scalar member in document order; null, arrays and objects (an
    arrayValue or kvlistValue, or a malformed value) count as absent.
    """
    if not isinstance(value, dict):
        return None
    inner = value.get("stringValue")
    if inner is not None and inner.__class__ not in (dict, list):
        return inner
    for key, inner in value.items():
        if inner is None or key not in _VALUE_KEYS or inner.__class__ in (dict, list):
            continue
        if key in ("intValue", "int_value"):
            return int(inner)
        if key in ("boolValue", "bool_value"):
            return "true" if inner else "false"
        return inner
    return None
