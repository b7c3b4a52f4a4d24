"""A plain ``tracereplay run --metrics-port / --dashboard``: a real process serving /metrics and the
dashboard's API beside its users, steered over HTTP, gone when the run ends."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families


def _start(*args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tracereplay", "run", *args, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stderr.readline()
    assert " at http://127.0.0.1:" in line, line + process.stderr.read()
    return process, line.split(" at ")[1].strip()


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def _post(url: str):
    request = urllib.request.Request(url, method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "w.toml"
    path.write_text('think = "50ms"\nactions = ["GET /work"]\n')
    return path


def test_run_serves_prometheus_metrics_while_it_runs(known_target, script, tmp_path):
    process, url = _start(
        str(script),
        "--target",
        known_target,
        "--users",
        "3",
        "--duration",
        "4s",
        "--workers",
        "1",
        "--metrics-port",
        "0",
        "-o",
        str(tmp_path / "run"),
    )
    try:
        time.sleep(2)
        families = {f.name: f for f in text_string_to_metric_families(_get(url))}
        requests = families["tracereplay_requests"].samples
        assert requests and requests[0].labels == {
            "action": "GET /work",
            "status": "200",
            "error_kind": "none",
        }
        assert families["tracereplay_active_users"].samples[0].value == 3
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
    done = json.loads((tmp_path / "run" / "run.json").read_text())
    assert done["exit_reason"] == "duration" and done["workers"] == 1


def test_run_dashboard_controls_act_on_the_run(known_target, script, tmp_path):
    process, url = _start(
        str(script),
        "--target",
        known_target,
        "--users",
        "2",
        "--duration",
        "60s",
        "--workers",
        "1",
        "--dashboard",
        "-o",
        str(tmp_path / "run"),
    )
    base = url.split("/dashboard")[0]
    try:
        assert url.endswith("/dashboard?run=current")
        assert "<canvas" in _get(url)
        # the page is up while the run still starts (its model loads off the loop): a control then is a 409,
        # so wait until its load has begun ("live" figures; "state" is "running" from the start)
        deadline = time.monotonic() + 30
        while json.loads(_get(base + "/loadagent/current/status"))["live"] is None:
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.05)
        status = _post(base + "/loadagent/current/addusers?amount=3")
        assert status["live"]["active_users"] == 5
        _post(base + "/loadagent/current/stop")
        assert process.wait(timeout=60) == 130  # stopped before its duration: interrupted
    finally:
        process.kill()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["exit_reason"] == "interrupted"


def test_served_runs_refuse_a_network_bind_without_a_token(tmp_path):
    for extra, reason in ((["--metrics-host", "0.0.0.0"], "refusing to bind 0.0.0.0 without a token"),):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tracereplay",
                "run",
                "m.json",
                "--target",
                "http://127.0.0.1:9",
                "--users",
                "1",
                "--metrics-port",
                "0",
                "-o",
                str(tmp_path / "r"),
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin", "TRACEREPLAY_TOKEN": ""},
        )
        assert done.returncode == 2 and reason in done.stderr, done.stderr
        assert not (tmp_path / "r").exists()
