"""Every kind of failure is classified and recorded, and none stops the run."""

from __future__ import annotations

import asyncio
import socket

import pandas as pd
import pytest
from aiohttp import web

from tracereplay.replay import ErrorKind, Request, RequestFailed, Script, run_async
from tracereplay.replay.transports.aiohttp_client import AiohttpTransport
from tracereplay.replay.transports.fast import FastTransport
from tracereplay.replay.transports.settings import TransportSettings


def misbehaving_app() -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"status": "OK"})

    async def fail(request: web.Request) -> web.Response:
        return web.json_response({"message": "boom"}, status=503)

    async def missing(request: web.Request) -> web.Response:
        return web.json_response({"message": "no"}, status=404)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    async def reset(request: web.Request) -> web.Response:
        transport = request.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        # RST instead of FIN: linger 0, then close
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        transport.abort()
        await asyncio.sleep(1)
        return web.Response()

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/fail", fail)
    app.router.add_get("/missing", missing)
    app.router.add_get("/slow", slow)
    app.router.add_get("/reset", reset)
    return app


async def garbage_server() -> tuple[asyncio.Server, str]:
    """Answers every connection with bytes that are not HTTP."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\nnot http at all\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


TRANSPORTS = [AiohttpTransport, FastTransport]


@pytest.mark.parametrize("transport_type", TRANSPORTS, ids=["aiohttp", "fast"])
async def test_transport_classifies_each_failure(serve, transport_type):
    url = await serve(misbehaving_app())
    server, garbage = await garbage_server()
    async with transport_type(url, TransportSettings(request_timeout=0.3)) as transport:
        assert (await transport.send(Request("GET", "/ok"))).status == 200
        assert (await transport.send(Request("GET", "/fail"))).status == 503  # a status is an answer
        for path, kind in (("/slow", ErrorKind.TIMEOUT), ("/reset", ErrorKind.RESET)):
            try:
                await transport.send(Request("GET", path))
            except RequestFailed as failure:
                assert failure.kind is kind, (path, failure)
            else:
                raise AssertionError(f"{path} did not fail")
    async with transport_type(garbage, TransportSettings(request_timeout=1)) as transport:
        try:
            await transport.send(Request("GET", "/"))
        except RequestFailed as failure:
            assert failure.kind in (ErrorKind.PROTOCOL, ErrorKind.RESET), failure
        else:
            raise AssertionError("garbage was accepted as HTTP")
    server.close()


@pytest.mark.parametrize("http", ["aiohttp", "fast"])
async def test_a_run_against_a_misbehaving_target_records_every_kind_and_keeps_going(serve, tmp_path, http):
    url = await serve(misbehaving_app())
    script = Script.from_actions(["GET /ok", "GET /fail", "GET /missing", "GET /slow", "GET /reset", "cheer"])
    out = tmp_path / "run"
    result = await run_async(script, target=url, users=3, duration=1.5, timeout=0.3, out=str(out), http=http)
    assert result.exit_reason == "duration"
    frame = pd.read_parquet(out / "requests-0.parquet")
    kinds = frame.groupby("action")["error_kind"].agg(lambda s: set(s.dropna()) or {None})
    assert kinds["GET /ok"] == {None}
    assert kinds["GET /fail"] == {"http_5xx"}
    assert kinds["GET /missing"] == {"http_4xx"}
    assert kinds["GET /slow"] == {"timeout"}
    assert kinds["GET /reset"] == {"reset"}
    assert kinds["cheer"] == {"protocol"}  # not an HTTP action and no pack function: recorded, not sent
    assert (frame["error"] == frame["error_kind"].notna()).all()
    # why, in words, where no status says it
    no_answer = frame["error_kind"].isin(["timeout", "reset", "protocol"])
    assert frame.loc[no_answer, "error_detail"].str.len().gt(0).all()
    assert frame.loc[~no_answer, "error_detail"].isna().all()
    cheers = frame.loc[frame["action"] == "cheer", "error_detail"]
    assert cheers.eq("not an HTTP action and no pack function").all()
    slow = frame[frame["action"] == "GET /slow"]
    assert slow["latency_ms"].between(250, 1000).all()  # the per-request timeout cut it
    # users went round the loop more than once: nothing was fatal
    assert (frame.groupby("user")["action"].apply(lambda a: (a == "GET /ok").sum()) >= 2).all()
