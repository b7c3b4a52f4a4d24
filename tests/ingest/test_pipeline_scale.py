"""The pipeline after the readers: the same spans give the same event table whether a reader hands out
per-batch object arrays, per-batch dictionaries, or one dictionary shared (and growing) across the batches of
a file, as the compiled scanners do; per-value work is done once per file; the Parquet file keeps the
event-table contract."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from population import make_population, write_otlp, write_otlp_json

from tracereplay.ingest.events import EVENT_SCHEMA, read_events
from tracereplay.ingest.options import make_options
from tracereplay.ingest.pipeline import collect_batches, parquet_writer, table_batches, to_table
from tracereplay.ingest.raw import OBJECT_COLUMNS, Coded, Dictionary, RawBatch
from tracereplay.ingest.readers import native
from tracereplay.ingest.summary import FileSummary

T0 = 1_767_225_600 * 10**9
UUID = "3f2b8c1e-9a4d-4e2b-8c1e-9a4d4e2b8c1e"


def _spans(n: int, users: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Spans covering every identity, path and action rule, as columns (object columns: None = absent)."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    u = rng.integers(0, users, n)

    def objects(values: list[object]) -> np.ndarray:
        out = np.empty(n, dtype=object)
        out[:] = values
        return out

    def pick(options: list[object]) -> np.ndarray:
        return objects([options[k] for k in rng.integers(0, len(options), n)])

    # users 8 and 9 (mod 10) have no client address: 8 is named on some spans of its session (the others
    # borrow it), 9 only has a session id on two spans in three (the third is dropped)
    named = rng.random(n) < 0.3
    user = objects([f"{'usér' if k % 7 else 'user'}-{k}" if k % 10 < 6 or (k % 10 == 8 and m) else None
                    for k, m in zip(u, named, strict=True)])
    anonymous = user == None  # noqa: E711 (elementwise on an object array)
    client = objects([f"10.0.{k // 250}.{k % 250}" if k % 10 < 8 else None for k in u])
    agent = objects([f"agent-{k % 3}" if k % 2 else None for k in u])
    has_session = [k % 5 < 3 or k % 10 == 8 or (k % 10 == 9 and j % 3) for k, j in zip(u, i, strict=True)]
    session = objects([f"s-{k}-{j // (n // 4)}" if s else None
                       for k, j, s in zip(u, i, has_session, strict=True)])
    path = objects([[f"/users/{k}/posts", f"/users/{k}@mail.example.com", f"/items/{UUID}?token=x", None,
                     "/café/menü#top"][k % 5] for k in rng.integers(0, 50, n)])
    url = objects([f"https://shop.example/orders/{k}?q=1" if p is None else None
                   for k, p in zip(rng.integers(0, 40, n), path, strict=True)])
    ts = T0 + np.sort(rng.integers(0, 3 * 3600 * 10**9, n)) + rng.integers(0, 2, n) * 10**6
    ts[rng.random(n) < 0.01] = 0  # no timestamp: dropped
    service = pick(["web", "web", "web", "worker"])
    return {
        "ts": ts.astype(np.int64),
        "end": np.where(rng.random(n) < 0.1, 0, ts + rng.integers(10**5, 10**9, n)).astype(np.int64),
        "name": pick(["GET /users/{id}", "checkout", None]),
        "kind": np.full(n, 2, dtype=np.int8),
        "root": (rng.random(n) < 0.95) & (service == "web"),  # worker spans: not the entry service
        "service": service,
        "span_error": rng.random(n) < 0.02,
        "method": pick(["GET", "post", "PUT", None]),
        "route": pick(["/users/{id}/posts", None, None]),
        "path": path,
        "url": url,
        "status": rng.choice([200.0, 404.0, 503.0, np.nan], n),
        "user": user,
        "user_key": objects(["enduser.id" if v is not None else None for v in user]),
        "session": session,
        "client": objects([c if a else None for c, a in zip(client, anonymous, strict=True)]),
        "agent": objects([g if a else None for g, a in zip(agent, anonymous, strict=True)]),
    }


def _object_batches(spans: dict[str, np.ndarray], size: int) -> Iterator[RawBatch]:
    """What the Python readers give: per-batch object arrays."""
    n = len(spans["ts"])
    for start in range(0, n, size):
        columns = {name: column[start:start + size] for name, column in spans.items()}
        yield RawBatch(n=len(columns["ts"]), columns=columns, source="otlp", read=len(columns["ts"]))


def _shared_batches(spans: dict[str, np.ndarray], size: int, *, as_arrays: bool) -> Iterator[RawBatch]:
    """What the compiled scanners give: per string column one dictionary for the whole file that grows from
    batch to batch (with values no batch uses); ``as_arrays``: handed out as a new object array each time."""
    dictionaries = {name: Dictionary() for name in OBJECT_COLUMNS if name in spans}
    for number, batch in enumerate(_object_batches(spans, size)):
        for name, dictionary in dictionaries.items():
            codes = dictionary.intern(list(batch.columns[name]))
            dictionary.intern([f"unused-{name}-{number}-{k}" for k in range(50)])
            values = np.array(dictionary.values, dtype=object) if as_arrays else dictionary.values
            batch.columns[name] = Coded(codes, values)
        yield batch


def _table(batches: Iterator[RawBatch], **options: object):
    opts = make_options(salt=b"same salt", **options)
    return to_table(*collect_batches([(FileSummary(path="dump", format="otlp"), batches)], opts), opts)


@pytest.mark.parametrize("options", [{}, {"keep_user_ids": True, "span_kinds": "any"},
                                     {"span_name": "users", "session_gap": "5m"}])
def test_shared_dictionaries_give_the_same_table_as_per_batch_objects(options):
    spans = _spans(12_000, users=300)
    expected, expected_summary = _table(_object_batches(spans, 2_500), **options)
    assert expected.num_rows > 2_000 and expected_summary.dropped.get("no timestamp")
    if not options:
        assert set(expected_summary.dropped) == {"no timestamp", "not the entry service", "no user identity"}
        assert set(expected_summary.identity) == {"enduser.id", "fallback: client address + user agent",
                                                  "fallback: client address", "fallback: the session's user",
                                                  "fallback: session id"}
    shared = [_shared_batches(spans, 2_500, as_arrays=False), _shared_batches(spans, 2_500, as_arrays=True),
              _shared_batches(spans, 12_000, as_arrays=False)]
    for batches in shared:
        table, summary = _table(batches, **options)
        assert table.equals(expected)
        timing = {"seconds": 0, "spans_per_second": 0}
        assert {**summary.to_dict(), **timing} == {**expected_summary.to_dict(), **timing}


def test_a_shared_dictionary_is_translated_once_per_value_per_file():
    calls: list[str] = []

    def upper(value: str) -> str:
        calls.append(value)
        return value.upper()

    source: list[str] = ["get", "post"]
    into = Dictionary()
    first = into.translate(Coded(np.array([0, 1, 0, -1], dtype=np.int32), source), upper)
    source += ["put", "Get"]  # the reader's dictionary grows; earlier codes keep their meaning
    second = into.translate(Coded(np.array([3, 2, 0], dtype=np.int32), source), upper)
    third = into.translate(Coded(np.array([1, 1], dtype=np.int32), np.array(source, dtype=object)), upper)
    assert calls == ["get", "post", "put", "Get"]
    assert [into.values[c] if c >= 0 else None for c in [*first, *second, *third]] == \
        ["GET", "POST", "GET", None, "GET", "PUT", "GET", "POST", "POST"]


def test_parquet_reads_back_as_the_event_schema_with_many_row_groups(tmp_path):
    # > 4096 users and sessions: row groups carry only the labels they use
    spans = _spans(30_000, users=9_000)
    opts = make_options(salt=b"k", row_group_rows=4_000, keep_user_ids=True)  # non-ASCII user labels
    expected, _ = _table(_object_batches(spans, 7_000), row_group_rows=4_000, keep_user_ids=True)
    dump = (FileSummary(path="dump", format="otlp"), _object_batches(spans, 7_000))
    store, summary = collect_batches([dump], opts)
    out = tmp_path / "events.parquet"
    with parquet_writer(out) as writer:
        for batch in table_batches(store, summary, opts, b"same salt"):
            writer.write_batch(batch)
    back = pq.read_table(out)
    assert back.schema.equals(EVENT_SCHEMA) and pq.ParquetFile(out).metadata.num_row_groups > 5
    assert back.equals(expected)
    frame = pd.read_parquet(out)
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]" and frame["user"].map(type).eq(str).all()
    events = read_events(out)
    assert len(events) == expected.num_rows and events["ts"].is_monotonic_increasing
    assert events["path"].dropna().str.contains("token=|@|#").sum() == 0  # queries and e-mails redacted
    assert {"/café/menü"} <= set(events["path"]) and events["user"].str.startswith("usér-").any()


@pytest.mark.skipif(not native.available(), reason="the compiled scanners are not built")
def test_ingesting_otlp_dumps_imports_neither_pandas_nor_arrow_compute(tmp_path):
    # pandas alone costs ~0.4 s of a 2.5 s budget for 1 M spans
    population = make_population()
    protobuf = write_otlp(tmp_path / "t.pb", population)
    for dump in (protobuf, write_otlp_json(tmp_path / "t.jsonl", population, lines=True)):
        code = (f"import sys; from tracereplay.ingest import ingest; ingest([{str(dump)!r}], "
                f"{str(tmp_path / 'events.parquet')!r}, salt=b'k'); "
                "print(sorted({'pandas', 'pyarrow.compute'} & set(sys.modules)))")
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert run.stdout.strip() == "[]", (dump.name, run.stdout, run.stderr)
