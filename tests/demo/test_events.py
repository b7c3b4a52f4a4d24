"""The demo service's event stream over real websockets on 127.0.0.1: posts pushed, slow consumers handled."""

from __future__ import annotations

import asyncio
import json

import pytest

from tracereplay.demo.target import STATE_KEY, create_app

API = "/api/v4"


async def log_in(client, name: str) -> dict[str, str]:
    body = {"username": name, "email": f"{name}@x.test", "password": "pw"}
    assert (await client.post(f"{API}/users", json=body)).status == 201
    resp = await client.post(f"{API}/users/login", json={"login_id": name, "password": "pw"})
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def a_channel(client, auth) -> str:
    teams = await (await client.get(f"{API}/users/me/teams", headers=auth)).json()
    channels = await (await client.get(f"{API}/teams/{teams[0]['id']}/channels", headers=auth)).json()
    return channels[0]["id"]


async def test_posts_reach_every_member_and_typing_the_others(aiohttp_client):
    client = await aiohttp_client(create_app(latency_scale=0, seed=7))
    alice, bob = await log_in(client, "alice"), await log_in(client, "bob")
    assert (await client.get(f"{API}/websocket")).status == 401  # no token, no stream
    ws_a = await client.ws_connect(f"{API}/websocket", headers=alice)
    ws_b = await client.ws_connect(f"{API}/websocket", headers=bob)
    assert (await ws_a.receive_json(timeout=2))["event"] == "hello"
    assert (await ws_b.receive_json(timeout=2))["event"] == "hello"
    channel = await a_channel(client, alice)
    resp = await client.post(f"{API}/posts", json={"channel_id": channel, "message": "hi"}, headers=alice)
    post = await resp.json()
    for ws in (ws_a, ws_b):  # the author gets it too, as in Mattermost
        event = await ws.receive_json(timeout=2)
        assert event["event"] == "posted" and event["broadcast"] == {"channel_id": channel}
        assert json.loads(event["data"]["post"]) == post
    await ws_a.send_json({"action": "user_typing", "seq": 1, "data": {"channel_id": channel}})
    assert await ws_a.receive_json(timeout=2) == {"status": "OK", "seq_reply": 1}
    typing = await ws_b.receive_json(timeout=2)
    assert typing["event"] == "typing" and typing["data"]["user_id"] == post["user_id"]
    await ws_a.send_json({"action": "dance", "seq": 2})
    assert (await ws_a.receive_json(timeout=2))["status"] == "FAIL"
    await ws_a.close()
    await ws_b.close()


async def _silent_client(client, auth) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A websocket client that completes the handshake and then never reads: a slow consumer."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(
        (
            f"GET {API}/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: {auth['Authorization']}\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


@pytest.mark.parametrize("policy", ["disconnect", "drop"])
async def test_a_slow_consumer_never_holds_up_the_others(aiohttp_client, policy):
    app = create_app(latency_scale=0, seed=7, ws_queue=8, slow_consumer=policy)
    client = await aiohttp_client(app)
    hub = app[STATE_KEY].events
    fast_auth, slow_auth = await log_in(client, "fast"), await log_in(client, "slow")
    fast = await client.ws_connect(f"{API}/websocket", headers=fast_auth, max_msg_size=0)
    assert (await fast.receive_json(timeout=2))["event"] == "hello"
    _reader, writer = await _silent_client(client, slow_auth)
    channel = await a_channel(client, fast_auth)
    body = {"channel_id": channel, "message": "x" * 64_000}
    posts = 0
    # bounded: loopback buffers hold a few MB, so the silent client's queue fills within a few hundred posts
    while posts < 600 and not (hub.kicked or hub.dropped):
        resp = await client.post(f"{API}/posts", json=body, headers=fast_auth)
        assert resp.status == 201
        posts += 1
        assert (await fast.receive_json(timeout=5))["event"] == "posted"  # the fast one keeps up
    if policy == "disconnect":
        assert hub.kicked == 1 and hub.dropped == 0
        assert len(hub.connections) == 1  # only the fast client is left
    else:
        assert hub.dropped >= 1 and hub.kicked == 0
        assert len(hub.connections) == 2  # still connected, missing what did not fit
    writer.close()
    await fast.close()
