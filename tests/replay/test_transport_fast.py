"""FastTransport (replay/transports/fast.py): bodies by length, chunked, until close; keep-alive; headers."""

from __future__ import annotations

import asyncio
import select

import pandas as pd
import pytest
from aiohttp import web

from tracereplay.replay import ErrorKind, Request, RequestFailed, Script, run_async
from tracereplay.replay.transports.fast import FastTransport
from tracereplay.replay.transports.settings import TransportSettings

from .transport_servers import HostileServer, answer


def echo_app() -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "path": request.path_qs,
                "body": body.decode(),
                "auth": request.headers.get("Authorization"),
                "type": request.headers.get("Content-Type"),
            },
            headers={"Token": "abc"},
        )

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in (b"hello ", b"chunked ", b"world"):
            await response.write(part)
        await response.write_eof()
        return response

    async def cookies(request: web.Request) -> web.Response:
        response = web.Response(text="ok")
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        return response

    async def empty(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/cookies", cookies)
    app.router.add_get("/empty", empty)
    return app


async def close_delimited_server() -> tuple[asyncio.Server, str]:
    """HTTP/1.0 style: no Content-Length, the body ends when the server closes."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_requests_and_responses_round_trip(serve):
    url = await serve(echo_app())
    async with FastTransport(url) as transport:
        answer = await transport.send(
            Request("POST", "/echo", {"Authorization": "Bearer t"}, {"a": [1, "é"]}, params={"q": "x y"})
        )
        assert answer.status == 200 and answer.headers["token"] == "abc" and answer.is_json
        body = answer.json()
        assert body["method"] == "POST" and body["path"] == "/echo?q=x+y"
        assert body["body"] == '{"a":[1,"\\u00e9"]}' and body["auth"] == "Bearer t"
        assert body["type"] == "application/json"
        chunked = await transport.send(Request("GET", "/chunked"))
        assert chunked.body == b"hello chunked world"
        cookies = await transport.send(Request("GET", "/cookies"))
        assert len(cookies.headers.getall("Set-Cookie")) == 2
        assert (await transport.send(Request("GET", "/empty"))).status == 204
        assert (await transport.send(Request("GET", "/nowhere"))).status == 404
        assert transport.idle_connections == 1  # one keep-alive connection served them all, in turn


async def test_concurrent_requests_pool_connections(serve):
    url = await serve(echo_app())
    async with FastTransport(url, TransportSettings(max_connections=3)) as transport:
        answers = await asyncio.gather(*(transport.send(Request("GET", f"/echo?i={i}")) for i in range(30)))
        assert [a.json()["path"] for a in answers] == [f"/echo?i={i}" for i in range(30)]
        assert transport.idle_connections <= 3


async def test_body_until_close_and_refused_connections():
    server, url = await close_delimited_server()
    async with FastTransport(url) as transport:
        for _ in range(2):  # a new connection each time, since the server closes
            answer = await transport.send(Request("GET", "/"))
            assert answer.status == 200 and answer.body == b"all of it"
    server.close()
    await server.wait_closed()
    async with FastTransport(url, TransportSettings(request_timeout=1)) as transport:
        with pytest.raises(RequestFailed) as caught:
            await transport.send(Request("GET", "/"))
        assert caught.value.kind is ErrorKind.CONNECT


async def test_a_server_closing_idle_connections_is_retried_once(serve):
    url = await serve(echo_app())
    async with FastTransport(url) as transport:
        await transport.send(Request("GET", "/echo"))
        idle = transport._idle[0]
        idle.transport.close()  # as if the server had timed the idle connection out
        await asyncio.sleep(0.05)
        assert (await transport.send(Request("GET", "/echo"))).status == 200


@pytest.mark.parametrize("http", ["fast", "aiohttp"])
async def test_a_run_records_every_body_byte_and_keeps_max_body_bytes(serve, tmp_path, http):
    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"b" * 5000, content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/big", big)
    url = await serve(app)
    script = Script.from_actions(["GET /big"])
    out = tmp_path / "run"
    result = await run_async(
        script,
        target=url,
        users=2,
        duration=0.5,
        out=str(out),
        http=http,
        max_body_bytes=100,
        connect_timeout=2,
    )
    assert result.exit_reason == "duration"
    frame = pd.read_parquet(out / "requests-0.parquet")
    assert len(frame) > 0 and (frame["bytes"] == 5000).all() and (frame["status"] == 200).all()


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_bytes_that_arrive_before_a_request_is_written_are_not_its_answer(method):
    """Writes wait for the end of the loop's turn (docs/http.md). Bytes an idle connection sends unasked
    (a server's "408 Request Timeout" as it closes it) that are read in that window cannot answer a request
    not yet sent: the connection is dropped and the request goes out once, on a new connection — a POST
    too, since the server never had it."""
    server = await HostileServer().start()
    try:
        async with FastTransport(server.url, TransportSettings(request_timeout=3.0)) as transport:
            await transport.send(Request("GET", "/ok"))  # one idle connection in the pool
            idle = transport._idle[0].transport
            assert idle is not None
            server.say(answer("408 Request Timeout", b"unasked"))
            # the 408 is in the socket before the loop turns again (its read comes with the send's first step)
            assert select.select([idle.get_extra_info("socket")], [], [], 2.0)[0]
            response = await asyncio.ensure_future(transport.send(Request(method, "/ok", data=b"order #1")))
        assert (response.status, response.body) == (200, b"ok")
        assert server.paths() == ["/ok", "/ok"] and server.opened == 2
    finally:
        await server.stop()
