"""The agent over real HTTP: runs created, started, steered, stopped and reported against a real target."""

from __future__ import annotations

import json

import pandas as pd
from aiohttp.test_utils import TestServer

from tracereplay.ingest.events import conform, write_events
from tracereplay.rundir import read_run_json
from tracereplay.service.agent import Agent, create_app


def _create(target, script, **settings):
    return {"model": str(script), "settings": {"target": target.url, "duration": "30s", **settings}}


async def test_a_run_is_created_started_steered_stopped_and_reported(agent_client, target, script, wait_for):
    client = agent_client
    _, created = await client.call(
        "POST", "/loadagent/create", json={"id": "r1", **_create(target, script, users=3)}
    )
    assert created["state"] == "created" and created["workload"] == "closed"

    _, started = await client.call("POST", "/loadagent/r1/run")
    assert started["state"] == "running"

    async def live_figures():
        _, status = await client.call("GET", "/loadagent/r1/status")
        live = status["live"]
        return live if live["requests"] > 0 and live["active_users"] == 3 else None

    live = await wait_for(live_figures)
    assert live["rps"] > 0 and live["p50_ms"] is not None

    _, added = await client.call("POST", "/loadagent/r1/addusers?amount=4")
    assert added["live"]["active_users"] == 7
    await client.call("POST", "/loadagent/r1/removeusers?amount=2")

    async def five_users():
        _, status = await client.call("GET", "/loadagent/r1/status")
        return status["live"]["active_users"] == 5

    await wait_for(five_users)
    _, injected = await client.call("POST", "/loadagent/r1/inject?action=GET%20/fail&users=2")
    assert injected["injected"] == 2
    await wait_for(lambda: _served(target, "/fail", 2))

    _, series = await client.call("GET", "/loadagent/r1/series")
    assert series and {"t", "rps", "errors", "p50_ms", "p95_ms", "p99_ms", "users"} <= set(series[0])

    _, stopping = await client.call("POST", "/loadagent/r1/stop")
    assert stopping["state"] in ("stopping", "finished")

    async def finished():
        _, status = await client.call("GET", "/loadagent/r1/status")
        return status if status["state"] == "finished" else None

    status = await wait_for(finished)
    assert status["result"]["exit_reason"] == "interrupted"
    run_dir = client.agent.runs_dir / "r1"
    assert read_run_json(run_dir).exit_reason == "interrupted"
    requests = pd.read_parquet(run_dir / "requests-0.parquet")
    # every request the server answered is in the run directory, the injected ones under their action
    for path in ("/a", "/b", "/fail"):
        assert (requests["path"] == path).sum() == target.served[path]
    assert (requests["action"] == "GET /fail").sum() == 2
    assert status["result"]["requests"] == len(requests)

    _, report = await client.call("GET", "/loadagent/r1/report")
    actions = {row["action"]: row for row in report["actions"]}
    assert actions["GET /a"]["count"] == target.served["/a"]
    _, page = await client.call("GET", "/loadagent/r1/report?format=html")
    assert "<html" in page.lower() and "GET /a" in page

    _, runs = await client.call("GET", "/loadagent/runs")
    assert [(r["id"], r["state"], r["exit_reason"]) for r in runs] == [("r1", "finished", "interrupted")]


async def _served(target, path, n):
    return target.served[path] >= n


async def test_an_uploaded_script_runs_and_past_runs_are_listed_by_a_new_agent(start_agent, target, wait_for):
    client = await start_agent()
    _, stored = await client.call(
        "POST",
        "/files?name=ab.toml",
        data=b'think = "20ms"\nactions = ["GET /a"]\n',
        headers={"Content-Type": "application/octet-stream"},
    )
    body = {
        "id": "up",
        "model": "files/ab.toml",
        "settings": {"target": target.url, "users": 2, "duration": 1},
    }
    await client.call("POST", "/loadagent/create", json=body)
    await client.call("POST", "/loadagent/up/run")

    async def finished():
        _, status = await client.call("GET", "/loadagent/up/status")
        return status if status["state"] == "finished" else None

    status = await wait_for(finished)
    assert (
        status["result"]["exit_reason"] == "duration" and target.served["/a"] == status["result"]["requests"]
    )
    assert stored["path"].endswith("files/ab.toml")

    # a second agent on the same data directory lists the run it did not make, and reports it
    again = Agent(client.agent.data_dir)
    app = create_app(again, version="test")
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        async with client.session.get(url + "/loadagent/runs") as response:
            runs = await response.json()
        assert [(r["id"], r["state"], r["requests"]) for r in runs] == [
            ("up", "finished", target.served["/a"])
        ]
        async with client.session.get(url + "/loadagent/up/report") as response:
            assert response.status == 200
            assert json.loads(await response.text())["total"]["count"] == target.served["/a"]
    finally:
        await server.close()


async def test_open_workload_rate_is_set_and_user_controls_are_refused(
    agent_client, target, script, wait_for
):
    client = agent_client
    body = {"id": "open", **_create(target, script, arrival_rate=5, duration=20)}
    await client.call("POST", "/loadagent/create", json=body)
    await client.call("POST", "/loadagent/open/run")
    _, status = await client.call("POST", "/loadagent/open/rate?value=12.5")
    assert status["live"]["arrival_rate"] == 12.5
    _, refused = await client.call("POST", "/loadagent/open/addusers?amount=3", expect=409)
    assert "closed workload" in refused["error"]
    await client.call("POST", "/loadagent/create", json={"id": "second", **_create(target, script, users=1)})
    _, refused = await client.call("POST", "/loadagent/second/run", expect=409)
    assert "one run at a time" in refused["error"]
    await client.call("POST", "/loadagent/open/stop")


async def test_an_uploaded_event_table_is_replayed_to_its_end(agent_client, target, tmp_path, wait_for):
    """Trace replay through the agent: a real event table (Parquet, the ingest stage's writer) uploaded."""
    start = pd.Timestamp("2026-01-01T10:00:00Z")
    rows = [
        {
            "ts": start + pd.Timedelta(milliseconds=100 * i),
            "user": f"u{i % 3}",
            "session": f"s{i % 3}",
            "action": "GET /a" if i % 2 else "GET /b",
            "method": "GET",
            "route": None,
            "path": "/a" if i % 2 else "/b",
            "status": 200,
            "duration_ms": 1.0,
            "error": False,
            "source": "test",
        }
        for i in range(12)
    ]
    table = write_events(conform(pd.DataFrame(rows), source="test"), tmp_path / "events.parquet")
    client = agent_client
    await client.call("POST", "/files?name=events.parquet", data=table.read_bytes())
    body = {"id": "t", "trace": "files/events.parquet", "settings": {"target": target.url, "speed": 4}}
    _, created = await client.call("POST", "/loadagent/create", json=body)
    assert created["workload"] == "trace"
    await client.call("POST", "/loadagent/t/run")

    async def finished():
        _, status = await client.call("GET", "/loadagent/t/status")
        return status if status["state"] == "finished" else None

    status = await wait_for(finished, timeout_s=20)
    assert status["result"]["exit_reason"] == "completed" and status["result"]["requests"] == 12
    assert (target.served["/a"], target.served["/b"]) == (6, 6)
