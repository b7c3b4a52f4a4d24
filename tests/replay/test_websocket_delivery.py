"""Delivery latency against a real server that delays its broadcasts by a known amount, and its report."""

from __future__ import annotations

import asyncio
import json
import textwrap
from itertools import count

import pytest
from aiohttp import web
from rich.console import Console

from tracereplay.replay import Script, run_async
from tracereplay.report import check_thresholds, load_run, render_summary, summarize, write_html

DELAY_S = 0.2


def broadcast_app(*, push_delay_s: float, answer_delay_s: float = 0.0) -> web.Application:
    """``POST /post`` answers ``{"id": …}`` after ``answer_delay_s`` and pushes a ``posted`` event with that
    id to every open ``/ws`` after ``push_delay_s`` (both from when the post arrived)."""
    sockets: set[web.WebSocketResponse] = set()
    ids = count(1)
    tasks: set[asyncio.Task] = set()

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sockets.add(ws)
        try:
            async for _ in ws:
                pass
        finally:
            sockets.discard(ws)
        return ws

    async def push(post_id: str) -> None:
        await asyncio.sleep(push_delay_s)
        text = json.dumps({"event": "posted", "data": {"post": {"id": post_id}}})
        for ws in list(sockets):
            if not ws.closed:
                await ws.send_str(text)

    async def post(request: web.Request) -> web.Response:
        post_id = f"p{next(ids)}"
        task = asyncio.get_running_loop().create_task(push(post_id))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        await asyncio.sleep(answer_delay_s)
        return web.json_response({"id": post_id}, status=201)

    app = web.Application()
    app.router.add_get("/ws", ws_handler)
    app.router.add_post("/post", post)
    return app


PACK = textwrap.dedent(
    """
    def post_id(message):
        return message["data"]["post"]["id"]

    async def listen(ctx):
        await ctx.websocket("/ws", correlation_of=post_id)

    async def post(ctx):
        ws = await ctx.websocket("/ws", correlation_of=post_id)
        await ws.wait_connected(2.0)
        answer = await ctx.request("POST", "/post")
        ctx.correlate(answer.json()["id"])

    def on_posted(store, message):
        store.remember("post_id", post_id(message))

    ACTIONS = {"listen": listen, "post": post}
    EVENTS = {"posted": on_posted}
    """
)

USERS = 4


async def _run(serve, tmp_path, app: web.Application, name: str, workers: int = 1):
    url = await serve(app)
    pack = tmp_path / "deliverypack.py"
    pack.write_text(PACK)
    out = tmp_path / name
    # each user listens first (so every user holds a socket before anyone posts), then posts now and then
    script = Script.from_actions(["listen", "post"], think_s=0.4)
    await run_async(
        script, target=url, users=USERS, duration=2.0, out=str(out), actions=str(pack), ramp_up=0,
        workers=workers,
    )
    return load_run(out)


async def test_delivery_latency_measures_the_servers_known_delay(serve, tmp_path):
    run = await _run(serve, tmp_path, broadcast_app(push_delay_s=DELAY_S), "delayed")
    deliveries = run.deliveries
    assert len(deliveries) >= USERS  # at least one post reached every user
    latency = deliveries["latency_ms"]
    # the push leaves the server DELAY_S after the post arrived: never sooner, and on loopback soon after
    assert latency.min() >= DELAY_S * 1e3
    assert latency.median() < DELAY_S * 1e3 + 150
    figures = summarize(run).websocket.delivery("posted")
    assert figures["count"] == len(deliveries)
    # every post went to every user holding a socket
    assert figures["fanout_max"] == USERS
    assert DELAY_S * 1e3 <= figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert figures["max_ms"] == pytest.approx(latency.max())


async def test_deliveries_across_worker_processes_are_timed_on_the_wall_clock(serve, tmp_path):
    run = await _run(serve, tmp_path, broadcast_app(push_delay_s=DELAY_S), "workers", workers=2)
    assert len(run.ws_files) == 2
    deliveries = run.deliveries
    across = deliveries[deliveries["sender"].str[:2] != deliveries["user"].str[:2]]  # w0-… to w1-… or back
    assert len(across) >= 1
    # each worker stamps with its own offset to the wall clock: on one host they agree to microseconds
    assert across["latency_ms"].min() >= DELAY_S * 1e3 - 1
    assert across["latency_ms"].median() < DELAY_S * 1e3 + 150


async def test_a_delivery_that_beats_the_answer_is_still_timed_from_the_send(serve, tmp_path):
    # the server pushes at once and answers the post 300 ms later: the pack learns the id (and tags the
    # action) after the receipts, which still count from the request's start
    run = await _run(serve, tmp_path, broadcast_app(push_delay_s=0.0, answer_delay_s=0.3), "early")
    latency = run.deliveries["latency_ms"]
    assert len(latency) >= USERS
    assert latency.max() < 250


async def test_the_report_shows_websockets_in_every_form(serve, tmp_path):
    run = await _run(serve, tmp_path, broadcast_app(push_delay_s=DELAY_S), "report")
    summary = summarize(run, bucket="1s")
    ws = summary.to_dict()["websocket"]
    assert [d["type"] for d in ws["deliveries"]] == ["posted", "(all)"]
    assert ws["connections"]["users"] == USERS and ws["connections"]["ok"] >= USERS
    assert ws["disconnects"] == {"client_close": ws["connections"]["ok"]}
    received = [m for m in ws["messages"] if m["direction"] == "received"]
    assert received and received[0]["type"] == "posted" and received[0]["count"] >= USERS

    results = check_thresholds(
        summary, ["delivery_p99_ms<5000", "posted:delivery_p50_ms<50", "typing:delivery_p99_ms<5000"]
    )
    assert [r.passed for r in results] == [True, False, False]
    assert results[1].actual >= DELAY_S * 1e3
    assert results[2].note == "no deliveries of that event type"

    console = Console(record=True, width=160)
    render_summary(summary, console)
    text = console.export_text()
    assert "WebSocket delivery latency" in text and "posted" in text and "client_close" in text

    page = write_html(summary, tmp_path / "report.html").read_text()
    assert 'id="delivery-latency"' in page and "<td class=\"text\">posted</td>" in page


async def test_a_run_without_websockets_has_no_websocket_section(serve, tmp_path):
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/a", ok)
    url = await serve(app)
    out = tmp_path / "plain"
    await run_async(Script.from_actions(["GET /a"]), target=url, users=1, duration=0.3, out=str(out))
    run = load_run(out)
    assert run.ws_files == () and run.deliveries.empty
    summary = summarize(run)
    assert summary.websocket is None and "websocket" not in summary.to_dict()
    [result] = check_thresholds(summary, ["delivery_p99_ms<100"])
    assert not result.passed and result.note == "no websocket deliveries"
