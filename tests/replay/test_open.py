"""The open workload: arrivals on schedule, the cap, late and dropped sessions, rate changes, the profile."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest
from aiohttp import web

from tracereplay.replay import Arrivals, Script, run_async, start_run
from tracereplay.replay.workloads.open import plan_arrivals


def test_uniform_plan_is_evenly_spaced_and_follows_a_changing_rate():
    times = plan_arrivals(lambda t: 10.0, 2.0, np.random.default_rng(0))
    assert len(times) == 19 and np.allclose(np.diff(times), 0.1)
    stepped = plan_arrivals(lambda t: 10.0 if t < 1 else 100.0, 2.0, np.random.default_rng(0))
    assert 98 <= len(stepped) <= 111 and np.allclose(np.diff(stepped)[-50:], 0.01)
    assert plan_arrivals(lambda t: 0.0, 5.0, np.random.default_rng(0)).size == 0


def test_poisson_plan_has_the_rate_on_average_and_exponential_gaps():
    times = plan_arrivals(lambda t: 200.0, 50.0, np.random.default_rng(1), Arrivals.POISSON)
    assert abs(len(times) / 50.0 - 200) < 8
    gaps = np.diff(times)
    assert 0.8 < gaps.std() / gaps.mean() < 1.2  # exponential: coefficient of variation 1


def quick_app(delay_s: float = 0.0) -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        if delay_s:
            await asyncio.sleep(delay_s)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/hello", hello)
    return app


async def test_open_rate_is_kept_and_every_arrival_is_one_session(serve, tmp_path):
    url = await serve(quick_app())
    out = tmp_path / "run"
    script = Script.from_actions(["GET /hello", "GET /hello"], think_s=0.01)
    result = await run_async(script, target=url, arrival_rate=50, duration=2, out=str(out))
    frame = pd.read_parquet(out / "requests-0.parquet")
    assert 90 <= result.sessions_started <= 101
    assert frame["session"].nunique() == result.sessions_started
    assert (frame.groupby("session").size() <= 2).all()
    assert result.sessions_dropped == 0
    assert result.sessions_late <= 10  # late means > 50 ms behind: only when the (shared) machine stalls
    firsts = frame.sort_values("ts").groupby("session").first()
    gaps = np.diff(np.sort(firsts["intended"].astype("int64").to_numpy())) / 1e9
    assert np.allclose(gaps, 0.02, atol=1e-6)  # intended starts are the schedule, exactly


async def test_the_cap_makes_sessions_late_and_corrected_latency_shows_it(serve, tmp_path):
    url = await serve(quick_app(delay_s=0.2))  # each session takes 0.2 s; 2 users at a time = 10 sessions/s
    out = tmp_path / "run"
    script = Script.from_actions(["GET /hello"])
    result = await run_async(
        script, target=url, arrival_rate=40, max_users=2, max_late=0.5, duration=1.5, out=str(out)
    )
    assert result.sessions_late > 0 and result.sessions_dropped > 0
    frame = pd.read_parquet(out / "requests-0.parquet")
    assert frame["latency_ms"].median() < 300
    # coordinated omission: waiting for a free user counts in the corrected latency
    assert frame["latency_corrected_ms"].max() > 400
    assert (frame["latency_corrected_ms"] >= frame["latency_ms"] - 1e-6).all()
    assert len(frame) == result.sessions_started <= 2 / 0.2 * 1.5 + 3


async def test_arrival_rate_changes_while_running(serve, tmp_path):
    url = await serve(quick_app())
    handle = await start_run(
        Script.from_actions(["GET /hello"]),
        target=url,
        arrival_rate=10,
        duration=3,
        out=str(tmp_path / "run"),
    )
    await asyncio.sleep(1.0)
    handle.set_arrival_rate(100)
    assert handle.arrival_rate == 100
    await asyncio.sleep(1.0)
    handle.stop()
    result = await handle.wait()
    frame = pd.read_parquet(tmp_path / "run" / "requests-0.parquet")
    seconds = (frame["intended"] - frame["intended"].min()).dt.total_seconds()
    assert (seconds < 0.8).sum() <= 9  # 10/s
    assert (seconds > seconds.max() - 0.8).sum() >= 70  # 100/s
    assert result.exit_reason == "interrupted"


async def test_scaled_arrivals_take_a_lost_workers_share_and_a_new_rate_replaces_the_scale(serve, tmp_path):
    """What a pool's survivor is told (replay/workers.py): arrivals × 2, then a rate set for the whole run
    replaces profile and scale alike."""
    url = await serve(quick_app())
    handle = await start_run(
        Script.from_actions(["GET /hello"]), target=url, arrival_rate=20, duration=4, out=str(tmp_path / "r")
    )
    handle.tester.scale_arrivals(2.0)
    assert handle.arrival_rate == 40
    await asyncio.sleep(1.5)
    handle.set_arrival_rate(10)
    assert handle.arrival_rate == 10
    with pytest.raises(ValueError, match="> 0"):
        handle.tester.scale_arrivals(0)
    await asyncio.sleep(1.5)
    handle.stop()
    await handle.wait()
    frame = pd.read_parquet(tmp_path / "r" / "requests-0.parquet")
    seconds = (frame["intended"] - frame["intended"].min()).dt.total_seconds()
    assert (seconds < 1.0).sum() >= 30  # 40/s
    assert (seconds > seconds.max() - 1.0).sum() <= 12  # 10/s


async def test_arrival_scale_follows_the_models_profile(serve, hand_model, tmp_path):
    url = await serve(quick_app())
    hand_model.rate = 4.0
    hand_model.actions = ["GET /hello"]
    hand_model.sample_session = lambda c, rng: (["GET /hello"], np.empty(0))
    result = await run_async(hand_model, target=url, arrival_scale=10, duration=1.5, out=str(tmp_path / "r"))
    assert 55 <= result.sessions_started <= 61  # 10 × 4 sessions/s
