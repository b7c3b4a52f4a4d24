"""Capacity search against a target of known capacity: 200 ms a request while it holds at most 30 requests,
1 s past that (tests/service/capacity_target.py).

Closed users with no think time: up to 30 users every request takes 200 ms, whatever the machine's load
(the target counts its requests in flight, it reads no clock to decide); from 31 users on nearly every
request takes 1 s. So p95 < 500 ms holds up to 30 users and breaks from 31, with 300 ms of room for a loaded
machine's scheduling delays below the capacity and 500 ms of signal above it. The search must land within
10 % of 30 — from the client's measurements alone, and from a server-side PromQL SLO on a real Prometheus
scraping the target — and each step must be judged as the target's rule says (held iff load ≤ 30).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tracereplay.service.capacity import CapacitySearch, Step, Verdict, search

CAPACITY = 30  # conftest's known_target


@pytest.fixture
def work_script(tmp_path: Path) -> Path:
    path = tmp_path / "work.toml"
    path.write_text('think = "0s"\nsession_gap = "0s"\nactions = ["GET /work"]\n')
    return path


def _capacity(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tracereplay", "capacity", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_the_search_finds_the_known_capacity_from_client_figures(known_target, work_script, tmp_path):
    out = tmp_path / "cap"
    result = _capacity(
        str(work_script),
        "--target",
        known_target,
        "--slo",
        "p95_ms<500",
        "--slo",
        "error_rate<0.01",
        "--start",
        "8",
        "--hold",
        "4s",
        "--precision",
        "10%",
        "-o",
        str(out),
    )
    assert abs(result["capacity"] - CAPACITY) <= 0.1 * CAPACITY, result["summary"]
    assert result["breach"] > result["capacity"] and result["uncertainty"] <= 0.1 * result["capacity"] + 1
    loads = [s["load"] for s in result["steps"]]
    assert loads[:3] == [8, 16, 32]  # ×2 while it holds, then back off and bisect
    assert [s["passed"] for s in result["steps"]] == [load <= CAPACITY for load in loads], result["summary"]
    # every step is a real run directory with its requests
    for step in result["steps"]:
        run_dir = Path(step["run_dir"])
        assert (run_dir / "run.json").is_file() and step["figures"]["requests"] > 0
    assert (out / "capacity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "capacity.json").read_text())["capacity"] == result["capacity"]


async def test_a_promql_slo_on_the_server_side_finds_it_too(known_target, work_script, tmp_path, prometheus):
    server = await prometheus(known_target + "/metrics")
    p95 = "histogram_quantile(0.95, sum by (le) (rate(capacity_target_seconds_bucket[3s]))) < 0.5"
    result = await asyncio.to_thread(
        _capacity,
        str(work_script),
        "--target",
        known_target,
        "--slo",
        "error_rate<0.01",
        "--promql-url",
        server.url,
        "--promql-slo",
        p95,
        "--start",
        "8",
        "--hold",
        "3s",
        "--precision",
        "10%",
        "-o",
        str(tmp_path / "cap"),
    )
    assert abs(result["capacity"] - CAPACITY) <= 0.1 * CAPACITY, result["summary"]
    for step in result["steps"]:
        promql = [v for v in step["slos"] if v["slo"] == p95]
        assert len(promql) == 1 and promql[0]["actual"] is not None, step
        assert promql[0]["passed"] == (step["load"] <= CAPACITY), step  # the server's own view


def test_bisection_converges_on_the_largest_passing_load():
    """The search itself, on a rule standing in for a target: every load ≤ 37 holds."""

    def probe(load: float, index: int) -> Step:
        return Step(
            index=index,
            load=load,
            run_dir=Path("."),
            verdicts=[Verdict(slo="x", actual=load, passed=load <= 37)],
        )

    result = search(probe, CapacitySearch(start=5, limit=1000, precision=0.01))
    assert (result.capacity, result.breach) == (37, 38)
    assert [s.load for s in result.steps][:4] == [5, 10, 20, 40]
    limited = search(probe, CapacitySearch(start=5, limit=30))
    assert (limited.capacity, limited.breach) == (30, None)
    none = search(probe, CapacitySearch(start=50, limit=100))
    assert (none.capacity, none.breach) == (None, 50)
    rates = search(probe, CapacitySearch(start=1.5, limit=1000, precision=0.02, integer=False))
    assert 37 * 0.98 <= rates.capacity <= 37 < rates.breach


def test_bad_input_is_one_line_and_a_dead_target_has_no_capacity(work_script, tmp_path):
    def capacity(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tracereplay", "capacity", str(work_script), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    out = ["-o", str(tmp_path / "c")]
    done = capacity("--target", "http://127.0.0.1:9", *out)
    assert done.returncode == 2 and "give at least one --slo" in done.stderr
    done = capacity("--target", "http://127.0.0.1:9", "--slo", "p99_ms<<5", *out)
    assert done.returncode == 1 and "threshold 'p99_ms<<5' is not" in done.stderr
    done = capacity("--target", "http://127.0.0.1:9", "--promql-slo", "up > 0", *out)
    assert done.returncode == 2 and "--promql-slo needs --promql-url" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "c").exists()
    # nothing listens on port 9: every request fails fast, so p99 alone would "hold" — it must not pass
    done = capacity("--target", "http://127.0.0.1:9", "--slo", "p99_ms<500", "--hold", "1s", *out)
    assert done.returncode == 3, done.stderr
    assert "no capacity: the first step (8 users) already breached" in done.stdout


@pytest.mark.slow
def test_each_step_can_run_on_a_dask_cluster(known_target, work_script, tmp_path):
    """--cluster: the steps run on a Dask cluster's workers (here a LocalCluster of two)."""
    result = _capacity(
        str(work_script), "--target", known_target, "--slo", "p95_ms<500", "--start", "8", "--max", "8",
        "--hold", "2s", "--cluster", "local:2", "-o", str(tmp_path / "cap"),
    )  # fmt: skip
    assert result["capacity"] == 8 and len(result["steps"]) == 1
    meta = json.loads((Path(result["steps"][0]["run_dir"]) / "run.json").read_text())
    assert meta["workers"] == 2 and meta["config"]["cluster"] == "local:2" and meta["requests"] > 0
