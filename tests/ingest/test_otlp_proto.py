"""OTLP protobuf layouts: one message, the collector's 4-byte framing, varint framing, gzip and zstd."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import zstandard
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
from population import make_population, sdk_spans

from tracereplay.errors import InputError
from tracereplay.ingest import read_dumps
from tracereplay.ingest.events import read_events
from tracereplay.ingest.readers.otlp_proto import _encode_varint


@pytest.fixture(scope="module")
def messages() -> list[bytes]:
    """Three export requests, as a batch span processor would send them."""
    population = make_population()
    thirds = [population[i::3] for i in range(3)]
    return [encode_spans(sdk_spans(part)).SerializeToString() for part in thirds]


@pytest.fixture(scope="module")
def expected(messages, tmp_path_factory) -> list[int]:
    path = tmp_path_factory.mktemp("one") / "whole.pb"
    whole = TracesData()
    for message in messages:
        whole.MergeFromString(message)
    path.write_bytes(whole.SerializeToString())
    return read_dumps(path, salt=b"k")["ts"].astype("int64").tolist()


def _framed_4(messages: list[bytes]) -> bytes:
    return b"".join(len(m).to_bytes(4, "big") + m for m in messages)


def _framed_varint(messages: list[bytes]) -> bytes:
    return b"".join(_encode_varint(len(m)) + m for m in messages)


@pytest.mark.parametrize("scanner", [False, True], ids=["decoded", "scanned"])
@pytest.mark.parametrize("layout", ["concatenated", "4-byte", "varint", "gzip", "zstd", "zstd-4-byte"])
def test_layouts_read_the_same_spans(tmp_path, messages, expected, layout, scanner, monkeypatch):
    from tracereplay.ingest.readers import otlp_proto

    if scanner:
        monkeypatch.setattr(otlp_proto, "USE_SCANNER", True)
    data = {
        "concatenated": lambda: b"".join(messages),  # concatenated messages merge: still one TracesData
        "4-byte": lambda: _framed_4(messages),
        "varint": lambda: _framed_varint(messages),
        "gzip": lambda: gzip.compress(b"".join(messages)),
        "zstd": lambda: zstandard.ZstdCompressor().compress(b"".join(messages)),
        # the collector compresses each framed message as its own zstd frame
        "zstd-4-byte": lambda: b"".join(
            zstandard.ZstdCompressor().compress(_framed_4([m])) for m in messages),
    }[layout]()
    path = tmp_path / "dump.bin"
    path.write_bytes(data)
    events = read_dumps(path, salt=b"k")
    assert events["ts"].astype("int64").tolist() == expected
    assert set(events["source"]) == {"otlp"}


@pytest.mark.parametrize("scanner", [False, True], ids=["decoded", "scanned"])
def test_truncated_file_names_the_offset(tmp_path, messages, scanner, monkeypatch):
    from tracereplay.ingest.readers import otlp_proto

    monkeypatch.setattr(otlp_proto, "USE_SCANNER", scanner)
    path = tmp_path / "cut.pb"
    path.write_bytes(_framed_4(messages)[:-10])
    with pytest.raises(InputError, match=r"cut\.pb: byte \d+: truncated"):
        read_dumps(path)


@pytest.mark.parametrize("scanner", [False, True], ids=["decoded", "scanned"])
def test_corrupt_message_is_reported(tmp_path, messages, scanner, monkeypatch):
    from tracereplay.ingest.readers import otlp_proto

    monkeypatch.setattr(otlp_proto, "USE_SCANNER", scanner)
    data = bytearray(messages[0])
    data[40:60] = b"\xff" * 20
    path = tmp_path / "bad.pb"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"bad\.pb: (bytes|byte) \d+"):
        read_dumps(path)


def test_corrupt_gzip_is_reported(tmp_path, messages):
    data = gzip.compress(messages[0])
    path = tmp_path / "bad.pb.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="gzip"):
        read_dumps(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pb"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        read_dumps(path)


def _batches_equal(path, options, monkeypatch):
    from tracereplay.ingest.readers import otlp_proto
    from tracereplay.ingest.readers.otlp_proto import read, read_decoded
    from tracereplay.ingest.sniff import open_dump

    monkeypatch.setattr(otlp_proto, "USE_SCANNER", True)

    with open_dump(path) as stream:
        fast = list(read(path, stream, options))
    with open_dump(path) as stream:
        slow = list(read_decoded(path, stream, options))
    assert [b.read for b in fast] == [b.read for b in slow]
    for a, b in zip(fast, slow, strict=True):
        assert a.n == b.n and a.dropped == b.dropped
        for name in ("ts", "end", "kind", "root", "span_error", "status"):
            assert np.array_equal(a.get(name), b.get(name), equal_nan=name == "status"), name
        for name in ("name", "service", "method", "route", "path", "user", "user_key", "session"):
            assert list(a.coded(name).to_objects()) == list(b.coded(name).to_objects()), name
        # fallback columns: the scanner reads them only where the column they stand in for is missing
        for name, primary in (("url", "path"), ("client", "user"), ("agent", "user")):
            needed = ~b.coded(primary).present
            assert list(a.coded(name).to_objects()[needed]) == list(b.coded(name).to_objects()[needed]), name


@pytest.mark.parametrize("semconv", [True, False])
def test_compiled_scanner_matches_protobuf_decoding(tmp_path, semconv, monkeypatch):
    from tracereplay.ingest.options import make_options

    population = make_population()
    path = tmp_path / "t.pb"
    path.write_bytes(encode_spans(sdk_spans(population, new_semconv=semconv, extra_downstream=True))
                     .SerializeToString())
    _batches_equal(path, make_options(), monkeypatch)
    _batches_equal(path, make_options(span_kinds=["any"], user_keys=["user_agent.original", "enduser.id"]),
                   monkeypatch)


def test_without_the_extension_ingest_warns_once_and_reads_the_same(tmp_path):
    """A machine without a C compiler installs without the scanners: same table, slower, and it says so."""
    import subprocess
    import sys
    from pathlib import Path

    dump = Path(__file__).parents[2] / "sample_traces" / "demo.otlp.pb"
    code = (
        "import sys\n"
        "sys.modules['tracereplay.ingest._native'] = None  # what an install without a compiler gives\n"
        "from tracereplay.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    out = tmp_path / "slow.parquet"
    run = subprocess.run([sys.executable, "-c", code, "ingest", str(dump), "-o", str(out), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("tracereplay: warning: the compiled OTLP scanners were not built") == 1
    assert "Traceback" not in run.stderr
    salt = bytes.fromhex(out.with_name(out.name + ".salt").read_text().strip())
    assert read_events(out).equals(read_dumps(dump, salt=salt))
