"""The profile clock of the open workload: --profile-start / --profile-speed against a model with a known
hourly profile, on a real 127.0.0.1 server; the window in run.json; bad settings as one CLI line."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from aiohttp import web

from tracereplay.errors import ConfigError
from tracereplay.replay import Arrivals, run_async
from tracereplay.replay.api import open_run
from tracereplay.replay.config import RunConfig, parse_profile_start
from tracereplay.replay.sources import REFERENCE_MONDAY, ProfileRate, model_profile
from tracereplay.replay.workloads.open import plan_arrivals

# sessions/s by UTC hour of day: a quiet night (03:00 empty), a busy afternoon, an empty 16:00
DAY = np.ones(24)
DAY[[3, 14, 15, 16, 17]] = [0.0, 30.0, 60.0, 0.0, 10.0]


@pytest.fixture(scope="module")
def profile_model(demo_model, tmp_path_factory) -> str:
    """The fitted demo model with its arrival profile replaced by DAY, saved with the model's own API."""
    from tracereplay.model import ArrivalProfile, load_model

    model = load_model(demo_model)
    arrivals = ArrivalProfile(rate=DAY.copy(), observed=np.ones(24, dtype=bool))
    path = tmp_path_factory.mktemp("profile") / "model.json"
    dataclasses.replace(model, arrivals=arrivals).save(path)
    return str(path)


def any_path_app() -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    return app


def session_starts(out) -> pd.Series:
    """Seconds from the first intended session start to each session's intended start (one worker)."""
    firsts = pd.read_parquet(out / "requests-0.parquet").groupby("session")["intended"].min()
    return (firsts - firsts.min()).dt.total_seconds()


# ------------------------------------------------------------------------------------------ pure parts
def test_profile_start_and_speed_are_validated_all_at_once():
    assert parse_profile_start("14:00") == (None, 14 * 3600)
    assert parse_profile_start("Sat 9:30:15") == (5, 9 * 3600 + 30 * 60 + 15)
    assert parse_profile_start("monday 00:00") == (0, 0)
    for bad in ("25:00", "14", "14:60", "mo 14:00", "someday 10:00", ""):
        with pytest.raises(ConfigError, match="profile_start"):
            parse_profile_start(bad)
    url = "http://127.0.0.1:9"
    bad_clock = RunConfig(target=url, arrival_scale=1, profile_start="25:00", profile_speed=0)
    with pytest.raises(ConfigError) as caught:
        bad_clock.validate()
    assert len(caught.value.problems) == 2  # both, in one error
    with pytest.raises(ConfigError, match="use arrival_scale"):
        RunConfig(target="http://127.0.0.1:9", arrival_rate=5, profile_start="14:00").validate()
    # --arrival-rate alone is as before
    assert RunConfig(target="http://127.0.0.1:9", arrival_rate=5).validate().profile_speed == 1.0


def test_a_clock_at_speed_moves_through_the_hours_and_its_plan_integrates_them():
    clock = ProfileRate(np.tile(DAY, 7), start=REFERENCE_MONDAY.replace(hour=14), speed=3600.0)
    window = clock.window(4.0)
    assert (window["start"], window["end"], window["profile_hours"]) == ("14:00", "18:00", 4.0)
    assert (window["rate_min"], window["rate_mean"], window["rate_max"]) == (0.0, 25.0, 60.0)
    assert window["expected_sessions"] == pytest.approx(100.0) and window["warning"] is None
    uniform = plan_arrivals(clock, 4.0, np.random.default_rng(0))
    assert np.histogram(uniform, bins=[0, 1, 2, 3, 4])[0].tolist() == [30, 60, 0, 10]  # exactly the profile
    poisson = plan_arrivals(clock, 4.0, np.random.default_rng(5), Arrivals.POISSON)
    again = plan_arrivals(clock, 4.0, np.random.default_rng(5), Arrivals.POISSON)
    assert np.array_equal(poisson, again)  # deterministic for a seed
    assert abs(len(poisson) - 100) <= 4 * 10 and not ((poisson >= 2) & (poisson < 3)).any()
    # a day in 24 minutes: the day's shape at F × profile; F = speed gives the day's volume
    day = ProfileRate(np.tile(DAY, 7), start=REFERENCE_MONDAY, speed=60.0, scale=60.0).window(24 * 60)
    assert day["end"] == "00:00 (+1d)" and day["expected_sessions"] == pytest.approx(DAY.sum() * 3600)


def test_an_hour_of_week_profile_takes_a_weekday_and_a_bare_time_means_today():
    class Weekly:
        def arrival_rate(self, when: datetime) -> float:
            return 50.0 if when.weekday() == 5 and when.hour == 14 else 0.0  # only Saturday 14:00

    config = RunConfig(target="http://127.0.0.1:9", arrival_scale=2, profile_start="sat 14:30", duration=60)
    window = model_profile(Weekly(), config, now=datetime.now(UTC)).window(60)
    assert window["weekly"] and window["start"] == "sat 14:30" and window["rate_max"] == 100.0
    tuesday = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # a bare time is on the current day of the week
    bare = dataclasses.replace(config, profile_start="14:30")
    quiet = model_profile(Weekly(), bare, now=tuesday).window(60)
    assert quiet["start"] == "tue 14:30" and quiet["expected_sessions"] == 0
    assert "tue 14:00" in quiet["warning"] and "sat 14:00" in quiet["warning"]  # names the hour, the busiest
    # no --profile-start: the wall clock's time, as before
    wall = model_profile(Weekly(), dataclasses.replace(config, profile_start=None), now=tuesday)
    assert wall.start == tuesday and wall.at(90) == tuesday + timedelta(seconds=90)


# ------------------------------------------------------------------------------ real runs on 127.0.0.1
async def test_a_busy_hour_starts_about_its_sessions_and_run_json_has_the_window(
    serve, profile_model, tmp_path
):
    url = await serve(any_path_app())
    out = tmp_path / "busy"
    result = await run_async(
        profile_model, target=url, arrival_scale=1, profile_start="15:00", duration=2, seed=3,
        arrivals=Arrivals.POISSON, think_scale=0, out=str(out),
    )
    expected = 60 * 2
    assert abs(result.sessions_started - expected) <= 4 * expected**0.5  # Poisson: 4 standard deviations
    meta = json.loads((out / "run.json").read_text())
    assert meta["config"]["profile_start"] == "15:00"
    window = meta["profile"]
    assert (window["start"], window["end"], window["rate_mean"]) == ("15:00", "15:00:02", 60.0)
    assert window["expected_sessions"] == pytest.approx(expected) and window["warning"] is None


async def test_a_zero_hour_starts_nothing_and_says_why(serve, profile_model, tmp_path):
    url = await serve(any_path_app())
    out = tmp_path / "night"
    result = await run_async(
        profile_model, target=url, arrival_scale=5, profile_start="03:10", duration=1, out=str(out)
    )
    assert result.sessions_started == 0 and result.requests == 0
    window = json.loads((out / "run.json").read_text())["profile"]
    assert window["rate_max"] == 0 and "03:00" in window["warning"] and "--profile-start" in window["warning"]


async def test_speed_replays_four_profile_hours_in_four_seconds(serve, profile_model, tmp_path):
    url = await serve(any_path_app())
    out = tmp_path / "fast"
    result = await run_async(
        profile_model, target=url, arrival_scale=1, profile_start="14:00", profile_speed=3600, duration=4,
        think_scale=0, out=str(out),
    )
    assert abs(result.sessions_started - 100) <= 3  # the integral: 30 + 60 + 0 + 10 sessions
    per_second = np.histogram(session_starts(out), bins=[0, 1, 2, 3, 4.5])[0]
    assert np.abs(per_second - [30, 60, 0, 10]).max() <= 2, per_second
    window = json.loads((out / "run.json").read_text())["profile"]
    assert (window["start"], window["end"], window["speed"]) == ("14:00", "18:00", 3600)


async def test_workers_take_their_share_on_the_same_clock(serve, profile_model, tmp_path):
    url = await serve(any_path_app())
    out = tmp_path / "pool"
    result = await run_async(
        profile_model, target=url, arrival_scale=1, profile_start="14:00", profile_speed=3600, duration=2,
        workers=2, think_scale=0, out=str(out),
    )
    # each worker runs 15 then 30 sessions/s from the pool's one start (± the arrival on the last instant)
    assert abs(result.sessions_started - 90) <= 3 and result.workers == 2
    window = json.loads((out / "run.json").read_text())["profile"]
    assert window["scale"] == 1 and window["expected_sessions"] == pytest.approx(90)  # the whole run's


def starts_from(out, worker: int, wall_start: str) -> np.ndarray:
    """Seconds from run.json's ``wall_start`` to the intended start of each of a worker's sessions."""
    firsts = pd.read_parquet(out / f"requests-{worker}.parquet").groupby("session")["intended"].min()
    return (firsts - pd.Timestamp(wall_start)).dt.total_seconds().to_numpy()


async def test_pool_workers_share_one_clock_start_and_cover_the_announced_window(
    serve, profile_model, tmp_path
):
    url = await serve(any_path_app())
    out = tmp_path / "pool-clock"
    result = await run_async(
        profile_model, target=url, arrival_scale=1, profile_start="14:00", profile_speed=3600, duration=4,
        workers=2, arrivals=Arrivals.POISSON, seed=11, think_scale=0, out=str(out),
    )
    window = json.loads((out / "run.json").read_text())["profile"]
    assert (window["start"], window["end"]) == ("14:00", "18:00") and result.workers == 2
    share = np.array([30.0, 60.0, 0.0, 10.0]) / 2  # each worker's sessions/s over the four profile hours
    for worker in (0, 1):
        t = starts_from(out, worker, window["wall_start"])
        # inside the window on the common clock: at 3600× a worker off by 10 ms would be 36 profile-s off
        assert t.min() >= -0.005 and t.max() < 4.0, (worker, t.min(), t.max())
        assert not ((t > 2.005) & (t < 2.995)).any(), (worker, t[(t > 2) & (t < 3)])  # the empty 16:00
        per_second = np.histogram(t, bins=[-0.005, 1, 2, 3, 4])[0]
        assert (np.abs(per_second - share) <= 4 * np.sqrt(share) + 1).all(), (worker, per_second)
    assert abs(result.sessions_started - 100) <= 4 * 10  # Poisson over both workers: 4 standard deviations


@pytest.mark.parametrize("workers", [1, 2])
async def test_run_json_has_the_window_as_soon_as_the_run_starts(serve, profile_model, tmp_path, workers):
    url = await serve(any_path_app())
    out = tmp_path / f"early-{workers}"
    handle = await open_run(
        profile_model, target=url, arrival_scale=2, profile_start="03:10", duration=60, workers=workers,
        out=str(out),
    )
    try:
        first = json.loads((out / "run.json").read_text())
    finally:
        handle.stop()
        await handle.wait()
    assert first["exit_reason"] == "running" and first["ended"] is None
    window = first["profile"]
    assert (window["start"], window["end"], window["scale"]) == ("03:10", "03:11", 2)
    assert window["expected_sessions"] == 0 and "03:00" in window["warning"]  # the zero-load warning too
    last = json.loads((out / "run.json").read_text())
    assert last["exit_reason"] == "interrupted" and last["profile"] == window  # the same window and start


async def test_a_pool_without_profile_start_reads_the_launch_time_in_every_worker(
    serve, profile_model, tmp_path
):
    url = await serve(any_path_app())
    out = tmp_path / "launch"
    launched = datetime.now(UTC)
    handle = await open_run(
        profile_model, target=url, arrival_scale=1, duration=60, workers=2, out=str(out)
    )
    first = json.loads((out / "run.json").read_text())["profile"]
    handle.stop()
    await handle.wait()
    last = json.loads((out / "run.json").read_text())["profile"]
    assert last == first  # the workers' clocks read what the parent announced, from the same wall_start
    h, m, *sec = (int(part) for part in first["start"].split(":"))
    off = (h * 3600 + m * 60 + sum(sec)) - (launched.hour * 3600 + launched.minute * 60 + launched.second)
    assert min(off % 86400, -off % 86400) <= 2  # the launch's time of day (UTC), not the release's
    assert datetime.fromisoformat(first["wall_start"]) > launched


def test_cli_run_stopped_with_sigint_records_its_window(profile_model, tmp_path):
    out = tmp_path / "sigint"

    async def main() -> None:
        server = web.AppRunner(any_path_app())
        await server.setup()
        site = web.TCPSite(server, "127.0.0.1", 0)
        await site.start()
        port = server.addresses[0][1]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tracereplay", "run", profile_model, "--target", f"http://127.0.0.1:{port}",
            "--arrival-scale", "1", "--profile-start", "14:00", "--profile-speed", "60", "--duration", "60s",
            "--workers", "2", "--quiet", "-o", str(out),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            while not list(out.glob("users-*.parquet*")) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)  # the load runs
            early = json.loads((out / "run.json").read_text())
            assert early["exit_reason"] == "running" and early["profile"]["start"] == "14:00"
            process.send_signal(signal.SIGINT)
            await asyncio.wait_for(process.wait(), 60)
        finally:
            if process.returncode is None:
                process.kill()
            await server.cleanup()

    asyncio.run(main())
    meta = json.loads((out / "run.json").read_text())
    assert meta["exit_reason"] == "interrupted"
    window = meta["profile"]
    assert (window["start"], window["end"], window["speed"]) == ("14:00", "15:00", 60)
    assert window["expected_sessions"] == pytest.approx(30.0 * 60)  # 60 s at the 14:00 hour's 30/s


# ------------------------------------------------------------------------------------------- the CLI
def tracereplay(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tracereplay", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_bad_profile_start_is_one_line(profile_model, tmp_path):
    done = tracereplay(
        "run", profile_model, "--target", "http://127.0.0.1:9", "--arrival-scale", "1",
        "--profile-start", "25:00", "--profile-speed", "0", "-o", str(tmp_path / "bad"),
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert "profile_start '25:00'" in lines[0] and "profile_speed must be positive" in lines[0]
    assert not (tmp_path / "bad").exists()


def test_cli_prints_the_window_and_warns_at_a_zero_hour(profile_model, tmp_path):
    out = tmp_path / "night"
    done = tracereplay(
        "run", profile_model, "--target", "http://127.0.0.1:9", "--arrival-scale", "1",
        "--profile-start", "16:00", "--duration", "1s", "--workers", "1", "-o", str(out),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert any(line.startswith("tracereplay: profile 16:00 → 16:00:01") for line in lines), done.stderr
    warnings = [line for line in lines if line.startswith("tracereplay: warning:")]
    assert len(warnings) == 1 and "16:00" in warnings[0] and "--arrival-rate" in warnings[0]
    assert json.loads((out / "run.json").read_text())["profile"]["warning"]
