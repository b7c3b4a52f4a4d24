"""Random and mutated bytes to every reader: a result or one InputError, never another exception."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from population import make_population, write_otlp

from tracereplay.errors import InputError
from tracereplay.ingest import read_dumps

SAMPLES = Path(__file__).parents[2] / "sample_traces"
SEEDS = {
    "otlp-json": SAMPLES / "otlp-json" / "traces.jsonl",
    "zipkin": SAMPLES / "zipkin" / "spans.json",
    "jaeger": SAMPLES / "jaeger" / "traces.json",
    "segment": SAMPLES / "segment" / "events.jsonl",
    "mixpanel": SAMPLES / "mixpanel" / "export.jsonl",
    "snowplow": SAMPLES / "snowplow" / "enriched.tsv",
    "csv": SAMPLES / "csv" / "events.csv",
    "access-log": Path(__file__).parent / "data" / "apache_logs.head",
    "har": Path(__file__).parent / "data" / "chrome-postdata.har",
}
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def otlp_bytes(tmp_path_factory) -> bytes:
    population = make_population(users=2, sessions_per_user=1)
    path = write_otlp(tmp_path_factory.mktemp("fuzz") / "seed.pb", population)
    return path.read_bytes()


def _seed(fmt: str, otlp_bytes: bytes) -> bytes:
    if fmt.startswith("otlp") and fmt != "otlp-json":
        return otlp_bytes
    return SEEDS[fmt.removesuffix("-py")].read_bytes()[:6000]


def _ingest_or_input_error(tmp_path: Path, data: bytes, fmt: str) -> None:
    from tracereplay.ingest.readers import accesslog, otlp_proto

    path = tmp_path / "fuzzed.dump"
    path.write_bytes(data)
    scanned, native = otlp_proto.USE_SCANNER, accesslog._native
    # "otlp" fuzzes the protobuf-decoding reference, "otlp-scanned" the compiled scanner; "access-log-py" the
    # Python twin of the line scanner
    otlp_proto.USE_SCANNER = fmt == "otlp-scanned"
    if fmt == "access-log-py":
        accesslog._native = None
    fmt = {"otlp-scanned": "otlp", "access-log-py": "access-log"}.get(fmt, fmt)
    try:
        read_dumps(path, format=fmt, salt=b"k")
    except InputError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
    finally:
        otlp_proto.USE_SCANNER, accesslog._native = scanned, native


mutation = st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert", "delete"]), st.integers(0, 10**6),
                              st.binary(min_size=1, max_size=8)), min_size=1, max_size=6)


def _mutate(data: bytes, steps: list[tuple[str, int, bytes]]) -> bytes:
    out = bytearray(data)
    for op, where, chunk in steps:
        at = where % (len(out) + 1)
        if op == "flip" and out:
            out[at % len(out)] ^= chunk[0] or 0xFF
        elif op == "cut":
            del out[at:]
        elif op == "insert":
            out[at:at] = chunk
        elif op == "delete":
            del out[at:at + len(chunk)]
    return bytes(out)


@pytest.mark.parametrize("fmt", ["otlp", "otlp-scanned", *SEEDS, "access-log-py", "auto"])
@FUZZ
@given(data=st.binary(max_size=512))
def test_random_bytes(tmp_path, fmt, data):
    _ingest_or_input_error(tmp_path, data, fmt)


@pytest.mark.parametrize("fmt", ["otlp", "otlp-scanned", *SEEDS, "access-log-py"])
@FUZZ
@given(steps=mutation, compress=st.booleans())
def test_mutated_files(tmp_path, otlp_bytes, fmt, steps, compress):
    data = _mutate(_seed(fmt, otlp_bytes), steps)
    if compress:
        data = gzip.compress(data)
    _ingest_or_input_error(tmp_path, data, fmt)
    _ingest_or_input_error(tmp_path, data, "auto")
