"""``tracereplay demo`` as a real process: the whole pipeline against the demo target on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tracereplay.model import load_model


def tracereplay(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracereplay", *args], capture_output=True, text=True,
                          timeout=timeout)


def requests_of(run_dir: Path) -> pd.DataFrame:
    parts = sorted(run_dir.glob("requests*.parquet"))
    assert parts, f"no requests*.parquet in {run_dir}"
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


@pytest.mark.slow
def test_demo_runs_the_pipeline_end_to_end(tmp_path):
    out = tmp_path / "demo"
    done = tracereplay("demo", "--duration", "8s", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr

    events = pd.read_parquet(out / "events.parquet")
    assert events["user"].nunique() == 130 and events["session"].nunique() == 407
    model = load_model(out / "model.json")
    assert "POST /api/v4/posts" in model.actions

    run_dirs = list(out.glob("run-*"))
    assert len(run_dirs) == 1
    meta = json.loads((run_dirs[0] / "run.json").read_text())
    assert meta["exit_reason"] == "duration"
    requests = requests_of(run_dirs[0])
    assert len(requests) >= 200
    assert requests["action"].nunique() >= 4
    assert requests["error"].mean() < 0.05
    assert (requests["latency_ms"] > 0).all() and (requests["latency_ms"] < 5000).all()
    assert {"POST /api/v4/users", "POST /api/v4/users/login"} <= set(requests["action"])

    # what a newcomer sees: the stages, the per-action report, where the files are
    for text in ("ingest", "fit", "TOTAL", "GET /api/v4/users/me", str(out / "model.json"), run_dirs[0].name):
        assert text in done.stdout, text


def test_demo_json_names_every_file(tmp_path):
    out = tmp_path / "demo"
    done = tracereplay("demo", "--duration", "2s", "--users", "5", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    for key in ("events", "model", "run_dir"):
        assert Path(document[key]).exists(), key
    assert document["ingest"]["users"] == 130
    assert document["report"]
    assert len(requests_of(Path(document["run_dir"]))) >= 5 * 2  # every user at least signs up and logs in


def test_demo_rejects_a_bad_duration_as_a_usage_error(tmp_path):
    # a duration reads one way on every verb (tracereplay/cli/params.py): a bad one is a usage error, exit 2
    done = tracereplay("demo", "--duration", "soon", "--out", str(tmp_path / "x"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Invalid value for '--duration'" in done.stderr and "'soon'" in done.stderr
    assert not (tmp_path / "x").exists()


def test_demo_serve_serves_the_target_until_interrupted():
    import re
    import signal
    import socket
    import urllib.request

    with socket.socket() as s:  # a port that is free now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tracereplay", "demo", "--serve", "--port", str(port),
                             "--latency-scale", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert re.fullmatch(rf"listening http://127\.0\.0\.1:{port}", line), line
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v4/system/ping", timeout=5) as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_ctrl_c_stops_the_load_reports_and_takes_the_target_down(tmp_path):
    import re
    import signal
    import time
    import urllib.error
    import urllib.request

    out = tmp_path / "demo"
    argv = ["demo", "--duration", "60s", "--users", "10", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "tracereplay", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("target"):
                break
        url = re.search(r"http://127\.0\.0\.1:\d+", lines[-1]).group(0)
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "TOTAL" in rest
    run_dir = next(out.glob("run-*"))
    assert json.loads((run_dir / "run.json").read_text())["exit_reason"] == "interrupted"
    assert len(requests_of(run_dir)) > 0
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/api/v4/system/ping", timeout=2)
