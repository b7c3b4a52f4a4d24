"""Format 3 of the model: session lengths that are not geometric, session tempo, the source's clock
resolution and the gap clock — each on a population built to need it, fitted, simulated and compared."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from tracereplay.errors import ModelFileError
from tracereplay.model import compare, fit, load_model, simulate
from tracereplay.model.fidelity import ks
from tracereplay.model.prepare import session_arrays

T0 = pd.Timestamp("2026-03-02T00:00:00Z").value      # a Monday, midnight UTC (ns)
S = 1_000_000_000


def _table(rows: list[tuple[int, int, int, str]]) -> pd.DataFrame:
    """Events from (ts_ns, user, session, action) tuples."""
    ts, user, session, action = zip(*rows, strict=True)
    return pd.DataFrame({
        "ts": pd.to_datetime(np.asarray(ts, dtype=np.int64), utc=True),
        "user": [f"u{u}" for u in user],
        "session": [f"u{u}-s{s}" for u, s in zip(user, session, strict=True)],
        "action": list(action), "method": "GET", "route": list(action), "path": list(action),
        "status": 200, "duration_ms": np.nan, "error": False, "source": "test",
    })


def _sessions(rng, users: int, length, think, *, start_s=None, actions=("a", "b", "c")) -> pd.DataFrame:
    """One session per user: ``length(rng)`` actions drawn from ``actions``, ``think(rng, s)`` between."""
    rows = []
    for u in range(users):
        t = T0 + int(start_s(rng) if start_s else rng.integers(0, 86400)) * S       # whole seconds
        for k in range(length(rng)):
            if k:
                t += int(think(rng, u) * S)
            rows.append((t, u, 0, actions[int(rng.integers(len(actions)))]))
    return _table(rows)


def test_a_spike_in_session_lengths_is_kept():
    # Half the sessions are one request, half a page and its five resources: nothing geometric.
    rng = np.random.default_rng(1)
    events = _sessions(rng, 3000, lambda r: 1 if r.random() < 0.5 else 6, lambda r, u: r.lognormal(1, 1))
    model = fit(events)
    synthetic = session_arrays(simulate(model, 6000, seed=2), session_gap_s=1800)
    lengths = np.bincount(synthetic.session_length, minlength=8) / synthetic.n_sessions
    assert lengths[1] == pytest.approx(0.5, abs=0.03) and lengths[6] == pytest.approx(0.5, abs=0.03)
    assert lengths[2:6].sum() + lengths[7:].sum() < 0.01
    # The class of six-request sessions: never ends before its sixth action, always after it.
    six = max(model.classes, key=lambda c: c.sessions)
    assert max(six.shape.exit_shift[:5]) < -5 and six.shape.exit_shift[5] > 5


def test_a_session_keeps_its_tempo():
    # Same chain, same lengths; a session is either quick (median 1.5 s) or slow (median 40 s).
    rng = np.random.default_rng(3)
    slow = rng.random(3000) < 0.5
    events = _sessions(rng, 3000, lambda r: 6, lambda r, u: r.lognormal(np.log(40 if slow[u] else 1.5), 0.4))
    model = fit(events, classes=1)
    report = compare(events, simulate(model, 3000, seed=4))
    # The session effect is drawn from a normal law, so two tempos blur a little (0.10); clicks drawn
    # independently (below) put most sessions' medians between the two (0.19).
    assert report["session_median_think_ks"] <= 0.13, report["session_median_think_ks"]
    assert report["think_ks"] <= 0.03
    shape = model.classes[0].shape
    assert shape.shared[4] > 0.7                    # band [6, 8]: most of the score is the session's
    flat = dataclasses.replace(shape, shared=(0.0,) * len(shape.shared), own=(1.0,) * len(shape.own))
    independent = dataclasses.replace(model, classes=[dataclasses.replace(model.classes[0], shape=flat)])
    without = compare(events, simulate(independent, 3000, seed=4))["session_median_think_ks"]
    assert without > 0.15 and without > 1.5 * report["session_median_think_ks"], without


def test_sessions_that_share_out_a_window_keep_their_medians():
    # Every session's six requests fall in one minute (a log that keeps a minute of every hour, or a visit
    # with a deadline): the thinks are the spacings of sorted points, so a long one leaves less for the
    # rest (pair correlation about −0.2) and each session's median think is much less spread than
    # independent clicks make it.
    rng = np.random.default_rng(7)
    rows = []
    for u in range(3000):
        start = T0 + int(rng.integers(0, 86400)) * S
        for at in np.sort(rng.random(6) * 60):
            rows.append((start + int(at * 1e6) * 1000, u, 0, "abc"[int(rng.integers(3))]))
    events = _table(rows)
    model = fit(events, classes=1)
    shape = model.classes[0].shape
    assert shape is not None and shape.shared[4] == 0 and 0.3 < shape.anti[4] <= 1      # band [6, 8]
    report = compare(events, simulate(model, 3000, seed=8))
    median_ks, think_ks = report["session_median_think_ks"], report["think_ks"]
    assert median_ks is not None and median_ks <= 0.05, median_ks
    assert think_ks is not None and think_ks <= 0.03
    flat = dataclasses.replace(shape, anti=(0.0,) * len(shape.anti))
    independent = dataclasses.replace(model, classes=[dataclasses.replace(model.classes[0], shape=flat)])
    without = compare(events, simulate(independent, 3000, seed=8))["session_median_think_ks"]
    assert without is not None and without > 2 * median_ks, without
    # The per-call sampler (replay) draws the same law (0.087 without the centring).
    rng = np.random.default_rng(9)
    drawn = (model.sample_session(0, rng)[1] for _ in range(3000))
    medians = np.array([np.median(think) for think in drawn if len(think) == 5])
    arrays = session_arrays(events, session_gap_s=1800)
    real = np.median(arrays.think_s[np.isfinite(arrays.think_s)].reshape(-1, 5), axis=1)
    assert len(medians) > 2500
    assert (per_call := ks(real, medians)) is not None and per_call <= 0.05, per_call


def test_same_second_requests_stay_with_the_sessions_that_make_them():
    # Half the visits are a page and its resources (12 requests, 60 % in the same second as the previous
    # one), half two pages a few seconds apart (never the same second); the cells (a, b, c at random) do
    # not tell them apart, only the session's length does.
    rng = np.random.default_rng(11)
    rows = []
    for u in range(4000):
        t = T0 + int(rng.integers(0, 86400)) * S
        burst = rng.random() < 0.5
        for k in range(12 if burst else 2):
            if k:
                t += 0 if burst and rng.random() < 0.6 else int(np.ceil(rng.lognormal(1.5, 0.6))) * S
            rows.append((t, u, 0, "abc"[int(rng.integers(3))]))
    events = _table(rows)
    model = fit(events, classes=1)
    shape = model.classes[0].shape
    assert shape is not None and shape.zero_shift[1] < -10           # band [2]: (almost) never 0

    def zeros(table: pd.DataFrame) -> tuple[float, float]:
        arrays = session_arrays(table, session_gap_s=1800)
        known = np.isfinite(arrays.think_s)
        length, think = arrays.session_length[arrays.session][known], arrays.think_s[known]
        return float(np.mean(think[length == 2] <= 0)), float(np.mean(think[length == 12] <= 0))

    assert zeros(events) == (0.0, pytest.approx(0.6, abs=0.01))
    short, long = zeros(simulate(model, 4000, seed=12))
    assert short < 0.01 and long == pytest.approx(0.6, abs=0.02)
    flat = dataclasses.replace(shape, zero_shift=(0.0,) * len(shape.zero_shift))
    unshifted = dataclasses.replace(model, classes=[dataclasses.replace(model.classes[0], shape=flat)])
    assert zeros(simulate(unshifted, 4000, seed=12))[0] > 0.3               # the band's scores alone: 0.57
    rng = np.random.default_rng(3)
    drawn = [model.sample_session(0, rng)[1] for _ in range(4000)]           # the per-call sampler too
    pairs = np.concatenate([t for t in drawn if len(t) == 1])
    bursts = np.concatenate([t for t in drawn if len(t) == 11])
    assert np.mean(pairs <= 0) < 0.01 and np.mean(bursts <= 0) == pytest.approx(0.6, abs=0.02)


def test_whole_second_timestamps_stay_whole_seconds():
    rng = np.random.default_rng(5)
    events = _sessions(rng, 800, lambda r: 4, lambda r, u: float(r.integers(0, 6)))
    model = fit(events)
    assert model.time_resolution_s == 1.0
    synthetic = simulate(model, 800, seed=6)
    assert (synthetic["ts"].astype("int64") % S == 0).all()
    think = session_arrays(synthetic, session_gap_s=1800).think_s
    assert np.all(np.isin(think[np.isfinite(think)], np.arange(6)))
    fine = events.assign(ts=events["ts"] + pd.to_timedelta(rng.integers(1, 999, len(events)), unit="us"))
    assert fit(fine).time_resolution_s == 1e-6


def test_hourly_pollers_keep_their_period_on_the_wall_clock():
    # Clients that poll every hour (one request) from a start by day: the arrival clock would stretch
    # their gaps at night and squeeze them by day.
    rng = np.random.default_rng(7)
    rows = []
    for u in range(400):
        first = T0 + int(rng.uniform(8, 18) * 3600 * S)
        rows += [(first + k * 3600 * S, u, k, "GET /feed") for k in range(int(rng.integers(5, 40)))]
    events = _table(rows)
    model = fit(events)
    assert model.session_gap_clock == "wall"
    synthetic = session_arrays(simulate(model, 400, seed=8), session_gap_s=1800)
    assert np.abs(synthetic.session_gaps_s() - 3600).max() < 1.0


def test_diurnal_returns_stay_on_the_arrival_clock(diurnal_model):
    assert diurnal_model.session_gap_clock == "arrivals"
    assert {c.session_gap_clock for c in diurnal_model.classes} == {"arrivals"}


def test_format_3_round_trip_and_damage(tmp_path, two_class_model):
    path = two_class_model.save(tmp_path / "m.json")
    loaded = load_model(path)
    for before, after in zip(two_class_model.classes, loaded.classes, strict=True):
        assert after.shape is not None and before.shape is not None
        assert after.shape.exit_shift == pytest.approx(before.shape.exit_shift)
        assert after.shape.anti == pytest.approx(before.shape.anti)
        assert after.shape.zero_shift == pytest.approx(before.shape.zero_shift)
        assert [list(q) for q in after.shape.scores] == [pytest.approx(q) for q in before.shape.scores]
        assert after.session_gap_clock == before.session_gap_clock
    a, b = simulate(two_class_model, 300, seed=9), simulate(loaded, 300, seed=9)
    assert ks(a["ts"].astype("int64").to_numpy(), b["ts"].astype("int64").to_numpy()) < 0.01

    data = json.loads(path.read_text())
    assert data["version"] == 4
    data["classes"][0]["shape"]["scores"][3] = [1.0, 0.0]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match=r"classes\[0\].*scores"):
        load_model(tmp_path / "bad.json")

    data = json.loads(path.read_text())
    data["classes"][0]["shape"]["anti"] = [0.0, 0.0, 1.5, 0.0, 0.0, 0.0, 0.0, 0.0]
    (tmp_path / "bad_anti.json").write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match=r"classes\[0\].*anti"):
        load_model(tmp_path / "bad_anti.json")
    del data["classes"][0]["shape"]["anti"]                # a version-3 file from before anti-tempo
    (tmp_path / "older.json").write_text(json.dumps(data))
    older = load_model(tmp_path / "older.json").classes[0].shape
    assert older is not None and older.anti == (0.0,) * 8
