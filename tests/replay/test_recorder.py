"""The recorder and the live counter, both listening to a worker's request hook: a per-worker Arrow stream,
appended once a second and readable after a crash, turned into Parquet at the end; live latency histograms."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from tracereplay.errors import InputError
from tracereplay.ingest.events import read_events
from tracereplay.replay.events import RequestEvent, RequestHook
from tracereplay.replay.live import LiveCounter
from tracereplay.replay.recorder import Recorder, UserCounts
from tracereplay.report import load_run
from tracereplay.rundir import REQUEST_SCHEMA, stream_batches


def record_some(recorder: Recorder | RequestHook, n: int, *, start: float) -> None:
    """``n`` requests 4 ms long, each sent 2 ms late; every tenth a 5xx, every twentieth refused."""
    fire = recorder.fire if isinstance(recorder, RequestHook) else recorder.record
    for i in range(n):
        t = start + i * 0.001
        kind = None if i % 10 else "connect" if i % 20 == 0 else "http_5xx"
        status = None if kind == "connect" else 500 if kind else 200
        detail = "connection refused" if kind == "connect" else None
        fire(RequestEvent("u1", "s1", "GET /x", "GET", "/x", "/x", status, t - 0.002, t, t + 0.004, kind, 12,
                          detail))


def test_the_stream_is_readable_before_the_end_and_parquet_after(tmp_path):
    hook, recorder, live = RequestHook(), Recorder(tmp_path, worker=3), LiveCounter(worker=3)
    hook.add_listener(recorder.record)
    hook.add_listener(live.record)
    now = time.monotonic()
    record_some(hook, 100, start=now)
    recorder.flush(UserCounts(active_users=7))
    first = live.interval(live.take(), UserCounts(active_users=7))
    record_some(hook, 50, start=now + 1)
    recorder.flush()
    live.interval(live.take())
    stream = tmp_path / "requests-3.arrows"
    # what a crash would leave: one stream, a complete batch a second, already in the file
    assert [b.num_rows for b in stream_batches(stream) if b.num_rows] == [100, 50]
    assert len(load_run(tmp_path).requests) == 150
    assert first.requests == 100 and first.errors == 10 and first.histogram.count == 100
    assert first.counts.active_users == 7 and live.requests == 150 and live.errors == 15

    merged = recorder.close()
    assert merged.name == "requests-3.parquet" and not list(tmp_path.glob("*.arrows"))
    frame = read_events(merged)  # a valid event table for every stage
    assert len(frame) == 150 and frame["worker"].eq(3).all()
    raw = pd.read_parquet(merged)
    assert list(raw.columns) == REQUEST_SCHEMA.names
    assert np.allclose(raw["latency_ms"], 4.0) and np.allclose(raw["latency_corrected_ms"], 6.0)
    assert ((raw["ts"] - raw["intended"]).dt.total_seconds() * 1e3).round(3).eq(2.0).all()
    assert abs((raw["ts"].iloc[0] - pd.Timestamp.now(tz="UTC")).total_seconds()) < 60  # wall clock
    assert raw["error"].sum() == 15 and raw["error_kind"].eq("http_5xx").sum() == 7
    refused = raw[raw["error_kind"] == "connect"]
    assert len(refused) == 8 and refused["error_detail"].eq("connection refused").all()
    assert refused["status"].isna().all()
    assert raw.loc[raw["error_kind"] != "connect", "error_detail"].isna().all()
    users = pd.read_parquet(tmp_path / "users-3.parquet")
    assert users["active_users"].tolist()[0] == 7 and users["requests"].tolist()[-1] == 150
    corrected = live.corrected
    assert corrected.percentile_ms(50) == corrected.percentile_ms(99) == raw["latency_corrected_ms"].max()
    assert live.measured.percentile_ms(99) == raw["latency_ms"].max()


def test_a_torn_last_batch_loses_only_that_second(tmp_path):
    """A worker killed while writing leaves half a batch at the end: every earlier second still reads."""
    recorder = Recorder(tmp_path)
    now = time.monotonic()
    for second in range(3):
        record_some(recorder, 40, start=now + second)
        recorder.flush()
    stream = tmp_path / "requests-0.arrows"
    size = stream.stat().st_size
    with open(stream, "r+b") as file:
        file.truncate(size - 100)  # into the last batch's body
    with pytest.warns(UserWarning, match="incomplete batch"):
        assert [b.num_rows for b in stream_batches(stream) if b.num_rows] == [40, 40]
    run = load_run(tmp_path)
    with pytest.warns(UserWarning, match="requests-0.arrows"):
        assert len(run.requests) == 80 and run.summary.total["count"] == 80


def test_a_stream_that_is_not_arrow_is_one_error_naming_it(tmp_path):
    (tmp_path / "requests-0.arrows").write_bytes(b"not an arrow stream at all")
    with pytest.raises(InputError, match=r"requests-0\.arrows"):
        load_run(tmp_path)


def test_close_without_rows_writes_an_empty_but_valid_file(tmp_path):
    merged = Recorder(tmp_path).close()
    assert len(pd.read_parquet(merged)) == 0
