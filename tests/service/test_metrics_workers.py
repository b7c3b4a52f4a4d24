"""/metrics of a run with several workers: each worker counts, the parent serves the sum.

Real processes throughout: ``tracereplay run --workers 2`` (or ``--cluster local:2``) with
``--metrics-port``, its workers spawned processes (or Dask workers), scraped over HTTP while a server on
127.0.0.1 counts what it answers. Once the users are removed nothing is in flight, and the scraped
counters must equal the server's own count per action.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tracereplay.replay.api import open_run
from tracereplay.replay.metrics import RunMetrics
from tracereplay.replay.workers import _count_metrics
from tracereplay.report import load_run

from .conftest import until

ACTIONS = {"GET /a": "/a", "GET /b": "/b"}


def _families(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def _by_action(families: dict[str, list]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for sample in families.get("tracereplay_requests", []):
        if sample.name == "tracereplay_requests_total":
            action = sample.labels["action"]
            totals[action] = totals.get(action, 0) + sample.value
    return totals


def _durations(families: dict[str, list]) -> dict[str, float]:
    return {
        s.labels["action"]: s.value
        for s in families.get("tracereplay_request_duration_seconds", [])
        if s.name == "tracereplay_request_duration_seconds_count"
    }


@pytest.mark.parametrize(
    "spread",
    [
        pytest.param(["--workers", "2"], id="workers"),
        pytest.param(["--cluster", "local:2"], id="dask", marks=pytest.mark.slow),
    ],
)
async def test_metrics_of_two_workers_sum_to_the_servers_count(target, script, tmp_path, spread):
    out = tmp_path / "run"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tracereplay", "run", str(script), "--target", target.url, "--users", "4",
        "--duration", "60s", "--metrics-port", "0", "-q", "--json", "-o", str(out), *spread,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None and process.stdout is not None
        line = (await asyncio.wait_for(process.stderr.readline(), 60)).decode()
        assert " at http://127.0.0.1:" in line, line
        url = line.split(" at ")[1].strip()
        base = url.removesuffix("/metrics")
        async with aiohttp.ClientSession() as session:

            async def scrape() -> dict[str, list]:
                async with session.get(url) as response:
                    assert response.status == 200
                    return _families(await response.text())

            async def everyone_counted():
                families = await scrape()
                users = families.get("tracereplay_active_users", [])
                running = users and users[0].value == 4 and set(_by_action(families)) == set(ACTIONS)
                return families if running else None

            first = await until(everyone_counted, timeout_s=90, every_s=0.25)
            await asyncio.sleep(1.5)
            # the dashboard's series covers both workers too
            async with session.get(base + "/loadagent/current/series") as response:
                series = await response.json()
            assert series and series[-1]["users"] == 4 and series[-1]["rps"] > 0
            later = await scrape()
            for action, count in _by_action(first).items():  # counters only go up
                assert _by_action(later)[action] >= count > 0

            # no user left: nothing in flight, so once the last snapshots are in, the sums are exact
            async with session.post(base + "/loadagent/current/removeusers?amount=4") as response:
                assert response.status == 200, await response.text()

            async def settled():
                families = await scrape()
                served = {action: target.served[path] for action, path in ACTIONS.items()}
                idle = families["tracereplay_active_users"][0].value == 0
                return families if idle and _by_action(families) == served else None

            final = await until(settled, timeout_s=15, every_s=0.25)
            assert _durations(final) == _by_action(final)  # every request in its action's histogram
            assert final["tracereplay_sessions_started"][0].value >= 4
            async with session.post(base + "/loadagent/current/stop") as response:
                assert response.status == 200
        stdout, _ = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 130  # stopped before its duration
    result = json.loads(stdout)
    assert result["workers"] == 2
    assert result["requests"] == sum(target.served.values()) == sum(_by_action(final).values())
    assert set(load_run(out).requests["worker"]) == {0, 1}  # both workers sent load


async def test_a_lost_workers_counts_stay_in_the_sums(target, script, tmp_path):
    """A worker killed mid-run: its users leave the gauge, its requests stay in the counters."""
    metrics = RunMetrics()
    handle = await open_run(
        script, target=target.url, users=4, duration=30, workers=2, out=str(tmp_path / "run"),
        metrics=metrics,
    )  # fmt: skip

    def totals() -> dict[str, float]:
        return _by_action(_families(_scrape(metrics)))

    async def both_counting():
        return metrics.counts.keys() == {0, 1} and all(c.active_users == 2 for c in metrics.counts.values())

    await until(both_counting, timeout_s=30)
    await asyncio.sleep(1.2)
    before = totals()
    victim = handle.cluster._processes[1].pid  # type: ignore[attr-defined]
    os.kill(victim, signal.SIGKILL)

    async def lost():
        return 1 in handle._lost

    with pytest.warns(RuntimeWarning, match="worker 1"):
        await until(lost, timeout_s=15)
    after = totals()
    for action, count in before.items():
        assert after[action] >= count
    assert _families(_scrape(metrics))["tracereplay_active_users"][0].value == 2
    handle.stop()
    result = await handle.wait()
    # the lost worker's requests are kept: at least what the run counted, at most what the server saw
    assert sum(target.served.values()) >= sum(totals().values()) >= result.requests


def _scrape(metrics: RunMetrics) -> str:
    registry = CollectorRegistry()
    registry.register(metrics)
    return generate_latest(registry).decode()


def test_a_snapshot_that_does_not_add_up_is_left_out():
    """A worker of another version (other buckets) or a garbled snapshot changes nothing and raises nothing:
    the report it came with is still handled."""
    metrics = RunMetrics()
    good = RunMetrics()
    good.requests[("GET /a", "200", "none")] = 5
    metrics.add_worker(0, good.to_wire())
    metrics.add_worker(1, {**good.to_wire(), "bounds": [0.1, 1.0]})
    garbled = {"bounds": list(metrics.bounds), "requests": [["x"]]}
    _count_metrics(metrics, 2, {"kind": "done", "metrics": garbled})
    assert _by_action(_families(_scrape(metrics))) == {"GET /a": 5}
