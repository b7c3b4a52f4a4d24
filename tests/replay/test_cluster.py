"""Runs on a Dask cluster: a LocalCluster in this process, and a real ``dask scheduler`` with two
``dask worker`` processes on 127.0.0.1, against a server on 127.0.0.1 that counts what it is sent.

The run directory is written by the client from the parts the workers ship (no shared disk is used), so
the merged request count must equal the server's own count; a worker killed mid-run is reported and the
run goes on; an unreachable scheduler is one line and exit status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest
from aiohttp import web

from tracereplay.replay.workers import start_pool
from tracereplay.report.load import load_run
from tracereplay.rundir import read_run_json

BIN = Path(sys.executable).parent
SCRIPT = 'think = "20ms"\nactions = ["GET /ping"]\n'


class Counter:
    """A target that answers every request at once and counts them."""

    def __init__(self) -> None:
        self.requests = 0

    def app(self) -> web.Application:
        async def answer(request: web.Request) -> web.Response:
            self.requests += 1
            return web.json_response({})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        return app


@pytest.fixture
def script(tmp_path) -> str:
    path = tmp_path / "ping.toml"
    path.write_text(SCRIPT)
    return str(path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def dask_processes(workers: int = 2) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A real ``dask scheduler`` and ``workers`` ``dask worker`` processes on 127.0.0.1 (each in its own
    process group, so a test can kill one with its nanny); torn down at the end."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
    scheduler = subprocess.Popen(
        [BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet
    )
    started = [scheduler]
    try:
        for _ in range(workers):
            started.append(
                subprocess.Popen(
                    [BIN / "dask", "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                     "--no-dashboard"],
                    **quiet,
                )
            )
        import distributed

        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
        yield address, started[1:]
    finally:
        for process in reversed(started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


async def _cli(*args: str, timeout: float = 180) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tracereplay", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode(), err.decode()


def _stored_requests(out: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in out.glob("requests-*.parquet"))


async def test_a_local_cluster_runs_the_users_and_the_client_writes_every_request(serve, script, tmp_path):
    counter = Counter()
    url = await serve(counter.app())
    out = tmp_path / "run"
    handle = await start_pool(script, target=url, users=6, duration=3, out=str(out), cluster="local:2")
    assert handle.workers == 2
    handle.add_users(3)  # to the workers with the fewest: 3 + 3 → 5 + 4
    result = await handle.wait()
    assert result.exit_reason == "duration" and result.workers == 2
    meta = read_run_json(out)
    assert meta is not None and meta.workers == 2 and meta.config["cluster"] == "local:2"
    assert meta.lost_workers == []
    # every request the server answered is in the run directory, once, from both workers
    assert counter.requests == result.requests == _stored_requests(out) == meta.requests > 0
    frame = load_run(out).requests
    assert set(frame["worker"]) == {0, 1}
    assert not list(out.glob("*.arrows"))  # every stream became Parquet
    assert sorted(handle._users) == [4, 5]
    assert len(handle.control_latency_s) == 2 and max(handle.control_latency_s) < 1.0


@pytest.mark.slow
async def test_a_real_scheduler_and_two_workers_merge_into_the_servers_count(serve, script, tmp_path):
    counter = Counter()
    url = await serve(counter.app())
    out = tmp_path / "run"
    with dask_processes(2) as (address, _):
        code, stdout, stderr = await _cli(
            "run", script, "--target", url, "--users", "8", "--duration", "3s", "--cluster", address,
            "--json", "-q", "-o", str(out),
        )  # fmt: skip
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["workers"] == 2 and result["exit_reason"] == "duration"
    assert counter.requests == result["requests"] == _stored_requests(out) > 0
    assert set(load_run(out).requests["worker"]) == {0, 1}


@pytest.mark.slow
async def test_a_worker_killed_mid_run_is_reported_and_the_run_goes_on(serve, script, tmp_path):
    counter = Counter()
    url = await serve(counter.app())
    out = tmp_path / "run"
    with dask_processes(2) as (address, workers):
        run = asyncio.ensure_future(
            _cli(
                "run", script, "--target", url, "--users", "8", "--duration", "8s", "--cluster", address,
                "--json", "-q", "-o", str(out),
            )
        )
        deadline = time.monotonic() + 120
        while not (out / "requests-1.arrows").exists() or (out / "requests-1.arrows").stat().st_size < 2000:
            assert time.monotonic() < deadline and not run.done(), "worker 1 never shipped a part"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        before_kill = counter.requests
        for victim in workers:  # whichever Dask worker runs share 1: kill one, nanny and all
            os.killpg(victim.pid, signal.SIGKILL)
            break
        code, stdout, stderr = await run
    assert code == 0, stderr
    result = json.loads(stdout)
    meta = read_run_json(out)
    assert meta is not None and len(meta.lost_workers) == 1
    lost = meta.lost_workers[0]
    assert lost["users"] == 4 and 0 < lost["at_s"] < 8 and 0 < lost["lost_s"] < 8
    assert "lost" in stderr and f"worker {lost['worker']}" in stderr
    # the other worker ran to the end; the lost one's shipped seconds are kept, at most ~2 s of it lost
    assert result["exit_reason"] == "duration"
    stored = _stored_requests(out)
    assert stored == result["requests"] and before_kill < stored <= counter.requests
    per_second = counter.requests / 8
    assert counter.requests - stored < 3 * per_second


async def test_an_unreachable_scheduler_is_one_line_and_exit_1(script, tmp_path):
    started = time.monotonic()
    code, _, stderr = await _cli(
        "run", script, "--target", "http://127.0.0.1:9", "--users", "1", "--duration", "1s",
        "--cluster", f"tcp://127.0.0.1:{_free_port()}", "-o", str(tmp_path / "run"),
    )  # fmt: skip
    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Dask scheduler" in lines[0], stderr
    assert time.monotonic() - started < 30  # 5 s to connect, the rest is starting Python on a busy machine


async def test_replay_on_a_local_cluster_ships_the_trace_and_keeps_whole_users(serve, demo_events, tmp_path):
    """The trace file goes to the workers with their jobs (no shared disk is assumed); each recorded user
    is replayed by one worker only, and every request the server answered is in the run directory. (The
    sample users start over two days: at 20,000× they start within 8 s.)"""
    counter = Counter()
    url = await serve(counter.app())
    out = tmp_path / "replay"
    handle = await start_pool(
        None, trace=demo_events, target=url, speed=20_000, max_gap=0.2, duration=6, out=str(out),
        cluster="local:2",
    )  # fmt: skip
    result = await handle.wait()
    assert result.workers == 2 and counter.requests == result.requests == _stored_requests(out) > 0
    frame = load_run(out).requests
    assert frame.groupby("user")["worker"].nunique().max() == 1 and set(frame["worker"]) == {0, 1}
    meta = read_run_json(out)
    assert meta is not None and meta.model == demo_events  # the client's path, not a worker's copy


async def test_arrival_rate_and_stop_reach_every_dask_worker_within_a_second(serve, script, tmp_path):
    counter = Counter()
    url = await serve(counter.app())
    out = tmp_path / "open"
    handle = await start_pool(
        script, target=url, arrival_rate=4, duration=60, out=str(out), cluster="local:2", grace=2
    )
    await asyncio.sleep(1.5)
    handle.set_arrival_rate(40)  # 20 sessions/s to each worker
    await asyncio.sleep(2.0)
    asked = time.monotonic()
    handle.stop()
    result = await handle.wait()
    assert time.monotonic() - asked < 15  # a stop, not the 60 s duration (the rest is tear-down)
    assert result.exit_reason == "interrupted" and result.workers == 2
    assert handle.arrival_rate == 40
    # both workers applied the rate and the stop, each within a second
    assert len(handle.control_latency_s) == 4 and max(handle.control_latency_s) < 1.0
    assert result.sessions_started >= 4 * 1.5 + 40 * 1.0  # the new rate started sessions at once
    assert counter.requests == result.requests == _stored_requests(out)


def _pool_workers(pid: int) -> list[psutil.Process]:
    """The worker processes of a ``--workers N`` run (multiprocessing children of the CLI process)."""
    children = psutil.Process(pid).children(recursive=True)
    return [child for child in children if "spawn_main" in " ".join(child.cmdline())]


@pytest.mark.slow
@pytest.mark.parametrize("load", [["--users", "8"], ["--arrival-rate", "40"]], ids=["closed", "open"])
async def test_a_lost_workers_load_moves_to_the_others(serve, script, tmp_path, load):
    """A worker killed mid-run: its users (closed) or its arrivals (open) go to the survivor, so the run
    keeps the load it was asked for — read off the survivor's own per-second counters."""
    url = await serve(Counter().app())
    out = tmp_path / "run"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tracereplay", "run", script, "--target", url, *load, "--workers", "2",
        "--duration", "8s", "--json", "-q", "-o", str(out),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not all((out / f"users-{w}.arrows").exists() for w in (0, 1)):  # both loads started
        assert time.monotonic() < deadline and process.returncode is None, "the workers never started"
        await asyncio.sleep(0.1)
    await asyncio.sleep(2.0)
    workers = _pool_workers(process.pid)
    assert len(workers) == 2
    workers[0].kill()
    killed_at = time.time()
    _, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode()
    lost = read_run_json(out).lost_workers  # type: ignore[union-attr]
    assert len(lost) == 1 and lost[0]["moved"] == ("users" if load[0] == "--users" else "arrivals")
    assert "move to the other 1 worker" in stderr.decode()
    survivor = pq.read_table(out / f"users-{1 - lost[0]['worker']}.parquet").to_pandas()
    seconds = survivor["ts"].astype("int64") / 1e9
    before, after = survivor[seconds < killed_at - 0.5], survivor[seconds > killed_at + 2.5]
    if load[0] == "--users":
        assert before["active_users"].max() == 4 and after["active_users"].iloc[-2] == 8
    else:  # sessions started per second: about twice the survivor's own 20/s once it carries both shares
        rate_before = before["sessions_started"].diff().iloc[1:].mean()
        rate_after = after["sessions_started"].diff().iloc[1:-1].mean()
        assert rate_after > 1.5 * rate_before, (rate_before, rate_after)
