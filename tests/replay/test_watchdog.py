"""The loop watchdog, in real processes: a pack that holds the event loop (``time.sleep``, a busy loop) is
recorded with its action, and SIGTERM still ends the run within its grace, run.json finalised."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tracereplay.report import load_run

PACK = '''
import time

async def block(ctx):
    await ctx.request("GET", "/api/v4/system/ping")
    if ctx.store.fact("held") is None:  # once per user: the run goes on after it
        ctx.store.set_fact("held", True)
        HOLD()

def sleep_forever():
    time.sleep(3600)

def spin_forever():
    n = 0
    while True:
        n += 1

def short():
    time.sleep(0.8)

HOLD = {hold}
ACTIONS = {{"hold the loop": block}}
'''


def start(tmp_path: Path, url: str, hold: str, *extra: str) -> tuple[subprocess.Popen, Path]:
    pack = tmp_path / "holder.py"
    pack.write_text(PACK.format(hold=hold))
    script = tmp_path / "script.toml"
    script.write_text('think = "50ms"\nactions = ["GET /api/v4/system/ping", "hold the loop"]\n')
    out = tmp_path / "run"
    command = [sys.executable, "-m", "tracereplay", "run", str(script), "--target", url, "--users", "1",
               "--actions", str(pack), "-o", str(out), "--quiet", "--workers", "1", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), out


def run_json(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


@pytest.mark.parametrize("hold", ["sleep_forever", "spin_forever"])
def test_sigterm_ends_a_run_whose_loop_is_held_within_its_grace(demo_process, tmp_path, hold):
    process, out = start(tmp_path, demo_process, hold, "--duration", "60s", "--grace", "1s")
    try:
        deadline = time.monotonic() + 30
        while not (out / "run.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # the user sends, then holds the loop for good
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
        took = time.monotonic() - sent
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert took < 1 + 2.5, took  # the grace, and the watchdog's look every 50 ms
    assert "still held" in stderr
    meta = run_json(out)
    assert meta["exit_reason"] == "interrupted" and meta["ended"] is not None
    totals = meta["totals"]
    assert totals["ended_by"] == "watchdog"
    blocked = totals["loop_blocked"]
    assert blocked["count"] == 1 and blocked["blocks"][0]["action"] == "hold the loop"
    assert blocked["blocks"][0]["seconds"] >= 1.0
    assert "holder.py" in blocked["blocks"][0]["where"]
    run = load_run(out)  # the requests before the hold are readable from the worker's stream
    assert len(run.requests) >= 2 and totals["requests"] == len(run.requests)


def test_a_short_hold_is_recorded_with_its_action_and_the_run_goes_on(demo_process, tmp_path):
    process, out = start(tmp_path, demo_process, "short", "--duration", "3s")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    totals = run_json(out)["totals"]
    assert totals["ended_by"] == "run"
    blocked = totals["loop_blocked"]
    assert blocked["count"] == 1 and 0.6 <= blocked["longest_s"] < 2.0
    assert blocked["blocks"][0]["action"] == "hold the loop"
    assert "held" in stderr and "hold the loop" in stderr  # logged as it happens


def test_sigterm_while_worker_processes_start_ends_the_run_as_interrupted(demo_process, demo_model, tmp_path):
    """A signal before the pool's workers are up (they spawn, import, load the model) used to kill the
    parent with 143 and leave run.json 'running'; now the start-up ends and run.json is finalised."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "tracereplay", "run", demo_model, "--target", demo_process,
               "--users", "4", "--workers", "2", "--duration", "30s", "-o", str(out), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (out / "run.json").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert run_json(out)["exit_reason"] == "running"
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        _, stderr = process.communicate(timeout=20)
        took = time.monotonic() - signalled
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    # within the grace (10 s by default): the workers, busy loading, were waited for grace + 5 s before
    assert took < 10, took
    meta = run_json(out)
    assert meta["exit_reason"] == "interrupted" and meta["ended"] is not None, meta
    assert meta["workers"] == 2
