"""WebSocket users against real websocket servers on 127.0.0.1: events, recording, reconnection."""

from __future__ import annotations

import asyncio
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from aiohttp import WSMsgType, web

from tracereplay import rundir
from tracereplay.replay import MemStore, Script, run_async
from tracereplay.replay.websocket import (
    CLIENT_CLOSE,
    CONNECT,
    DISCONNECT,
    OK,
    RECEIVE,
    SEND,
    SERVER_CLOSE,
    WebSockets,
    WsRecorder,
    WsSettings,
)


@dataclass
class Owner:
    key: str = "u1"
    session: str = "u1-s0"
    store: MemStore = field(default_factory=MemStore)


@dataclass
class Seen:
    connections: int = 0
    auth: str | None = None


def chat_app(seen: Seen | None = None, *, close_after: int | None = None) -> web.Application:
    """Channels of websockets: ``/ws`` joins, text ``{"action": "post", "id": …}`` is echoed to everyone as a
    ``posted`` event; ``close_after`` closes each connection (a close frame) after that many events."""
    sockets: set[web.WebSocketResponse] = set()
    app = web.Application()
    seen = seen if seen is not None else Seen()

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        seen.connections += 1
        seen.auth = request.headers.get("Authorization")
        sockets.add(ws)
        await ws.send_json({"event": "hello", "data": {"channel_id": "c1"}})
        sent = 1
        try:
            while close_after is None or sent < close_after:
                message = await ws.receive()
                if message.type is not WSMsgType.TEXT:
                    break
                for peer in list(sockets):
                    await peer.send_json({"event": "posted", "data": {"post_id": message.json()["id"]}})
                sent += 1
            await ws.close(code=4000, message=b"bye")
        finally:
            sockets.discard(ws)
        return ws

    app.router.add_get("/ws", ws_handler)
    return app


def table(run_dir: Path) -> list[dict]:
    files = rundir.worker_files(run_dir, rundir.WS)
    assert files, "no ws table in the run directory"
    return pq.read_table(files[0]).to_pylist()


async def test_events_update_the_store_and_every_happening_is_recorded(serve, tmp_path):
    url = await serve(chat_app())
    recorder = WsRecorder(tmp_path, 0, 0)
    hub = WebSockets(url, recorder)
    owner = Owner()
    ws = await hub.open(
        owner, "/ws", headers={"Authorization": "Bearer t"},
        handlers={"hello": lambda store, m: store.remember("channel_id", m["data"]["channel_id"])},
    )
    ws.on("posted", lambda store, m: store.remember("post_id", m["data"]["post_id"]))
    assert ws.connected
    assert await ws.send_json({"action": "post", "id": "p1"}, correlation="p1")
    for _ in range(100):
        if owner.store.latest("post_id"):
            break
        await asyncio.sleep(0.01)
    assert owner.store.latest("channel_id") == "c1" and owner.store.latest("post_id") == "p1"
    await hub.close()
    assert recorder.close() == tmp_path / "ws-0.parquet"
    rows = table(tmp_path)
    kinds = [(r["kind"], r["type"], r["outcome"]) for r in rows]
    assert kinds[0] == (CONNECT, None, OK) and rows[0]["duration_ms"] > 0
    assert (RECEIVE, "hello", None) in kinds and (RECEIVE, "posted", None) in kinds
    assert (SEND, "post", None) not in kinds  # the type comes from "event"/"type" only
    sends = [r for r in rows if r["kind"] == SEND]
    assert len(sends) == 1 and sends[0]["correlation"] == "p1" and sends[0]["bytes"] > 0
    assert next(r for r in rows if r["kind"] == RECEIVE and r["type"] == "posted")["correlation"] is None
    assert kinds[-1] == (DISCONNECT, None, CLIENT_CLOSE)
    assert {r["user"] for r in rows} == {"u1"} and {r["session"] for r in rows} == {"u1-s0"}


async def test_a_dropped_connection_reconnects_with_backoff(serve, tmp_path):
    seen = Seen()
    url = await serve(chat_app(seen, close_after=1))  # every connection is closed right after its hello
    recorder = WsRecorder(tmp_path, 0, 0)
    hub = WebSockets(url, recorder, settings=WsSettings(backoff_s=0.02, backoff_max_s=0.1), seed=1)
    ws = await hub.open(Owner(), "/ws")
    for _ in range(200):
        if ws.connects >= 4:
            break
        await asyncio.sleep(0.01)
    await hub.close()
    recorder.close()
    rows = table(tmp_path)
    connects = [r for r in rows if r["kind"] == CONNECT]
    drops = [r for r in rows if r["kind"] == DISCONNECT]
    assert len(connects) >= 4 and all(r["outcome"] == OK for r in connects)
    assert len({r["conn"] for r in connects}) == len(connects)  # a reconnection is a new connection
    assert drops[0]["outcome"] == SERVER_CLOSE and "4000" in drops[0]["detail"]
    assert seen.connections == ws.connects


async def test_connect_failures_are_recorded_and_retried_until_the_server_comes(serve, tmp_path):
    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=403)

    app = web.Application()
    app.router.add_get("/ws", refuse)
    url = await serve(app)
    recorder = WsRecorder(tmp_path, 0, 0)
    hub = WebSockets(url, recorder, settings=WsSettings(backoff_s=0.01, backoff_max_s=0.02))
    ws = await hub.open(Owner(), "/ws")
    assert not ws.connected
    assert not await ws.send_json({"type": "typing"})  # not connected: recorded, not raised
    await asyncio.sleep(0.1)
    await hub.close()
    recorder.close()
    rows = table(tmp_path)
    failures = [r for r in rows if r["kind"] == CONNECT]
    assert len(failures) >= 3 and {r["outcome"] for r in failures} == {"http_4xx"}
    assert "403" in failures[0]["detail"]
    assert [(r["kind"], r["type"], r["outcome"]) for r in rows if r["kind"] == SEND] == [
        (SEND, "typing", "not_connected")
    ]


PACK = textwrap.dedent(
    """
    async def join(ctx):
        ws = await ctx.websocket("/ws", correlation_of=lambda m: m.get("data", {}).get("post_id"))
        ctx.store.set_fact("joined", ws.connected)

    async def post(ctx):
        ws = await ctx.websocket("/ws")
        n = ctx.store.fact("n", 0) + 1
        ctx.store.set_fact("n", n)
        await ws.send_json({"action": "post", "id": f"{ctx.user_key}-{n}"}, correlation=f"{ctx.user_key}-{n}")

    def on_posted(store, message):
        store.remember("post_id", message["data"]["post_id"])

    ACTIONS = {"join": join, "post": post}
    EVENTS = {"posted": on_posted}
    """
)


async def test_a_run_writes_the_ws_table_beside_the_requests(serve, tmp_path):
    url = await serve(chat_app())
    pack = tmp_path / "wspack.py"
    pack.write_text(PACK)
    out = tmp_path / "run"
    script = Script.from_actions(["join", "post", "post"])
    await run_async(script, target=url, users=3, duration=1.0, think_scale=0, out=str(out), actions=str(pack))
    rows = table(out)
    users = {r["user"] for r in rows}
    assert len(users) >= 3
    connects = [r for r in rows if r["kind"] == CONNECT]
    # one connection per user, kept across actions (and sessions): never one per action
    assert len(connects) == len(users) and all(r["outcome"] == OK for r in connects)
    posted = [r for r in rows if r["kind"] == RECEIVE and r["type"] == "posted"]
    sends = [r for r in rows if r["kind"] == SEND]
    assert sends and posted
    assert {r["correlation"] for r in posted} <= {r["correlation"] for r in sends}
    # the run's end closes every connection, recorded as the client's
    assert {r["outcome"] for r in rows if r["kind"] == DISCONNECT} == {CLIENT_CLOSE}
    assert len([r for r in rows if r["kind"] == DISCONNECT]) == len(connects)


@pytest.mark.parametrize("name", ["ws-0.parquet", "ws-3.arrows"])
def test_ws_files_follow_the_part_rule(tmp_path, name):
    (tmp_path / name).write_bytes(b"x")
    (tmp_path / "requests-0.parquet").write_bytes(b"x")
    assert rundir.worker_files(tmp_path, rundir.WS) == (tmp_path / name,)
