"""Summaries checked against an independent pandas/numpy computation on known data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracereplay.histogram import RELATIVE_PRECISION
from tracereplay.report import Latency, load_run, summarize

from .conftest import nearest_rank, random_workers, requests_frame

PERCENTILES = {"p50_ms": 50, "p90_ms": 90, "p95_ms": 95, "p99_ms": 99, "p999_ms": 99.9}


def assert_percentile(got: float, exact: float) -> None:
    assert exact <= got <= exact * (1 + RELATIVE_PRECISION) + 0.0005, (got, exact)


def test_known_samples_give_exact_counts_rates_and_percentiles(make_run) -> None:
    # 1..100 ms for one action, 1000 ms once for another: nearest-rank percentiles are the sample values
    latency = np.concatenate([np.arange(1, 101, dtype=float), [1000.0]])
    actions = ["GET /a"] * 100 + ["POST /b"]
    kinds = [None] * 95 + ["http_5xx"] * 3 + ["timeout", "connect", "http_5xx"]
    frame = requests_frame(
        actions=actions, latency_ms=latency, offsets_s=np.linspace(0, 9, 101), error_kind=kinds
    )
    summary = summarize(load_run(make_run([frame], duration_s=10.0)))
    a = summary.actions.set_index("action").loc["GET /a"]
    assert (a["count"], a["errors"]) == (100, 5)
    assert a["error_rate"] == pytest.approx(0.05)
    assert a["rps"] == pytest.approx(10.0)
    assert (a["p50_ms"], a["p90_ms"], a["p95_ms"], a["p99_ms"], a["p999_ms"]) == (50, 90, 95, 99, 100)
    assert a["max_ms"] == 100 and a["mean_ms"] == pytest.approx(50.5)
    assert summary.total["count"] == 101 and summary.total["errors"] == 6
    assert summary.total["max_ms"] == 1000.0
    assert summary.errors_by_kind("GET /a") == {"http_5xx": 3, "timeout": 1, "connect": 1}
    assert summary.errors_by_kind() == {"connect": 1, "http_5xx": 4, "timeout": 1}


def test_random_run_matches_pandas_groupby(make_run) -> None:
    rng = np.random.default_rng(11)
    workers = random_workers(rng, n=4000, workers=3)
    summary = summarize(load_run(make_run(workers, duration_s=10.0)))
    everything = pd.concat(workers, ignore_index=True)
    expected = everything.groupby("action").agg(
        count=("action", "size"),
        errors=("error", "sum"),
        max_ms=("latency_corrected_ms", "max"),
        mean_ms=("latency_corrected_ms", "mean"),
    )
    got = summary.actions.set_index("action")
    assert got.index.tolist() == sorted(expected.index)
    for action, row in expected.iterrows():
        assert got.loc[action, "count"] == row["count"]
        assert got.loc[action, "errors"] == row["errors"]
        assert got.loc[action, "rps"] == pytest.approx(row["count"] / 10.0)
        assert got.loc[action, "max_ms"] == row["max_ms"]
        assert got.loc[action, "mean_ms"] == pytest.approx(row["mean_ms"])
        samples = everything.loc[everything["action"] == action, "latency_corrected_ms"].to_numpy()
        for key, q in PERCENTILES.items():
            assert_percentile(got.loc[action, key], nearest_rank(samples, q))
    total = everything["latency_corrected_ms"].to_numpy()
    for key, q in PERCENTILES.items():
        assert_percentile(summary.total[key], nearest_rank(total, q))
    assert summary.total["error_rate"] == pytest.approx(everything["error"].mean())


def test_corrected_is_the_default_and_measured_is_kept(make_run) -> None:
    latency = np.full(50, 10.0)
    wait = np.concatenate([np.zeros(25), np.full(25, 200.0)])  # half the requests were sent 200 ms late
    frame = requests_frame(
        actions=["GET /x"] * 50, latency_ms=latency, offsets_s=np.arange(50) * 0.1, corrected_extra_ms=wait
    )
    run = load_run(make_run([frame]))
    corrected = summarize(run)
    measured = summarize(run, latency=Latency.MEASURED)
    assert corrected.total["p99_ms"] == 210.0 and corrected.total["p50_ms"] == 10.0
    assert measured.total["p99_ms"] == 10.0
    assert corrected.latency["measured"].loc["GET /x", "max_ms"] == 10.0
    assert corrected.to_dict()["actions"][0]["measured"]["p99_ms"] == 10.0


def test_sessions_view_merges_sessions_across_files_and_row_groups(make_run) -> None:
    # session s1 spans both workers' files: three actions from 0 s to 2 s + 100 ms
    w0 = requests_frame(
        actions=["GET /a", "GET /b"],
        latency_ms=np.array([100.0, 100.0]),
        offsets_s=np.array([0.0, 1.0]),
        sessions=["s1", "s1"],
    )
    w1 = requests_frame(
        actions=["GET /a", "GET /a"],
        latency_ms=np.array([100.0, 50.0]),
        offsets_s=np.array([2.0, 5.0]),
        sessions=["s1", "s2"],
        worker=1,
    )
    sessions = summarize(load_run(make_run([w0, w1]))).sessions
    assert sessions["sessions"] == 2
    assert sessions["actions_per_session"]["max"] == 3
    assert sessions["actions_per_session"]["mean"] == pytest.approx(2.0)
    assert sessions["session_duration_s"]["max"] == pytest.approx(2.1)
    assert sessions["session_duration_s"]["p50"] == pytest.approx(0.05)


def test_over_time_buckets(make_run) -> None:
    # 10 requests a second for 4 s, the third second all failing and slow; 2 users then 4
    offsets = np.arange(40) * 0.1
    slow = (offsets >= 2) & (offsets < 3)
    frame = requests_frame(
        actions=["GET /t"] * 40,
        latency_ms=np.where(slow, 500.0, 5.0),
        offsets_s=offsets,
        error_kind=["http_5xx" if s else None for s in slow],
    )
    run = load_run(make_run([frame], duration_s=4.0, users=[[2, 2, 4, 4]]))
    table = summarize(run, bucket="1s").over_time
    assert table["requests"].tolist() == [10, 10, 10, 10]
    assert table["rps"].tolist() == [10.0] * 4
    assert table["error_rate"].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert table["p99_ms"].tolist() == [5.0, 5.0, 500.0, 5.0]
    assert table["active_users"].tolist() == [2.0, 2.0, 4.0, 4.0]
    assert table["t_s"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_gaps_in_traffic_appear_as_empty_buckets(make_run) -> None:
    frame = requests_frame(
        actions=["GET /t"] * 2, latency_ms=np.array([1.0, 1.0]), offsets_s=np.array([0.0, 3.5])
    )
    table = summarize(load_run(make_run([frame])), bucket="1s").over_time
    assert table["requests"].tolist() == [1, 0, 0, 1]
    assert np.isnan(table["p50_ms"].iloc[1])


def test_rps_falls_back_to_the_traffic_span_without_run_json(make_run) -> None:
    frame = requests_frame(actions=["GET /t"] * 11, latency_ms=np.zeros(11), offsets_s=np.arange(11) * 0.5)
    summary = summarize(load_run(make_run([frame], duration_s=None)))
    assert summary.run["duration_s"] == pytest.approx(5.0)
    assert summary.total["rps"] == pytest.approx(11 / 5.0)


def test_json_has_the_issue_shape(make_run) -> None:
    rng = np.random.default_rng(2)
    document = summarize(load_run(make_run(random_workers(rng, n=300)))).to_dict()
    assert {"run", "total", "actions"} <= set(document)
    keys = {
        "action": str,
        "count": int,
        "errors": int,
        "error_rate": float,
        "rps": float,
        "p50_ms": float,
        "p90_ms": float,
        "p95_ms": float,
        "p99_ms": float,
        "p999_ms": float,
        "max_ms": float,
        "mean_ms": float,
    }
    for entry in document["actions"]:
        for key, kind in keys.items():
            assert isinstance(entry[key], kind), (key, entry[key])


def test_folding_in_small_pieces_gives_the_same_summary(make_run, monkeypatch) -> None:
    from tracereplay.report import summary as summary_module

    run = load_run(make_run(random_workers(np.random.default_rng(4), n=3000, workers=2)))
    whole = summarize(run, bucket="1s")
    monkeypatch.setattr(summary_module, "FOLD_ROWS", 700)
    pieces = summarize(run, bucket="1s")
    # identical but for the order of float additions in the means
    pd.testing.assert_frame_equal(pieces.actions, whole.actions, rtol=1e-12)
    pd.testing.assert_frame_equal(pieces.over_time, whole.over_time)
    pd.testing.assert_frame_equal(pieces.errors, whole.errors)
    assert pieces.sessions["sessions"] == whole.sessions["sessions"]
    for key in ("actions_per_session", "session_duration_s"):
        assert pieces.sessions[key] == pytest.approx(whole.sessions[key], rel=1e-12)
    assert pieces.total == pytest.approx(whole.total, rel=1e-12)


def test_an_empty_run_reports_zeros_and_nulls(make_run) -> None:
    empty = requests_frame(actions=[], latency_ms=np.array([]), offsets_s=np.array([]))
    summary = summarize(load_run(make_run([empty])), bucket="1s")
    document = summary.to_dict()
    assert document["actions"] == []
    assert document["total"]["count"] == 0 and document["total"]["p99_ms"] is None
    assert document["total"]["error_rate"] is None and document["sessions"]["sessions"] == 0
    assert len(summary.over_time) == 0


def test_a_crashed_worker_is_read_from_its_part_files(make_run) -> None:
    merged = requests_frame(actions=["GET /a"] * 4, latency_ms=np.full(4, 1.0), offsets_s=np.arange(4.0))
    part = requests_frame(
        actions=["GET /b"] * 3, latency_ms=np.full(3, 2.0), offsets_s=np.arange(3.0), worker=1
    )
    run_dir = make_run([merged, part])
    # worker 1 crashed before merging: only its per-second parts exist; worker 0 left a stale part too
    (run_dir / "requests-1.parquet").rename(run_dir / "requests-1.part000000.parquet")
    (run_dir / "requests-0.part000003.parquet").write_bytes((run_dir / "requests-0.parquet").read_bytes())
    counts = summarize(load_run(run_dir)).actions.set_index("action")["count"].to_dict()
    assert counts == {"GET /a": 4, "GET /b": 3}
