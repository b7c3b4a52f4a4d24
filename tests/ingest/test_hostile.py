"""Hostile dumps through the real CLI, one subprocess each: bounded in depth, memory and time, one line out.

Every case runs ``python -m tracereplay ingest`` with its address space capped (``RLIMIT_AS``) and a
timeout, and must end with exit status 1, exactly one line on stderr of the form
``tracereplay: error: FILE: …``, no traceback, and an existing output file left as it was.
"""

from __future__ import annotations

import gzip
import resource
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

#: the address space a hostile ingest may use (the interpreter with numpy and pyarrow maps ~1 GB of it)
MEMORY_CAP = 3 << 30
TIMEOUT_S = 60
JSON_FORMATS = ("otlp-json", "jaeger", "zipkin", "segment", "mixpanel", "snowplow", "har")


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _ingest(dump: Path, out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tracereplay", "ingest", str(dump), "-o", str(out), *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, preexec_fn=_capped)


def _assert_one_line_error(result: subprocess.CompletedProcess[str], dump: Path, out: Path) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr[-2000:]
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith(f"tracereplay: error: {dump}: "), lines[0]
    assert "Traceback" not in result.stderr
    assert out.read_bytes() == b"previous output", "an earlier output was lost"
    return lines[0]


@pytest.fixture
def out(tmp_path) -> Path:
    path = tmp_path / "events.parquet"
    path.write_bytes(b"previous output")
    return path


def _nested_objects(path: Path, depth: int = 5_000) -> Path:
    path.write_text('{"a":' * depth + "1" + "}" * depth)
    return path


def _nested_arrays(path: Path, depth: int = 200_000) -> Path:
    path.write_text("[" * depth + "]" * depth)
    return path


@pytest.mark.parametrize("make", [_nested_objects, _nested_arrays], ids=["5000 objects", "200000 arrays"])
@pytest.mark.parametrize("format_name", ("auto", *JSON_FORMATS))
def test_deep_nesting_is_one_line(tmp_path, out, make, format_name):
    dump = make(tmp_path / "deep.json")
    _assert_one_line_error(_ingest(dump, out, "--format", format_name), dump, out)


def test_deep_nesting_inside_a_known_format(tmp_path, out):
    """The sniffer sees OTLP/JSON; the reader meets the nesting further in."""
    dump = tmp_path / "deep.jsonl"
    dump.write_text('{"resourceSpans": [' + '{"a":' * 5_000 + "1" + "}" * 5_000 + "]}\n")
    _assert_one_line_error(_ingest(dump, out), dump, out)


@pytest.mark.parametrize("prefix", [
    b"\x00\xff\xff\xff" + b"\x0a\x05hello",            # Collector framing: a 4-byte length of ~4 GB
    b"\xff\xff\xff\xff\x0f" + b"\x0a" * 100,           # varint framing: a length of ~34 GB
    b"\x0a\xff\xff\xff\xff\x0f" + b"x" * 100,          # one message whose first field claims ~34 GB
], ids=["4-byte", "varint", "field"])
def test_length_prefixes_claiming_gigabytes(tmp_path, out, prefix):
    dump = tmp_path / "claims.pb"
    dump.write_bytes(prefix)
    _assert_one_line_error(_ingest(dump, out), dump, out)


def _gzip_bomb(path: Path, content: bytes) -> Path:
    member = gzip.compress(content * ((16 << 20) // len(content)), 9)
    path.write_bytes(member * 64)  # concatenated members: 1 GiB out of ~1 MB
    return path


def _zstd_bomb(path: Path, content: bytes) -> Path:
    frame = zstandard.ZstdCompressor(level=19).compress(content * ((64 << 20) // len(content)))
    path.write_bytes(frame * 64)  # concatenated frames: 4 GiB out of ~100 KB
    return path


@pytest.mark.parametrize("bomb", [_gzip_bomb, _zstd_bomb], ids=["gzip", "zstd"])
@pytest.mark.parametrize(("content", "format_name", "expected"), [
    (b"\x00", "auto", "no known dump format"),              # the protobuf reader refuses the first bytes
    (b"\x00", "access-log", "decompression bomb"),          # binary junk, one over-long line after another
    (b"a", "access-log", "decompression bomb"),             # one line of gigabytes: skipped, never held
    (b"x,y\n", "csv", "no ts column"),                      # the header alone is refused
    (b'{"a": 1}\n', "segment", "not a Segment event"),      # the reader stops at the first record
], ids=["zeros", "junk lines", "one long line", "csv", "json lines"])
def test_decompression_bombs_stop_early(tmp_path, out, bomb, content, format_name, expected):
    dump = bomb(tmp_path / "bomb", content)
    line = _assert_one_line_error(_ingest(dump, out, "--format", format_name), dump, out)
    assert expected in line


def test_an_access_log_line_of_tens_of_megabytes_is_skipped_and_counted(tmp_path):
    good = '127.0.0.1 - - [17/May/2015:10:05:03 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl/8"\n'
    dump = tmp_path / "access.log"
    with open(dump, "w") as stream:
        stream.write(good * 3)
        stream.write('127.0.0.1 - - [17/May/2015:10:05:04 +0000] "GET /' + "x" * (40 << 20)
                     + ' HTTP/1.1" 200 5\n')
        stream.write(good * 2)
    out = tmp_path / "events.parquet"
    result = _ingest(dump, out, "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"spans_kept": 5' in result.stdout
    assert '"malformed: over-long line": 1' in result.stdout


def test_a_parquet_table_naming_a_column_twice_is_refused(tmp_path, out):
    """Two ``user`` columns: which one is the user is not ours to guess (it used to drop every row)."""
    dump = tmp_path / "table.parquet"
    columns = [pa.array(["2026-01-01T00:00:00Z"]), pa.array(["u1"]), pa.array(["u2"]), pa.array(["view"])]
    pq.write_table(pa.table(columns, names=["ts", "user", "user", "action"]), dump)
    line = _assert_one_line_error(_ingest(dump, out), dump, out)
    assert "column 'user' appears more than once" in line


def test_a_json_field_of_tens_of_megabytes_is_bounded(tmp_path, out):
    dump = tmp_path / "events.jsonl"
    dump.write_text('{"type": "track", "userId": "u1", "event": "' + "e" * (40 << 20) + '", '
                    '"timestamp": "2026-01-01T00:00:00Z"}\n')
    result = _ingest(dump, out, "--keep-user-ids")
    assert result.returncode in (0, 1), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
