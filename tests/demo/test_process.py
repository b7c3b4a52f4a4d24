"""The demo target as a child process: starts on a free port, answers, stops cleanly."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tracereplay.demo.process import TargetProcess
from tracereplay.errors import TargetError


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_starts_on_a_free_port_answers_and_stops():
    with TargetProcess(latency_scale=0, seed=3) as target:
        assert target.url.startswith("http://127.0.0.1:")
        assert target.running
        assert get(target.url + "/api/v4/system/ping") == (200, {"status": "OK"})
        assert get(target.url + "/api/v4/users/me")[0] == 401
        url = target.url
    assert not target.running
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/api/v4/system/ping", timeout=2)


def test_two_targets_get_different_ports():
    with TargetProcess(latency_scale=0) as a, TargetProcess(latency_scale=0) as b:
        assert a.url != b.url


def test_a_taken_port_is_a_target_error_naming_the_reason():
    with TargetProcess(latency_scale=0) as first:
        port = int(first.url.rsplit(":", 1)[1])
        with pytest.raises(TargetError, match=r"did not start: .*cannot listen"):
            TargetProcess(port=port, latency_scale=0).start()


def test_the_target_goes_down_with_its_parent():
    """Even a parent killed outright (no cleanup) does not leave the target running."""
    import os
    import signal
    import subprocess
    import sys
    import time

    code = (
        "from tracereplay.demo.process import TargetProcess\n"
        "t = TargetProcess(latency_scale=0)\n"
        "print(t.start(), t._proc.pid, flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    url, child_pid = parent.stdout.readline().split()
    assert get(url + "/api/v4/system/ping")[0] == 200
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(int(child_pid), 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(int(child_pid), signal.SIGKILL)
        raise AssertionError("the target outlived its parent")
