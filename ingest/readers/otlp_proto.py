"""OTLP protobuf: ``TracesData`` / ``ExportTraceServiceRequest`` files, one message or many.

Three layouts exist in the wild and are told apart from the first bytes:

* one message (what ``SerializeToString()`` writes): top-level field 1 (``resource_spans``) repeated;
* the Collector's file exporter with ``format: proto``: a 4-byte big-endian length before each message;
* the OTLP file-exporter spec: a varint length before each message.

Messages are streamed: a chunk of a few MB of ``resource_spans`` entries (or whole framed messages) is
parsed at a time — concatenated protobuf messages merge, so one ``TracesData.FromString`` handles a chunk —
and only the fields the event table needs are copied out into columns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from google.protobuf.message import DecodeError
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from tracereplay.errors import InputError
from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import AttributeTable, Coded, RawBatch
from tracereplay.ingest.readers import native
from tracereplay.ingest.readers.windows import windows

NAME = "otlp"
CHUNK_BYTES = 24 * 1024 * 1024
#: read with the compiled scanner (True) or by protobuf decoding (the reference; used when it is missing)
USE_SCANNER = True
_BLOCK = 1024 * 1024
_ERROR = 2  # Status.STATUS_CODE_ERROR
_MAX_MESSAGE = 2**31  # protobuf's own limit on one message


def read(path: Path, stream: BinaryIO, options: IngestOptions) -> Generator[RawBatch, None, None]:
    """Yield the spans of an OTLP protobuf dump in batches (compiled scanner; protobuf decoding without)."""
    if not (USE_SCANNER and native.available()):
        yield from read_decoded(path, stream, options)
        return
    columns = native.SpanColumns(options, NAME)
    head = stream.read(8)
    if not head:
        raise InputError(path, "empty file")
    framing = _framing(path, head)
    window = None
    for window in windows(stream, CHUNK_BYTES, head):
        spans, _, _, error, at = native.count_pb(window.view, framing)
        _check(path, error, window.offset + at)
        full = columns.make_room(spans)
        if full is not None:
            yield full
        read, kept, consumed, error, at = native.scan_pb(window.view, framing, columns.sink, columns.rows)
        _check(path, error, window.offset + at)
        columns.scanned(read, kept)
        window.taken = consumed  # whole messages; a partial one at the end starts the next window
    if window is not None and window.taken < window.length:
        raise InputError(path, "truncated: the last message is cut short by the end of the file",
                         where=f"byte {window.offset + window.taken}")
    last = columns.take()
    if last is not None:
        yield last


def _check(path: Path, error: int, offset: int) -> None:
    if error != native.OK:
        raise InputError(path, "not a valid OTLP protobuf message", where=f"byte {offset}")


def _framing(path: Path, head: bytes) -> int:
    """0: one TracesData message; 1: the Collector's 4-byte big-endian lengths; 2: varint lengths."""
    if head[0] == 0x0A:
        return 0
    if head[0] == 0x00:
        first = head[4:5]
        layout, framing = "4-byte length", 1
    else:
        length_bytes = next((i + 1 for i, byte in enumerate(head) if byte < 0x80), len(head))
        first = head[length_bytes:length_bytes + 1]
        layout, framing = "varint length", 2
    if first not in (b"\x0a", b""):
        raise InputError(path, f"no known dump format (as OTLP protobuf, {layout} framing expected a message "
                               f"starting with resource_spans)", where="message at byte 0")
    return framing


def read_decoded(path: Path, stream: BinaryIO, options: IngestOptions) -> Iterator[RawBatch]:
    """The same as :func:`read` through the protobuf library (the reference the scanner is tested against)."""
    table = AttributeTable(options)
    kinds = options.kind_codes
    for start, end, chunk in _chunks(path, _ByteStream(stream, path)):
        try:
            data = TracesData.FromString(chunk)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise InputError(path, f"not a valid OTLP protobuf message ({exc or 'parse error'})",
                             where=f"bytes {start}-{end}") from None
        yield extract(data, table, kinds)


def extract(data: TracesData, table: AttributeTable, kinds: frozenset[int] | None) -> RawBatch:
    """Copy the needed fields of every span in ``data`` into columns (one pass, no dict per span)."""
    ts: list[int] = []
    end: list[int] = []
    names: list[str] = []
    kind_col: list[int] = []
    roots: list[bool] = []
    services: list[str] = []
    errors: list[bool] = []
    idx, vals = table.collector()
    slot_of = table.slot_of.get
    numeric = table.numeric
    ts_append, end_append, name_append = ts.append, end.append, names.append
    kind_append, root_append, service_append, error_append = (
        kind_col.append, roots.append, services.append, errors.append)
    read = 0
    dropped: Counter[str] = Counter()
    for resource_spans in data.resource_spans:
        service = ""
        for kv in resource_spans.resource.attributes:
            if kv.key == "service.name":
                service = kv.value.string_value
                break
        for scope_spans in resource_spans.scope_spans:
            spans = scope_spans.spans
            read += len(spans)
            for span in spans:
                kind = span.kind
                if kinds is not None and kind not in kinds:
                    dropped["span kind"] += 1
                    continue
                row = len(ts)
                ts_append(span.start_time_unix_nano)
                end_append(span.end_time_unix_nano)
                name_append(span.name)
                kind_append(kind)
                root_append(not span.parent_span_id)
                service_append(service)
                error_append(span.status.code == _ERROR)
                for kv in span.attributes:
                    slot = slot_of(kv.key)
                    if slot is not None:
                        value = kv.value
                        text = value.string_value
                        if text:
                            idx[slot].append(row)
                            vals[slot].append(text)
                        else:
                            scalar = _scalar(value, numeric[slot])
                            if scalar is not None:
                                idx[slot].append(row)
                                vals[slot].append(scalar)
    n = len(ts)
    columns: dict[str, np.ndarray | Coded] = dict(table.finish(n, idx, vals))
    columns["ts"] = np.array(ts, dtype=np.int64)
    columns["end"] = np.array(end, dtype=np.int64)
    columns["name"] = _objects(names)
    columns["kind"] = np.array(kind_col, dtype=np.int8)
    columns["root"] = np.array(roots, dtype=bool)
    columns["service"] = _objects(services)
    columns["span_error"] = np.array(errors, dtype=bool)
    return RawBatch(n=n, columns=columns, source=NAME, read=read, dropped=dropped)


def _objects(values: list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _scalar(value, numeric: bool) -> object:
    which = value.WhichOneof("value")
    if which == "int_value":
        return value.int_value if numeric else str(value.int_value)
    if which == "double_value":
        return value.double_value if numeric else str(value.double_value)
    if which == "bool_value":
        return "true" if value.bool_value else "false"
    return None


# --- framing -------------------------------------------------------------------------------------------

def _chunks(path: Path, source: _ByteStream) -> Iterator[tuple[int, int, bytes]]:
    """Yield (start offset, end offset, bytes) chunks that each parse as one TracesData."""
    head = source.peek(8)
    if not head:
        raise InputError(path, "empty file")
    if head[0] == 0x0A:
        yield from _single_message_chunks(path, source)
    elif head[0] == 0x00:
        yield from _framed_chunks(path, source, big_endian=True)
    else:
        yield from _framed_chunks(path, source, big_endian=False)


def _single_message_chunks(path: Path, source: _ByteStream) -> Iterator[tuple[int, int, bytes]]:
    parts: list[bytes] = []
    size = 0
    start = source.offset
    while not source.at_eof():
        at = source.offset
        tag = source.varint()
        if tag != 0x0A:
            raise InputError(path, f"not OTLP protobuf: unexpected field tag {tag} at top level",
                             where=f"byte {at}")
        length = source.varint()
        payload = source.take(length)
        parts.append(b"\x0a" + _encode_varint(length) + payload)
        size += len(payload)
        if size >= CHUNK_BYTES:
            yield start, source.offset, b"".join(parts)
            parts, size, start = [], 0, source.offset
    if parts:
        yield start, source.offset, b"".join(parts)


def _framed_chunks(path: Path, source: _ByteStream, *, big_endian: bool) -> Iterator[tuple[int, int, bytes]]:
    parts: list[bytes] = []
    size = 0
    start = source.offset
    while not source.at_eof():
        at = source.offset
        try:
            length = int.from_bytes(source.take(4), "big") if big_endian else source.varint()
            payload = source.take(length)
        except InputError as exc:
            if at == 0:  # not even one frame: most likely not OTLP at all
                raise InputError(path, f"no known dump format (as OTLP protobuf: {exc.message})",
                                 where=exc.where) from None
            raise
        if payload[:1] not in (b"\x0a", b""):
            layout = "4-byte length" if big_endian else "varint length"
            what = "no known dump format (as OTLP protobuf" if at == 0 else "not OTLP protobuf ("
            raise InputError(path, f"{what}, {layout} framing expected a message starting with "
                                   f"resource_spans)", where=f"message at byte {at}")
        parts.append(payload)
        size += length
        if size >= CHUNK_BYTES:
            yield start, source.offset, b"".join(parts)
            parts, size, start = [], 0, source.offset
    if parts:
        yield start, source.offset, b"".join(parts)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class _ByteStream:
    """Buffered reads with varints, tracking the absolute offset for error messages."""

    def __init__(self, stream: BinaryIO, path: Path) -> None:
        self.stream, self.path = stream, path
        self.buf = b""
        self.pos = 0
        self.base = 0  # absolute offset of buf[0]

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def _fill(self, need: int) -> bool:
        while len(self.buf) - self.pos < need:
            data = self.stream.read(min(max(_BLOCK, need - (len(self.buf) - self.pos)), 64 * _BLOCK))
            if not data:
                return False
            self.base += self.pos
            self.buf = self.buf[self.pos:] + data
            self.pos = 0
        return True

    def peek(self, n: int) -> bytes:
        self._fill(n)
        return self.buf[self.pos:self.pos + n]

    def at_eof(self) -> bool:
        return not self._fill(1)

    def take(self, n: int) -> bytes:
        at = self.offset
        if n > _MAX_MESSAGE:
            raise InputError(self.path, f"not OTLP protobuf: implausible message length {n}",
                             where=f"byte {at}")
        if not self._fill(n):
            raise InputError(self.path,
                             f"truncated: a message of {n} bytes is cut short by the end of the file",
                             where=f"byte {at}")
        data = self.buf[self.pos:self.pos + n]
        self.pos += n
        return data

    def varint(self) -> int:
        at = self.offset
        self._fill(10)
        value = shift = 0
        for i in range(10):
            if self.pos + i >= len(self.buf):
                raise InputError(self.path, "truncated: the file ends inside a length prefix",
                                 where=f"byte {at}")
            byte = self.buf[self.pos + i]
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                self.pos += i + 1
                return value
        raise InputError(self.path, "not OTLP protobuf: malformed length prefix", where=f"byte {at}")
