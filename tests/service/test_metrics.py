"""Prometheus metrics: the listener counts a real run exactly, and a real Prometheus scraping the agent
answers a per-action rate query that agrees with what the target itself counted."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tracereplay.replay.api import start_run
from tracereplay.replay.metrics import RunMetrics

TOKEN = "metrics-token-42"


def _samples(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


async def test_the_listener_counts_every_request_of_a_real_run(target, tmp_path):
    script = tmp_path / "s.toml"
    script.write_text('think = "20ms"\nactions = ["GET /a", "GET /b", "GET /fail"]\n')
    metrics = RunMetrics()
    registry = CollectorRegistry()
    registry.register(metrics)
    handle = await start_run(
        str(script), target=target.url, users=3, duration=2, out=str(tmp_path / "run"),
        on_interval=metrics.on_interval, listeners=[metrics.on_request],
    )
    await asyncio.sleep(1.5)
    running = _samples(generate_latest(registry).decode())
    assert running["tracereplay_active_users"][0].value == 3
    assert running["tracereplay_sessions_started_total"][0].value >= 3
    result = await handle.wait()
    metrics.finish(result.sessions_started, result.sessions_dropped, result.sessions_late)
    samples = _samples(generate_latest(registry).decode())
    requests = {
        (s.labels["action"], s.labels["status"], s.labels["error_kind"]): s.value
        for s in samples["tracereplay_requests_total"]
    }
    assert requests == {
        ("GET /a", "200", "none"): target.served["/a"],
        ("GET /b", "200", "none"): target.served["/b"],
        ("GET /fail", "500", "http_5xx"): target.served["/fail"],
    }
    assert sum(requests.values()) == result.requests
    counts = {s.labels["action"]: s.value for s in samples["tracereplay_request_duration_seconds_count"]}
    assert counts == {"GET /a": target.served["/a"], "GET /b": target.served["/b"],
                      "GET /fail": target.served["/fail"]}
    infinite = {s.labels["action"]: s.value for s in samples["tracereplay_request_duration_seconds_bucket"]
                if s.labels["le"] == "+Inf"}
    assert infinite == counts
    assert samples["tracereplay_sessions_started_total"][0].value == result.sessions_started
    assert samples["tracereplay_active_users"][0].value == 0


async def test_prometheus_scrapes_the_agent_and_the_per_action_rate_is_right(
    start_agent, target, script, prometheus, wait_for
):
    client = await start_agent(token=TOKEN)
    server = await prometheus(client.url + "/metrics", token=TOKEN)
    body = {"id": "p", "model": str(script), "settings": {"target": target.url, "users": 4, "duration": 10}}
    await client.call("POST", "/loadagent/create", json=body)
    await client.call("POST", "/loadagent/p/run")

    async def scraped_users():
        result = await server.query(server.session, "tracereplay_active_users")
        return result and float(result[0]["value"][1]) == 4

    await wait_for(scraped_users, timeout_s=15)

    async def finished():
        _, status = await client.call("GET", "/loadagent/p/status")
        return status if status["state"] == "finished" else None

    status = await wait_for(finished, timeout_s=30)
    await asyncio.sleep(2.5)  # at least two scrapes of the final counts

    # totals: exactly what the target served
    totals = await server.query(server.session, "sum by (action) (tracereplay_requests_total)")
    by_action = {r["metric"]["action"]: float(r["value"][1]) for r in totals}
    assert by_action == {"GET /a": target.served["/a"], "GET /b": target.served["/b"]}
    assert sum(by_action.values()) == status["result"]["requests"]

    # the per-action rate over a window inside the run, against the target's own count in that window
    window = 5.0
    first = min(min(target.times["/a"]), min(target.times["/b"]))
    at = first + 8.0
    rates = await server.query(
        server.session, f"sum by (action) (rate(tracereplay_requests_total[{window:g}s]))", at=at
    )
    promql = {r["metric"]["action"]: float(r["value"][1]) for r in rates}
    for action, path in (("GET /a", "/a"), ("GET /b", "/b")):
        served = sum(at - window < t <= at for t in target.times[path]) / window
        assert served > 5
        assert abs(promql[action] - served) <= 0.15 * served, (action, promql[action], served)
    assert time.time() > at
