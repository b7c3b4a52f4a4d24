"""The recorder: per-second Parquet parts that survive a crash, merged at the end; vectorised HDR."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tracereplay.ingest.events import read_events
from tracereplay.replay.histogram import new_histogram, record_many
from tracereplay.replay.recorder import REQUEST_SCHEMA, Recorder, UserCounts


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3_600_000_000), min_size=1, max_size=300))
def test_record_many_matches_record_value(values):
    one, many = new_histogram(), new_histogram()
    for v in values:
        one.record_value(v)
    record_many(many, np.asarray(values))
    assert list(one.counts) == list(many.counts)
    assert one.get_total_count() == many.get_total_count()
    assert (one.get_min_value(), one.get_max_value()) == (many.get_min_value(), many.get_max_value())


def record_some(recorder: Recorder, n: int, *, start: float) -> None:
    for i in range(n):
        t = start + i * 0.001
        kind = "http_5xx" if i % 10 == 0 else None
        recorder.record(
            "u1", "s1", "GET /x", "GET", "/x", "/x", 500 if kind else 200, t - 0.002, t, t + 0.004, kind, 12
        )


def test_parts_are_readable_before_the_end_and_merged_after(tmp_path):
    recorder = Recorder(tmp_path, worker=3)
    now = time.monotonic()
    record_some(recorder, 100, start=now)
    first = recorder.flush(UserCounts(active_users=7))
    record_some(recorder, 50, start=now + 1)
    recorder.flush()
    parts = sorted(tmp_path.glob("requests-3.part*.parquet"))
    assert len(parts) == 2  # what a crash would leave: complete files, one a second
    assert len(pd.concat(pd.read_parquet(p) for p in parts)) == 150
    assert first.requests == 100 and first.errors == 10 and first.histogram.get_total_count() == 100

    merged = recorder.close()
    assert merged.name == "requests-3.parquet" and not list(tmp_path.glob("*.part*"))
    frame = read_events(merged)  # a valid event table for every stage
    assert len(frame) == 150 and frame["worker"].eq(3).all()
    raw = pd.read_parquet(merged)
    assert list(raw.columns) == REQUEST_SCHEMA.names
    assert np.allclose(raw["latency_ms"], 4.0) and np.allclose(raw["latency_corrected_ms"], 6.0)
    assert ((raw["ts"] - raw["intended"]).dt.total_seconds() * 1e3).round(3).eq(2.0).all()
    assert abs((raw["ts"].iloc[0] - pd.Timestamp.now(tz="UTC")).total_seconds()) < 60  # wall clock
    assert raw["error"].sum() == 15 and raw["error_kind"].eq("http_5xx").sum() == 15
    users = pd.read_parquet(tmp_path / "users-3.parquet")
    assert users["active_users"].tolist()[0] == 7 and users["requests"].tolist()[-1] == 150
    assert recorder.corrected.get_value_at_percentile(50) == recorder.corrected.get_value_at_percentile(99)


def test_close_without_rows_writes_an_empty_but_valid_file(tmp_path):
    merged = Recorder(tmp_path).close()
    assert len(pd.read_parquet(merged)) == 0
