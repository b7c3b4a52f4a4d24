"""The Matrix-like chat server (tests/packs/chat_server.py) as a real process on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PACK = str(REPO / "docs" / "examples" / "chat_pack.py")


def start_chat_server(*hold: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, str(HERE / "chat_server.py"), "--port", "0", *(("--hold", *hold) if hold else ())],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline().strip() if process.stdout else ""
    assert line.startswith("listening "), line
    return process, line.split(" ", 1)[1]


@pytest.fixture(scope="session")
def start_chat():
    """Starts fresh chat servers (``start_chat("2", "2")`` holds every sync 2 s); all stopped at the end."""
    processes: list[subprocess.Popen] = []

    def start(*hold: str) -> str:
        process, url = start_chat_server(*hold)
        processes.append(process)
        return url

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def chat_pack() -> str:
    """The docs' worked example pack (a file path)."""
    return PACK


@pytest.fixture(scope="session")
def chat_script() -> str:
    return str(REPO / "docs" / "examples" / "chat.toml")
