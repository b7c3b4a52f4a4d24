"""Misbehaving websocket servers on 127.0.0.1: every fault is classified, recorded, and survived.

A raw asyncio server does the RFC 6455 handshake by hand and then misbehaves on purpose (a frame no
client may accept, silence, a dropped TCP connection, no reading at all); an aiohttp server sends a
message above the client's ``max_msg_size``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import textwrap
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pyarrow.parquet as pq
import pytest
from aiohttp import web

from tracereplay import rundir
from tracereplay.replay import MemStore, Script, run_async
from tracereplay.replay.websocket import (
    CONNECT,
    DISCONNECT,
    HANDLER_ERROR,
    MALFORMED,
    NOT_CONNECTED,
    OK,
    PING_TIMEOUT,
    RECEIVE,
    RESET,
    SEND,
    SEND_TIMEOUT,
    TEXT,
    TOO_LARGE,
    WebSockets,
    WsRecorder,
    WsSettings,
)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
FAST = WsSettings(backoff_s=0.05, backoff_max_s=0.2, connect_timeout_s=2.0)


@dataclass
class Owner:
    key: str = "u1"
    session: str = "u1-s0"
    store: MemStore = field(default_factory=MemStore)


Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], "asyncio.Future | object"]


async def _handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    key = next(
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    await writer.drain()


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[Callable], asyncio.Future]]:
    """Start a raw websocket server whose behaviour after the handshake is ``behave(reader, writer)``."""
    servers: list[asyncio.Server] = []
    writers: list[asyncio.StreamWriter] = []

    async def start(behave) -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            # the server ends while its handlers still hold their connections: that is not their failure
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await _handshake(reader, writer)
                await behave(reader, writer)

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        host, port = server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    yield start
    for writer in writers:
        writer.transport.abort()
    for server in servers:
        server.close()


async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)  # silent, reads nothing; the test ends first and aborts it


async def _malformed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"\x83\x00")  # FIN + opcode 3: reserved, RFC 6455 says the client must fail the connection
    await writer.drain()
    await asyncio.sleep(30)


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"\x81\x02hi")  # one good text frame, then the TCP connection ends without a close frame
    await writer.drain()
    writer.transport.abort()


async def _collect(url: str, tmp_path, settings: WsSettings, until: Callable[[list[tuple]], bool],
                   act: Callable | None = None, seconds: float = 10.0) -> list[dict]:
    """Open a socket, optionally ``act`` on it, wait until the recorded rows satisfy ``until``, close."""
    recorder = WsRecorder(tmp_path, 0, 0)
    hub = WebSockets(url, recorder, settings=settings, seed=3)
    socket = await hub.open(Owner(), "/ws")
    if act is not None:
        await act(socket)
    rows: list[tuple] = []
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        rows += recorder.take()
        if until(rows):
            break
        await asyncio.sleep(0.02)
    recorder.flush(rows)
    await hub.close()
    recorder.close()
    return pq.read_table(rundir.worker_path(tmp_path, rundir.WS, 0)).to_pylist()


def _reasons(rows: list[tuple]) -> list[str]:
    return [r[9] for r in rows if r[5] == DISCONNECT]


def _drops(rows: list[dict]) -> list[str]:
    return [r["outcome"] for r in rows if r["kind"] == DISCONNECT]


async def test_a_malformed_frame_is_classified_and_the_user_reconnects(raw_server, tmp_path):
    url = await raw_server(_malformed)
    rows = await _collect(url, tmp_path, FAST, lambda r: _reasons(r).count(MALFORMED) >= 2)
    assert _drops(rows)[:2] == [MALFORMED, MALFORMED]
    assert "opcode" in next(r["detail"] for r in rows if r["outcome"] == MALFORMED).lower()
    assert len([r for r in rows if r["kind"] == CONNECT and r["outcome"] == OK]) >= 2  # it came back


async def test_a_missing_pong_is_a_ping_timeout(raw_server, tmp_path):
    url = await raw_server(_hold)
    settings = WsSettings(heartbeat_s=0.2, backoff_s=5.0)  # a ping every 0.2 s, a pong due within 0.1 s
    rows = await _collect(url, tmp_path, settings, lambda r: PING_TIMEOUT in _reasons(r))
    assert _drops(rows)[0] == PING_TIMEOUT


async def test_a_connection_dropped_without_a_close_frame_is_a_reset(raw_server, tmp_path):
    url = await raw_server(_hang_up)
    rows = await _collect(url, tmp_path, FAST, lambda r: RESET in _reasons(r))
    assert next((r["kind"], r["type"]) for r in rows if r["kind"] == RECEIVE) == (RECEIVE, TEXT)  # "hi"
    assert _drops(rows)[0] == RESET


async def test_a_server_that_stops_reading_times_the_send_out(raw_server, tmp_path):
    url = await raw_server(_hold)
    settings = WsSettings(send_timeout_s=0.3, backoff_s=5.0, heartbeat_s=None)
    outcomes: list[bool] = []

    async def flood(socket) -> None:
        chunk = "x" * (1 << 20)
        # bounded: loopback buffers take a few MB, so a send blocks well before 200 MB
        for _ in range(200):
            sent = await socket.send_str(chunk, type="bulk")
            outcomes.append(sent)
            if not sent:
                return

    rows = await _collect(url, tmp_path, settings, lambda r: SEND_TIMEOUT in _reasons(r), act=flood)
    assert outcomes[-1] is False and all(outcomes[:-1])
    failed = [r for r in rows if r["kind"] == SEND and r["outcome"] is not None]
    assert [r["outcome"] for r in failed] == [SEND_TIMEOUT]
    assert failed[0]["duration_ms"] >= 300
    assert _drops(rows)[0] == SEND_TIMEOUT


async def test_a_message_above_max_msg_size_is_too_large(serve, tmp_path):
    async def big(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("y" * 10_000)
        await asyncio.sleep(30)
        return ws

    app = web.Application()
    app.router.add_get("/ws", big)
    url = await serve(app)
    settings = WsSettings(max_msg_size=4096, backoff_s=5.0)
    rows = await _collect(url, tmp_path, settings, lambda r: TOO_LARGE in _reasons(r))
    assert _drops(rows)[0] == TOO_LARGE
    assert not [r for r in rows if r["kind"] == RECEIVE]


async def test_a_raising_handler_is_recorded_and_the_socket_goes_on(serve, tmp_path):
    async def chatty(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for n in range(3):
            await ws.send_json({"event": "posted", "n": n})
        await ws.send_str("not json")
        await asyncio.sleep(30)
        return ws

    app = web.Application()
    app.router.add_get("/ws", chatty)
    url = await serve(app)
    seen: list[int] = []

    async def register(socket) -> None:
        def handler(store, message):
            seen.append(message["n"])
            if message["n"] == 0:
                raise KeyError("channel_id")

        socket.on("posted", handler)

    rows = await _collect(url, tmp_path, FAST, lambda r: sum(x[5] == RECEIVE for x in r) >= 4, act=register)
    received = [(r["type"], r["outcome"]) for r in rows if r["kind"] == RECEIVE]
    assert seen == [0, 1, 2]
    assert received == [("posted", HANDLER_ERROR), ("posted", None), ("posted", None), (TEXT, None)]


PACK = textwrap.dedent(
    """
    async def listen(ctx):
        ws = await ctx.websocket("/ws")
        await ws.send_json({"type": "hello"})

    ACTIONS = {"listen": listen}
    """
)


async def test_a_run_against_a_broken_server_ends_normally(raw_server, tmp_path):
    url = await raw_server(_malformed)
    pack = tmp_path / "brokenpack.py"
    pack.write_text(PACK)
    out = tmp_path / "run"
    result = await run_async(
        Script.from_actions(["listen"], think_s=0.05), target=url, users=3, duration=1.0, out=str(out),
        actions=str(pack),
    )
    assert result.exit_reason == "duration"
    rows = pq.read_table(rundir.worker_files(out, rundir.WS)[0]).to_pylist()
    assert MALFORMED in _drops(rows) and len({r["user"] for r in rows}) == 3
    sends = {r["outcome"] for r in rows if r["kind"] == SEND}
    assert sends <= {None, NOT_CONNECTED}
