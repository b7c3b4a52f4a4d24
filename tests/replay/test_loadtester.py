"""The LoadTester against real servers on 127.0.0.1: recording, runtime control, unreachable targets."""

from __future__ import annotations

import asyncio
import json
import socket

import numpy as np
import pandas as pd
import pytest

from tracereplay.replay import ExitReason, run_async, start_run
from tracereplay.replay.config import RunConfig
from tracereplay.replay.events import RequestEvent
from tracereplay.replay.loadtester import LoadTester
from tracereplay.replay.runner import prepare_worker
from tracereplay.rundir import REQUEST_SCHEMA

PACK = "tracereplay.demo.actions"


def read_requests(run_dir) -> pd.DataFrame:
    files = sorted(run_dir.glob("requests*.parquet"))
    assert files, f"no requests file in {run_dir}"
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


async def test_short_closed_run_records_every_request(demo_url, hand_model, tmp_path):
    out = tmp_path / "run"
    result = await run_async(
        hand_model, target=demo_url, users=4, duration=1.5, out=str(out), actions=PACK, seed=3
    )

    assert result.exit_reason == ExitReason.DURATION.value
    frame = read_requests(out)
    assert list(frame.columns) == REQUEST_SCHEMA.names
    assert len(frame) == result.requests > 20
    assert not (out / "requests-0.arrows").exists(), "the stream is converted at the end"
    # every user signed up before logging in, then used the ids the answers gave it
    first = frame.sort_values("ts").groupby("user").first()
    assert (first["action"] == "POST /api/v4/users").all()
    assert set(frame["status"].dropna()) <= {200, 201}
    assert not frame["error"].any() and frame["error_kind"].isna().all()
    # sane timings: positive latencies, corrected ≥ measured, intended never after the actual start + 1 ms
    assert (frame["latency_ms"] > 0).all() and (frame["latency_ms"] < 1000).all()
    assert (frame["latency_corrected_ms"] >= frame["latency_ms"] - 1e-6).all()
    assert (frame["duration_ms"] == frame["latency_ms"]).all()
    assert (frame["source"] == "run").all() and (frame["worker"] == 0).all()
    assert (frame["bytes"] > 0).all()
    posts = frame[frame["action"] == "GET /api/v4/channels/{channel_id}/posts"]
    assert posts["path"].str.match(r"^/api/v4/channels/[a-z0-9]{26}/posts$").all()

    meta = json.loads((out / "run.json").read_text())
    assert meta["format"] == "tracereplay-run" and meta["exit_reason"] == "duration"
    assert meta["requests"] == len(frame) and meta["workers"] == 1
    users = pd.read_parquet(out / "users-0.parquet")
    assert users["active_users"].iloc[0] == 4 and len(users) >= 2


async def test_add_and_remove_users_while_running(demo_url, hand_model, tmp_path):
    handle = await start_run(
        hand_model, target=demo_url, users=2, duration=5, out=str(tmp_path / "run"), actions=PACK
    )
    assert await _eventually(lambda: handle.active_users == 2)
    handle.add_users(3)
    assert await _eventually(lambda: handle.active_users == 5)
    await asyncio.sleep(0.5)  # let the added users act (the requests below show they ran)
    assert handle.remove_users(4) == 4
    assert await _eventually(lambda: handle.active_users == 1)
    handle.stop()
    result = await handle.wait()
    assert result.exit_reason == "interrupted"
    users = read_requests(tmp_path / "run")["user"].nunique()
    assert users >= 5


async def test_users_removed_right_after_being_added_stop_counting(demo_url, hand_model, tmp_path):
    """A user removed before its task first ran must still leave the count (it never runs its body)."""
    handle = await start_run(
        hand_model, target=demo_url, users=2, duration=5, out=str(tmp_path / "run"), actions=PACK
    )
    assert await _eventually(lambda: handle.active_users == 2)
    handle.add_users(3)
    assert handle.remove_users(3) == 3  # the same loop turn: none of the three has started
    assert await _eventually(lambda: handle.active_users == 2)
    handle.stop()
    assert (await handle.wait()).exit_reason == "interrupted"


async def _eventually(condition, timeout: float = 3.0) -> bool:
    """Poll instead of sleeping a fixed time: a loaded CI core may need longer than a quiet one."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_closed_port_records_connect_errors_and_ends_cleanly(hand_model, tmp_path):
    out = tmp_path / "run"
    url = f"http://127.0.0.1:{_closed_port()}"
    result = await run_async(hand_model, target=url, users=3, duration=0.8, out=str(out), actions=PACK)
    frame = read_requests(out)
    assert result.exit_reason == "duration" and len(frame) > 0
    assert (frame["error_kind"] == "connect").all() and frame["error"].all()
    assert frame["status"].isna().all()
    assert frame["error_detail"].str.contains(str(url.rsplit(":", 1)[1])).all()  # which address refused


@pytest.mark.parametrize("think_scale", [0.0])
async def test_think_scale_zero_runs_flat_out(demo_url, hand_model, tmp_path, think_scale):
    hand_model.think_s = 0.2  # would allow ~5 actions per user per second
    result = await run_async(
        hand_model,
        target=demo_url,
        users=2,
        duration=1,
        out=str(tmp_path / "r"),
        actions=PACK,
        think_scale=think_scale,
    )
    assert result.requests > 100


async def test_max_rps_caps_the_request_rate(demo_url, hand_model, tmp_path):
    result = await run_async(
        hand_model,
        target=demo_url,
        users=5,
        duration=1.5,
        think_scale=0,
        max_rps=40,
        out=str(tmp_path / "r"),
        actions=PACK,
    )
    assert 40 <= result.requests <= 40 * 1.5 + 3  # users waiting for a slot when the run stops send nothing
    frame = read_requests(tmp_path / "r")
    # throttled requests keep their intended start: the wait shows in the corrected latency
    assert frame["latency_corrected_ms"].median() > frame["latency_ms"].median() + 20


async def test_every_request_is_announced_once_on_the_request_hook(demo_url, hand_model, tmp_path):
    """A listener added before the start hears exactly the rows the recorder wrote, field for field."""
    out = tmp_path / "run"
    config = RunConfig(target=demo_url, users=3, duration=1.0, out=str(out), actions=PACK, seed=5).validate()
    share, source, table = prepare_worker(hand_model, config)
    tester = LoadTester(share, controllers=source.controllers, table=table)
    heard: list[RequestEvent] = []
    tester.request_hook.add_listener(heard.append)
    outcome = await tester.run()

    frame = read_requests(out).sort_values(["user", "ts"], ignore_index=True)
    assert len(heard) == len(frame) == outcome.requests > 20
    events = pd.DataFrame(heard, columns=RequestEvent._fields)
    events = events.sort_values(["user", "start"], ignore_index=True)
    for column in ("user", "session", "action", "method", "route", "path"):
        assert events[column].tolist() == frame[column].tolist(), column
    assert events["error_kind"].isna().all() and frame["error_kind"].isna().all()
    assert events["status"].tolist() == frame["status"].astype("Int64").tolist()
    assert np.allclose((events["end"] - events["start"]) * 1e3, frame["latency_ms"])
    assert events["nbytes"].tolist() == frame["bytes"].tolist()


async def test_a_run_handle_exposes_the_hook_to_api_users(demo_url, hand_model, tmp_path):
    handle = await start_run(
        hand_model, target=demo_url, users=2, duration=1.0, out=str(tmp_path / "run"), actions=PACK
    )
    heard: list[RequestEvent] = []
    handle.request_hook.add_listener(heard.append)
    result = await handle.wait()
    frame = read_requests(tmp_path / "run")
    assert 0 < len(heard) <= result.requests == len(frame)
    recorded = set(zip(frame["user"], frame["action"], frame["path"], strict=True))
    assert {(e.user, e.action, e.path) for e in heard} <= recorded
