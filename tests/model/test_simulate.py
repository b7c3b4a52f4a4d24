"""simulate(): an event table sampled from a model, reproducible, obeying the event-table contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracereplay.errors import ConfigError
from tracereplay.ingest.events import EVENT_COLUMNS, conform, read_events, write_events
from tracereplay.model import simulate


def test_same_seed_same_table_other_seed_other_table(two_class_model):
    a = simulate(two_class_model, 300, seed=7)
    b = simulate(two_class_model, 300, seed=7)
    pd.testing.assert_frame_equal(a, b)
    c = simulate(two_class_model, 300, seed=8)
    assert len(c) != len(a) or not c["ts"].equals(a["ts"])


def test_table_follows_the_event_contract(tmp_path, two_class_model):
    table = simulate(two_class_model, 500, seed=1)
    assert list(table.columns) == list(EVENT_COLUMNS)
    pd.testing.assert_frame_equal(conform(table), table)            # already exactly the contract
    assert table["user"].nunique() == 500
    assert table["ts"].is_monotonic_increasing
    assert set(table["action"]) <= set(two_class_model.actions)
    assert (table["source"] == "simulate").all()
    written = write_events(table, tmp_path / "synthetic.parquet")
    pd.testing.assert_frame_equal(read_events(written), table)


def test_actions_in_a_session_start_after_the_previous_one_ended(two_class_model):
    table = simulate(two_class_model, 500, seed=2).sort_values(["session", "ts"], kind="stable")
    same = table["session"].to_numpy()[1:] == table["session"].to_numpy()[:-1]
    ts = table["ts"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    end = ts[:-1] + (table["duration_ms"].to_numpy()[:-1] * 1e6).astype(np.int64)
    think = (ts[1:] - end)[same] / 1e9
    assert think.min() >= -1e-6
    assert np.median(think) > 1.0


def test_durations_errors_and_paths_come_from_the_action_stats(two_class_model):
    table = simulate(two_class_model, 1500, seed=3)
    assert table["duration_ms"].median() == pytest.approx(20.0, rel=0.1)     # generator: median 20 ms
    assert table["error"].mean() == pytest.approx(0.02, abs=0.006)
    assert (table.loc[table["error"], "status"] == 500).all()
    assert (table.loc[~table["error"], "status"] == 200).all()
    posts = table[table["action"] == "GET /api/channels/{id}/posts"]
    assert set(posts["path"]) == {"/api/channels/42/posts"}
    assert (posts["method"] == "GET").all()


def test_start_time_and_the_users_first_sessions_window(two_class_model):
    table = simulate(two_class_model, 400, seed=4, start="2030-06-01T08:00:00Z")
    first = table.groupby("user")["ts"].min()
    assert first.min() >= pd.Timestamp("2030-06-01T08:00:00Z")
    window = two_class_model.source["first_sessions_span_s"]
    assert (first.max() - first.min()).total_seconds() <= window + 1


def test_invalid_arguments(two_class_model):
    with pytest.raises(ConfigError):
        simulate(two_class_model, 0)
    with pytest.raises(ConfigError, match="start time"):
        simulate(two_class_model, 5, start="not a time")


def test_a_window_under_an_hour_spreads_first_sessions_across_it(two_class_model):
    import dataclasses

    window = two_class_model.source | {"first_sessions_span_s": 60.0}
    short = dataclasses.replace(two_class_model, source=window)
    table = simulate(short, 300, seed=5, start="2026-02-02T10:00:00Z")
    first = table.groupby("user")["ts"].min()
    offsets = (first - pd.Timestamp("2026-02-02T10:00:00Z")).dt.total_seconds()
    assert offsets.between(0, 60).all()
    assert offsets.nunique() == 300
    assert offsets.std() == pytest.approx(60 / np.sqrt(12), rel=0.15)       # uniform over the minute


def test_same_second_requests_keep_their_order():
    # A 1995-style log: every page fetches its image in the same second (whole-second timestamps), so the
    # simulated table must keep each session's steps in order within a second (a sort that shuffled equal
    # timestamps put images before their pages).
    from tracereplay.model import fit

    rng = np.random.default_rng(3)
    rows = []
    for u in range(400):
        t = 1_000_000 + int(rng.integers(0, 86400))
        for page in rng.integers(0, 5, size=int(rng.integers(1, 5))):
            rows += [(t, u, f"GET /page{page}.html"), (t, u, f"GET /img{page}.gif")]
            t += int(rng.integers(20, 200))
    ts, user, action = zip(*rows, strict=True)
    events = pd.DataFrame({"ts": pd.to_datetime(np.asarray(ts) * 10**9, utc=True),
                           "user": [f"u{v}" for v in user], "session": [f"u{v}" for v in user],
                           "action": list(action), "method": "GET", "route": list(action),
                           "path": list(action), "status": 200, "duration_ms": np.nan, "error": False,
                           "source": "test"})
    synthetic = simulate(fit(events), 2000, seed=1)
    after = synthetic.groupby("session")["action"].shift(1)
    images = synthetic["action"].str.endswith(".gif")
    page_of = synthetic["action"].str.extract(r"(\d)", expand=False)
    assert (after[images].str.extract(r"(\d)", expand=False) == page_of[images]).all()
    assert not after[images].str.endswith(".gif").any()
