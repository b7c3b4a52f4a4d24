"""The agent's security, one test an item: loopback by default, no non-loopback bind without a token,
tokens checked (in constant time), bodies bounded, no permissive CORS, malformed requests answered with a
4xx JSON reason while the agent and its run carry on."""

from __future__ import annotations

import hmac
import inspect
import os
import subprocess
import sys
import time

import pytest

from tracereplay.service import agent as agent_module

TOKEN = "s3cret-token-0123456789"


def _tracereplay(*args: str, timeout: float = 30, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "tracereplay", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_serve_binds_loopback_by_default(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "tracereplay", "serve", "--port", "0", "--data-dir", str(tmp_path / "a")],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stderr.readline()
        assert line.startswith("tracereplay: agent listening http://127.0.0.1:"), line
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.org", "::"])
def test_a_non_loopback_bind_without_a_token_is_refused(tmp_path, host):
    done = _tracereplay(
        "serve",
        "--host",
        host,
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "a"),
        env={"TRACEREPLAY_TOKEN": ""},
    )
    assert done.returncode == 2
    assert f"refusing to bind {host} without a token" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "a").exists()


def test_a_non_loopback_bind_with_a_token_serves_and_asks_for_it(tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tracereplay",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path / "a"),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TRACEREPLAY_TOKEN": TOKEN},
    )
    try:
        line = process.stderr.readline()
        assert "agent listening http://0.0.0.0:" in line, line
        port = line.split("http://0.0.0.0:")[1].split()[0]
        import urllib.error
        import urllib.request

        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
        assert refused.value.code == 401
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/health", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
    finally:
        process.terminate()
        process.wait(timeout=20)


async def test_the_token_is_required_and_compared_in_constant_time(start_agent):
    client = await start_agent(token=TOKEN)
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Bearer {TOKEN}x"},
    ):
        _, body = await client.call("GET", "/loadagent/runs", headers=headers, authorized=False, expect=401)
        assert body == {"error": "missing or wrong token (send Authorization: Bearer TOKEN)"}
        await client.call("GET", "/metrics", headers=headers, authorized=False, expect=401)
    await client.call("GET", "/loadagent/runs")  # the right token
    await client.call("GET", "/dashboard", authorized=False)  # the page itself holds no data
    # the comparison is hmac.compare_digest's (its time does not depend on how much of a guess matched)
    assert "hmac.compare_digest" in inspect.getsource(agent_module._authorize)
    assert agent_module.hmac.compare_digest is hmac.compare_digest


async def test_request_bodies_are_bounded(start_agent):
    client = await start_agent(max_body=64 * 1024)
    _, body = await client.call("POST", "/files?name=big.json", data=b"x" * (65 * 1024), expect=413)
    assert "Maximum request body size 65536 exceeded" in body["error"]
    big = {"settings": {"target": "http://127.0.0.1:1"}, "model": "m" * (70 * 1024)}
    await client.call("POST", "/loadagent/create", json=big, expect=413)
    await client.call("GET", "/health")  # still serving
    assert not list(client.agent.files_dir.iterdir())


async def test_no_permissive_cors_and_cross_origin_requests_are_refused(agent_client, target, script):
    client = agent_client
    preflight = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    async with client.session.options(client.url + "/loadagent/create", headers=preflight) as response:
        assert response.status in (403, 405)
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    body = {"id": "x", "model": str(script), "settings": {"target": target.url, "users": 1, "duration": 5}}
    _, refused = await client.call(
        "POST", "/loadagent/create", json=body, headers={"Origin": "http://evil.example"}, expect=403
    )
    assert refused == {"error": "cross-origin request from http://evil.example refused"}
    assert "x" not in client.agent.runs
    # a same-origin page (the dashboard) is served and may call the API
    async with client.session.get(client.url + "/loadagent/runs", headers={"Origin": client.url}) as response:
        assert response.status == 200
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]


async def test_a_foreign_host_name_is_refused_without_a_token(agent_client):
    """DNS rebinding: a page on attacker.example resolving to 127.0.0.1 sends Host: attacker.example."""
    _, body = await agent_client.call(
        "GET", "/loadagent/runs", headers={"Host": "attacker.example"}, expect=403
    )
    assert "is not a loopback name" in body["error"]
    await agent_client.call("GET", "/loadagent/runs", headers={"Host": "localhost:8089"})


MALFORMED = [
    ("POST", "/loadagent/create", {"data": b"{not json"}, 400, "body is not JSON"),
    ("POST", "/loadagent/create", {"data": b""}, 400, "the body is empty"),
    ("POST", "/loadagent/create", {"json": [1, 2]}, 400, "is not of type 'object'"),
    (
        "POST",
        "/loadagent/create",
        {"json": {"settings": {"target": "http://127.0.0.1:9", "users": "many"}}},
        400,
        "body.settings.users: 'many' is not valid",
    ),
    (
        "POST",
        "/loadagent/create",
        {"json": {"settings": {"target": "http://127.0.0.1:9", "bogus": 1}}},
        400,
        "'bogus' was unexpected",
    ),
    (
        "POST",
        "/loadagent/create",
        {"json": {"model": "nope.json", "settings": {"target": "http://127.0.0.1:9", "users": 1}}},
        400,
        "model: no such file on the agent: nope.json",
    ),
    (
        "POST",
        "/loadagent/create",
        {"json": {"id": "../../etc", "settings": {"target": "http://127.0.0.1:9"}}},
        400,
        "body.id: '../../etc' does not match",
    ),
    ("POST", "/loadagent/nosuch/run", {}, 404, "no run 'nosuch' on this agent"),
    ("POST", "/loadagent/live/addusers", {}, 400, "query parameter amount is required"),
    ("POST", "/loadagent/live/addusers?amount=lots", {}, 400, "amount='lots' is not a whole number"),
    ("POST", "/loadagent/live/removeusers?amount=-3", {}, 400, "must be at least 1"),
    ("POST", "/loadagent/live/rate?value=2", {}, 409, "applies to the open workload"),
    ("POST", "/loadagent/live/inject?action=nonsense", {}, 409, "unknown action 'nonsense'"),
    ("POST", "/loadagent/live/run", {}, 409, "is running; create a new run"),
    ("GET", "/loadagent/live/report", {}, 409, "its report comes when it ends"),
    ("GET", "/loadagent/..%2F..%2Fetc/report", {}, 400, "is not valid"),
    ("POST", "/files?name=../escape", {"data": b"x"}, 400, "use letters, digits"),
    ("GET", "/loadagent/create", {}, 405, "Method Not Allowed"),
    ("GET", "/nowhere", {}, 404, "Not Found"),
]


async def test_malformed_requests_get_a_one_line_4xx_and_the_run_goes_on(
    agent_client, target, script, wait_for
):
    client = agent_client
    body = {
        "id": "live",
        "model": str(script),
        "settings": {"target": target.url, "users": 2, "duration": 30},
    }
    await client.call("POST", "/loadagent/create", json=body)
    await client.call("POST", "/loadagent/live/run")
    for method, path, kwargs, status, reason in MALFORMED:
        got, answer = await client.call(method, path, expect=None, **kwargs)
        assert got == status, (method, path, got, answer)
        assert isinstance(answer, dict) and set(answer) == {"error"}, (path, answer)
        assert reason in answer["error"] and "\n" not in answer["error"], (path, answer)
    before = target.served["/a"]
    _, status = await client.call("GET", "/loadagent/live/status")
    assert status["state"] == "running" and status["live"]["active_users"] == 2
    await wait_for(lambda: _more(target, before))
    await client.call("POST", "/loadagent/live/stop")


@pytest.mark.parametrize(
    ("setting", "reason"),
    [({"workers": 100_000}, "workers asks for 100000"), ({"cluster": "local:5000"}, "cluster asks for 5000")],
)
async def test_a_request_cannot_start_more_processes_than_the_agent_has_cores(
    agent_client, script, setting, reason
):
    body = {"model": str(script), "settings": {"target": "http://127.0.0.1:9", "users": 1, **setting}}
    got, answer = await agent_client.call("POST", "/loadagent/create", json=body, expect=None)
    assert got == 400 and reason in answer["error"] and "cores" in answer["error"], answer
    _, runs = await agent_client.call("GET", "/loadagent/runs")
    assert runs == []  # nothing was created


async def _more(target, before):
    return target.served["/a"] > before


async def test_a_broken_uploaded_model_fails_its_run_with_one_line_and_the_agent_stays_up(
    agent_client, target
):
    client = agent_client
    await client.call(
        "POST", "/files?name=model.json", data=b'{"format": "tracereplay-model", "version": 1, '
    )
    body = {
        "id": "bad",
        "model": "files/model.json",
        "settings": {"target": target.url, "users": 1, "duration": 5},
    }
    await client.call("POST", "/loadagent/create", json=body)
    _, refused = await client.call("POST", "/loadagent/bad/run", expect=400)
    assert refused["error"].startswith("run bad could not start: ") and "model.json" in refused["error"]
    _, status = await client.call("GET", "/loadagent/bad/status")
    assert status["state"] == "failed" and status["error"]
    await client.call("GET", "/health")


def test_sigterm_stops_the_agent_and_its_run_gracefully(tmp_path, known_target):
    import json
    import signal
    import urllib.request

    script = tmp_path / "w.toml"
    script.write_text('think = "50ms"\nactions = ["GET /work"]\n')
    process = subprocess.Popen(
        [sys.executable, "-m", "tracereplay", "serve", "--port", "0", "--data-dir", str(tmp_path / "a")],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stderr.readline()
        base = line.split("listening ")[1].split()[0]

        def post(path: str, body: dict | None = None) -> dict:
            data = json.dumps(body).encode() if body is not None else b""
            request = urllib.request.Request(
                base + path, data=data, method="POST", headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())

        settings = {"target": known_target, "users": 3, "duration": "5m", "grace": "5s"}
        post("/loadagent/create", {"id": "long", "model": str(script), "settings": settings})
        assert post("/loadagent/long/run")["state"] == "running"
        time.sleep(1.5)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
    meta = json.loads((tmp_path / "a" / "runs" / "long" / "run.json").read_text())
    assert meta["exit_reason"] == "interrupted" and meta["requests"] > 0
    assert (tmp_path / "a" / "runs" / "long" / "requests-0.parquet").is_file()


def test_a_taken_port_or_an_unusable_data_dir_is_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _tracereplay("serve", "--port", str(port), "--data-dir", str(tmp_path / "a"))
    assert done.returncode == 1 and f"tracereplay: error: cannot listen on 127.0.0.1:{port}: " in done.stderr
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = _tracereplay("serve", "--port", "0", "--data-dir", str(blocker / "agent"))
    assert done.returncode == 1 and "cannot be the agent's data directory" in done.stderr
    assert "Traceback" not in done.stderr
