"""A real run (tracereplay.replay against a tiny aiohttp server on 127.0.0.1), then its report."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tracereplay.report import load_run, summarize

ACTIONS = ["GET /fast", "GET /slow", "GET /broken"]
SLOW_S = 0.05


class ThreeActions:
    """A minimal session source: every session is fast, slow, broken, fast."""

    actions = ACTIONS
    mean_arrival_rate = 5.0

    def sample_user(self, rng: np.random.Generator) -> tuple[int, int]:
        return 0, 100

    def sample_session(self, class_index: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
        session = ["GET /fast", "GET /slow", "GET /broken", "GET /fast"]
        return session, np.full(len(session) - 1, 0.01)

    def sample_session_gap(self, class_index: int, rng: np.random.Generator) -> float:
        return 0.01

    def arrival_rate(self, when: datetime) -> float:
        return 5.0

    def path_examples(self, action: str) -> list[str]:
        return []


@pytest.fixture
async def target():
    async def fast(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(SLOW_S)
        return web.json_response({"ok": True})

    async def broken(request: web.Request) -> web.Response:
        return web.json_response({"error": "boom"}, status=500)

    app = web.Application()
    app.router.add_get("/fast", fast)
    app.router.add_get("/slow", slow)
    app.router.add_get("/broken", broken)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def test_report_of_a_real_run(target: str, tmp_path) -> None:
    from tracereplay.replay import run_async

    out = tmp_path / "run"
    await run_async(ThreeActions(), target=target, users=3, duration=1.5, out=str(out), seed=1)
    frame = pd.concat([pd.read_parquet(f) for f in sorted(out.glob("requests-*.parquet"))], ignore_index=True)
    assert len(frame) > 20

    summary = summarize(load_run(out), bucket="500ms")
    by_action = summary.actions.set_index("action")
    expected = frame.groupby("action").size()
    assert by_action["count"].to_dict() == expected.to_dict()
    assert by_action.loc["GET /broken", "errors"] == expected["GET /broken"]
    assert summary.errors_by_kind() == {"http_5xx": int(expected["GET /broken"])}
    assert by_action.loc["GET /fast", "errors"] == 0
    assert by_action.loc["GET /slow", "p50_ms"] >= SLOW_S * 1000
    assert (
        by_action.loc["GET /slow", "max_ms"]
        == frame.loc[frame["action"] == "GET /slow", "latency_corrected_ms"].max()
    )
    meta = json.loads((out / "run.json").read_text())
    assert summary.run["exit_reason"] == meta["exit_reason"]
    assert summary.total["rps"] == pytest.approx(len(frame) / summary.run["duration_s"])
    assert summary.sessions["sessions"] == frame["session"].nunique()
    assert summary.sessions.get("peak_active_users") == 3
    assert summary.over_time["requests"].sum() == len(frame)

    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "tracereplay",
            "report",
            str(out),
            "--json",
            "--threshold",
            "GET /broken:error_rate<0.5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert json.loads(done.stdout)["total"]["count"] == len(frame)


async def test_fidelity_against_source_events(target: str, tmp_path) -> None:
    from tracereplay.ingest.events import write_events
    from tracereplay.replay import run_async
    from tracereplay.report.fidelity import run_events

    out = tmp_path / "run"
    await run_async(ThreeActions(), target=target, users=2, duration=1.0, out=str(out), seed=2)
    events = run_events(load_run(out))
    write_events(events, tmp_path / "same.parquet")
    # a source without the broken action: the run's mix differs from it by the broken share
    write_events(events[events["action"] != "GET /broken"], tmp_path / "other.parquet")

    def fidelity(source: str, status: int) -> dict:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tracereplay",
                "report",
                str(out),
                "--json",
                "--against",
                str(tmp_path / source),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == status, done.stderr  # a failed verdict exits 3, as `compare` does
        return {m["name"]: m["value"] for m in json.loads(done.stdout)["fidelity"]["metrics"]}

    same, other = await asyncio.gather(
        asyncio.to_thread(fidelity, "same.parquet", 0), asyncio.to_thread(fidelity, "other.parquet", 3)
    )
    assert same["action_mix_tvd"] == 0.0
    broken_share = (events["action"] == "GET /broken").mean()
    assert other["action_mix_tvd"] == pytest.approx(broken_share, abs=1e-9)
