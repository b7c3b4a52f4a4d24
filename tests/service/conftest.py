"""Fixtures: a real target on 127.0.0.1 that counts what it serves, and the agent on a real socket."""

from __future__ import annotations

import asyncio
import collections
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tracereplay.service.agent import Agent, create_app

SCRIPT = 'think = "50ms"\nsession_gap = "50ms"\nloops = 0\nactions = ["GET /a", "GET /b"]\n'


class CountingTarget:
    """Answers GET /a, /b (200) and /fail (500); counts requests per path, as the server saw them."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.served: collections.Counter[str] = collections.Counter()
        self.times: dict[str, list[float]] = collections.defaultdict(list)  # when each request came, epoch s

    def app(self) -> web.Application:
        async def answer(request: web.Request) -> web.Response:
            self.served[request.path] += 1
            self.times[request.path].append(time.time())
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if request.path == "/fail":
                return web.json_response({"error": "boom"}, status=500)
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_get("/{name}", answer)
        return app


@pytest.fixture
async def target():
    counting = CountingTarget()
    server = TestServer(counting.app(), host="127.0.0.1")
    await server.start_server()
    counting.url = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    try:
        yield counting
    finally:
        await server.close()


@pytest.fixture(scope="session")
def known_target():
    """tests/service/capacity_target.py as a process: 200 ms a request while it holds at most 30, 1 s past
    that; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "capacity_target.py"), "--concurrency", "30",
         "--service-ms", "200", "--overload-ms", "1000"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("listening "), line
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "ab.toml"
    path.write_text(SCRIPT)
    return path


class AgentClient:
    """The agent on 127.0.0.1 and a plain HTTP client for it (what curl would send)."""

    def __init__(self, agent: Agent, url: str, session: aiohttp.ClientSession, token: str | None) -> None:
        self.agent = agent
        self.url = url
        self.session = session
        self.token = token

    async def call(
        self, method: str, path: str, *, expect: int | None = 200, authorized: bool = True, **kwargs
    ) -> tuple[int, object]:
        headers = dict(kwargs.pop("headers", {}))
        if self.token and authorized and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.token}"
        async with self.session.request(method, self.url + path, headers=headers, **kwargs) as response:
            body = (
                await response.json()
                if response.content_type == "application/json"
                else await response.text()
            )
            if expect is not None:
                assert response.status == expect, (response.status, body)
            return response.status, body


@pytest.fixture
async def start_agent(tmp_path: Path):
    """Start an agent (own data directory) on 127.0.0.1; returns its client. Closed after the test."""
    servers: list[TestServer] = []
    async with aiohttp.ClientSession() as session:

        async def start(*, token: str | None = None, max_body: int = 1024 * 1024) -> AgentClient:
            agent = Agent(tmp_path / f"agent{len(servers)}")
            app = create_app(agent, token=token, max_body=max_body, version="test")
            server = TestServer(app, host="127.0.0.1")
            await server.start_server()
            servers.append(server)
            return AgentClient(agent, str(server.make_url("")).rstrip("/"), session, token)

        yield start
        for server in servers:
            await server.close()


@pytest.fixture
async def agent_client(start_agent):
    return await start_agent()


@pytest.fixture
def wait_for():
    return until


async def until(predicate, timeout_s: float = 10.0, every_s: float = 0.1):
    """Poll ``predicate`` (async) until it returns something true; fail after ``timeout_s``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout_s}s: {predicate}")
        await asyncio.sleep(every_s)


class Prometheus:
    """A real Prometheus (Debian's /usr/bin/prometheus) on 127.0.0.1 scraping one target every second."""

    def __init__(self, folder: Path, scrape_url: str, token: str | None = None) -> None:
        import socket
        from urllib.parse import urlsplit

        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        url = urlsplit(scrape_url)
        job = {
            "job_name": "tracereplay",
            "scrape_interval": "1s",
            "scrape_timeout": "900ms",
            "metrics_path": url.path or "/metrics",
            "static_configs": [{"targets": [url.netloc]}],
        }
        if token:
            job["authorization"] = {"credentials": token}
        config = folder / "prometheus.yml"
        # JSON is YAML: no YAML library needed to write the config
        config.write_text(json.dumps({"global": {"scrape_interval": "1s"}, "scrape_configs": [job]}))
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (folder / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )

    async def ready(self, session: aiohttp.ClientSession, timeout_s: float = 60.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            exited = self.process.poll() is not None
            assert not exited, "prometheus exited: " + Path(self.log.name).read_text()[-2000:]
            try:
                async with session.get(self.url + "/-/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert asyncio.get_running_loop().time() < deadline, "prometheus not ready"
            await asyncio.sleep(0.2)

    async def scraping(self, session: aiohttp.ClientSession, timeout_s: float = 30.0) -> None:
        """Until the target has been scraped (Prometheus applies new targets up to 5 s after it starts)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not await self.query(session, 'up{job="tracereplay"} == 1'):
            assert asyncio.get_running_loop().time() < deadline, "prometheus never scraped the target"
            await asyncio.sleep(0.2)

    async def query(self, session: aiohttp.ClientSession, promql: str, at: float | None = None) -> list[dict]:
        params = {"query": promql, **({"time": f"{at:.3f}"} if at is not None else {})}
        async with session.get(self.url + "/api/v1/query", params=params) as response:
            body = await response.json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
async def prometheus(tmp_path: Path):
    """Start Prometheus against a /metrics URL: ``await prometheus(url, token=None)``; stopped after."""
    started: list[Prometheus] = []
    async with aiohttp.ClientSession() as session:

        async def start(scrape_url: str, token: str | None = None) -> Prometheus:
            folder = tmp_path / f"prometheus{len(started)}"
            folder.mkdir()
            server = Prometheus(folder, scrape_url, token)
            started.append(server)
            await server.ready(session)
            await server.scraping(session)
            server.session = session  # type: ignore[attr-defined]
            return server

        yield start
        for server in started:
            server.close()
