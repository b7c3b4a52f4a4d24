"""Fixtures: a real target on 127.0.0.1 that counts what it serves, and the agent on a real socket."""

from __future__ import annotations

import asyncio
import collections
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

    def app(self) -> web.Application:
        async def answer(request: web.Request) -> web.Response:
            self.served[request.path] += 1
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
