"""Opening dumps (plain, gzip or zstd, decided from the bytes) and telling their format from their content."""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from tracereplay.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
PARQUET_MAGIC = b"PAR1"
HEAD_BYTES = 64 * 1024
#: decompression bombs: past BOMB_FLOOR bytes out, more than BOMB_RATIO bytes out per byte in is refused.
#: Real dumps compress 5-50× (access logs ~10-20× with gzip, OTLP ~10× with zstd); gzip tops out at ~1030×.
BOMB_RATIO = 500
BOMB_FLOOR = 64 << 20
#: the start of a Common/Combined Log Format line: host ident user [dd/Mon/yyyy:hh:mm:ss zone] "
ACCESS_LOG_LINE = re.compile(
    rb"\S+ \S+ \S+ \[[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\] \"")


@runtime_checkable
class Peekable(Protocol):
    """A buffered stream that shows its next bytes without consuming them (what :func:`open_dump` yields)."""

    def peek(self, size: int = 0, /) -> bytes: ...


@runtime_checkable
class ReadsInto(Protocol):
    """A stream that reads into a caller's buffer (all of io's binary streams, which ``BinaryIO`` omits)."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


@contextmanager
def open_dump(path: str | Path) -> Iterator[BinaryIO]:
    """A binary stream of the dump's (decompressed) content. Raises InputError for missing or empty files."""
    source = Path(path)
    if not source.exists():
        raise InputError(source, "no such file")
    if source.is_dir():
        raise InputError(source, "is a directory, not a dump file")
    if source.stat().st_size == 0:
        raise InputError(source, "empty file")
    with open(source, "rb") as raw:
        magic = raw.read(4)
        raw.seek(0)
        if magic.startswith(GZIP_MAGIC):
            with gzip.GzipFile(fileobj=raw) as stream:
                guarded = _Guarded(stream, source, "gzip", raw)
                yield io.BufferedReader(guarded, buffer_size=1 << 20)
        elif magic == ZSTD_MAGIC:
            import zstandard

            # read_across_frames: the collector's file exporter may append several zstd frames
            with zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as stream:
                guarded = _Guarded(stream, source, "zstd", raw)
                yield io.BufferedReader(guarded, buffer_size=1 << 20)
        else:
            yield raw


class _Reads(Protocol):
    """A decompressor's output stream (gzip's, zstandard's)."""

    def read(self, size: int = -1, /) -> bytes: ...


class _Guarded(io.RawIOBase):
    """A decompressing stream whose corruption errors become InputError naming the file, and which refuses
    to expand past :data:`BOMB_RATIO` times the compressed bytes read (``raw``: the compressed file)."""

    def __init__(self, inner: _Reads, path: Path, codec: str, raw: BinaryIO) -> None:
        self.inner, self.path, self.codec, self.raw = inner, path, codec, raw
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        try:
            data = self.inner.read(size)
        except (OSError, EOFError, ValueError) as exc:
            raise InputError(self.path, f"corrupt or truncated {self.codec} data ({exc})",
                             where=f"decompressed byte {self.position}") from None
        except Exception as exc:  # zstandard.ZstdError does not derive from OSError
            raise InputError(self.path, f"corrupt or truncated {self.codec} data ({exc})",
                             where=f"decompressed byte {self.position}") from None
        self.position += len(data)
        if self.position > BOMB_FLOOR and self.position > BOMB_RATIO * max(self.raw.tell(), 1):
            raise InputError(self.path, f"{self.codec} data expands more than {BOMB_RATIO}× (a decompression "
                             "bomb?); decompress it yourself if it is real", where=f"decompressed byte "
                             f"{self.position}")
        return data


def read_head(path: str | Path) -> bytes:
    """The first bytes of the decompressed content (for format detection)."""
    with open_dump(path) as stream:
        head = stream.read(HEAD_BYTES)
    if not head:
        raise InputError(path, "empty file (nothing after decompression)")
    return head


def detect_format(path: str | Path, head: bytes) -> str:
    """The reader name for a dump, from its first bytes. Raises InputError when nothing matches."""
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        raise InputError(path, "empty file (only white space)")
    if text[:1] in (b"{", b"["):
        return _detect_json(path, text)
    if _looks_like_access_log(text):
        return "access-log"
    if _looks_like_text(text):
        first_line = text.split(b"\n", 1)[0]
        if first_line.count(b"\t") >= 100:  # Snowplow enriched TSV has 131 tab-separated fields
            return "snowplow"
        if b"," in first_line or b"\t" in first_line or b";" in first_line:
            return "csv"
        raise InputError(path, "text that is neither JSON, CSV nor Snowplow TSV (use --format to say which)")
    return "otlp"


#: a HAR document: ``{"log": {`` first (every exporter writes ``log`` as the only top-level key)
HAR_START = re.compile(r'\s*\{\s*"log"\s*:\s*\{')


def _looks_like_access_log(text: bytes) -> bool:
    """Most of the first (up to 20) lines start like Common/Combined Log Format lines (a junk line or a
    cut last line does not hide the format)."""
    lines = [line for line in text.split(b"\n")[:21] if line.strip()]
    if len(lines) > 1 and not text.endswith(b"\n"):
        lines = lines[:-1]  # the head may end mid-line
    hits = sum(1 for line in lines[:20] if ACCESS_LOG_LINE.match(line))
    return hits > 0 and 2 * hits > min(len(lines), 20)


def _looks_like_text(data: bytes) -> bool:
    sample = data[:4096]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # a multibyte character cut at the end of the sample is fine
            return False
    return b"\x00" not in sample


def _detect_json(path: str | Path, text: bytes) -> str:
    first = _first_json_value(text)
    if isinstance(first, dict) and isinstance(first.get("result"), dict):
        first = first["result"]  # the Jaeger api_v3 wrapper
    if isinstance(first, dict) and isinstance(first.get("log"), dict):
        return "har"
    if isinstance(first, dict):
        keys = set(first)
        if "resourceSpans" in keys or "resource_spans" in keys:
            return "otlp-json"
        if "data" in keys and isinstance(first["data"], list):
            return "jaeger"
        if "traceID" in keys and "spans" in keys:
            return "jaeger"
        if "traceID" in keys and "spanID" in keys:
            return "jaeger"
        if "traceId" in keys and ("localEndpoint" in keys or "remoteEndpoint" in keys or "id" in keys):
            return "zipkin"
        batch = first.get("batch")
        if isinstance(batch, list) and batch and isinstance(batch[0], dict):  # Segment's batch document
            keys = set(batch[0])
        if "type" in keys and ("userId" in keys or "anonymousId" in keys):
            return "segment"
        if "event" in keys and isinstance(first.get("properties"), dict) and (
            "distinct_id" in first["properties"] or "time" in first["properties"]
        ):
            return "mixpanel"
        if "event_id" in keys and ("domain_userid" in keys or "collector_tstamp" in keys or "app_id" in keys):
            return "snowplow"
    raise InputError(path, "JSON of no known dump format (use --format to say which)")


def _first_json_value(text: bytes) -> object:
    """The first JSON value of a document or of JSON lines; for an array, its first element."""
    if text[:1] == b"[":
        # a span array: decode just the first element with a raw decoder on a bounded prefix
        decoder = json.JSONDecoder()
        body = text[1:].decode("utf-8", "replace").lstrip()
        if body.startswith("]"):
            return None
        try:
            value, _ = decoder.raw_decode(body)
        except (json.JSONDecodeError, RecursionError):  # nesting deeper than the interpreter's stack
            return None
        return value
    line = text.split(b"\n", 1)[0]
    for candidate in (line, text):
        try:
            return json.loads(candidate)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            continue
    # a single document larger than the head: find its first keys without decoding all of it
    prefix = text.decode("utf-8", "replace")
    if HAR_START.match(prefix):
        return {"log": {}}
    for key in ("resourceSpans", "resource_spans", "data", "result"):
        if f'"{key}"' in prefix[:2048]:
            return {key: [] if key != "result" else {"resourceSpans": []}}
    return None
