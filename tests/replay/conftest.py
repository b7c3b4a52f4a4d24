"""Shared fixtures: real aiohttp servers on 127.0.0.1 (the demo target, and small misbehaving ones)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tracereplay.demo.target import create_app

DEMO_ACTIONS = [
    "POST /api/v4/users/login",
    "GET /api/v4/users/me/teams",
    "GET /api/v4/teams/{team_id}/channels",
    "GET /api/v4/channels/{channel_id}/posts",
    "POST /api/v4/posts",
    "POST /api/v4/channels/members/me/view",
    "GET /api/v4/users/{user_id}",
    "POST /api/v4/users/logout",
]


class HandModel:
    """A small hand-written SessionSource (the controller's unit tests; integration tests fit a real one)."""

    def __init__(self, think_s: float = 0.01, sessions: int = 2, rate: float = 5.0) -> None:
        self.actions = list(DEMO_ACTIONS)
        self.think_s = think_s
        self.sessions = sessions
        self.rate = rate

    def sample_user(self, rng: np.random.Generator) -> tuple[int, int]:
        return int(rng.integers(2)), self.sessions

    def sample_session(self, class_index: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
        middle = DEMO_ACTIONS[1:7] if class_index == 0 else DEMO_ACTIONS[3:6]
        actions = [DEMO_ACTIONS[0], *middle, DEMO_ACTIONS[-1]]
        return actions, np.full(len(actions) - 1, self.think_s)

    def sample_session_gap(
        self, class_index: int, rng: np.random.Generator, after: float | None = None
    ) -> float:
        return self.think_s

    def arrival_rate(self, when: datetime) -> float:
        return self.rate

    @property
    def mean_arrival_rate(self) -> float:
        return self.rate

    def path_examples(self, action: str) -> list[str]:
        return []


@pytest.fixture
def hand_model() -> HandModel:
    return HandModel()


@pytest.fixture
async def demo_url():
    """The demo chat service on a free 127.0.0.1 port, answering at once."""
    server = TestServer(create_app(latency_scale=0, seed=7), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def serve():
    """Start any aiohttp app on 127.0.0.1; returns its base URL."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> str:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


@pytest.fixture(scope="session")
def demo_events(tmp_path_factory) -> str:
    """The bundled sample dump ingested into a real event table (Parquet)."""
    from tracereplay.demo import sample_dump_path
    from tracereplay.ingest import ingest

    path = tmp_path_factory.mktemp("events") / "events.parquet"
    ingest([sample_dump_path()], path)
    return str(path)


@pytest.fixture(scope="session")
def demo_model(demo_events, tmp_path_factory) -> str:
    """A real behaviour model fitted on the sample traffic, saved to a file."""
    from tracereplay.ingest.events import read_events
    from tracereplay.model import fit

    path = tmp_path_factory.mktemp("model") / "model.json"
    fit(read_events(demo_events)).save(path)
    return str(path)


@pytest.fixture(scope="session")
def demo_process():
    """The demo chat service as a real process on 127.0.0.1 (for CLI tests); yields its base URL."""
    import subprocess
    import sys

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tracereplay.demo.target",
            "--port",
            "0",
            "--latency-scale",
            "0",
            "--seed",
            "1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("listening "), line
        yield line.split(" ", 1)[1]
    finally:
        process.terminate()
        process.wait(timeout=10)
