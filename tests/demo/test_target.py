"""The demo chat service over real HTTP on 127.0.0.1 (pytest-aiohttp's server fixture)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from tracereplay.demo.target import ROUTE_LATENCY, create_app, draw_latency_s

API = "/api/v4"
ID = re.compile(r"^[a-z0-9]{26}$")


@pytest.fixture
async def client(aiohttp_client):
    return await aiohttp_client(create_app(latency_scale=0, seed=7))


async def sign_up_and_log_in(client, name: str = "alice") -> tuple[dict, dict[str, str]]:
    body = {"username": name, "email": f"{name}@x.test", "password": "pw"}
    resp = await client.post(f"{API}/users", json=body)
    assert resp.status == 201
    resp = await client.post(f"{API}/users/login", json={"login_id": name, "password": "pw"})
    assert resp.status == 200
    body = await resp.json()
    assert resp.headers["Token"] == body["token"]
    return body, {"Authorization": f"Bearer {body['token']}"}


async def test_ping_needs_no_auth(client):
    resp = await client.get(f"{API}/system/ping")
    assert resp.status == 200
    assert await resp.json() == {"status": "OK"}


async def test_sign_up_returns_user_and_rejects_duplicates_and_bad_bodies(client):
    resp = await client.post(f"{API}/users", json={"username": "bob", "email": "bob@x.test", "password": "s"})
    assert resp.status == 201
    user = await resp.json()
    assert set(user) == {"id", "username", "email"} and ID.match(user["id"])
    again = await client.post(f"{API}/users", json={"username": "bob", "email": "b2@x.test", "password": "s"})
    assert again.status == 409
    for bad in ({"username": "c"}, {"username": "c", "email": "no-at", "password": "p"}, [1, 2]):
        assert (await client.post(f"{API}/users", json=bad)).status == 400
    assert (await client.post(f"{API}/users", data=b"{not json")).status == 400


async def test_log_in_with_wrong_password_is_401(client):
    await sign_up_and_log_in(client, "carol")
    resp = await client.post(f"{API}/users/login", json={"login_id": "carol", "password": "nope"})
    assert resp.status == 401
    resp = await client.post(f"{API}/users/login", json={"login_id": "nobody", "password": "pw"})
    assert resp.status == 401


async def test_log_in_by_email_works(client):
    await sign_up_and_log_in(client, "dave")
    resp = await client.post(f"{API}/users/login", json={"login_id": "dave@x.test", "password": "pw"})
    assert resp.status == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users/me"), ("GET", "/users/me/teams"), ("GET", "/users/abc"),
        ("GET", "/teams/abc/channels"), ("GET", "/channels/abc/posts"),
        ("POST", "/posts"), ("POST", "/channels/members/me/view"), ("POST", "/users/logout"),
    ],
)
async def test_auth_routes_answer_401_without_a_token(client, method, path):
    assert (await client.request(method, API + path)).status == 401
    bad = {"Authorization": "Bearer " + "x" * 26}
    assert (await client.request(method, API + path, headers=bad)).status == 401


async def test_full_user_journey(client):
    me, auth = await sign_up_and_log_in(client, "erin")
    resp = await client.get(f"{API}/users/me", headers=auth)
    assert (await resp.json())["id"] == me["id"]
    assert (await (await client.get(f"{API}/users/{me['id']}", headers=auth)).json())["username"] == "erin"
    assert (await client.get(f"{API}/users/{'z' * 26}", headers=auth)).status == 404

    teams = await (await client.get(f"{API}/users/me/teams", headers=auth)).json()
    assert [t["name"] for t in teams] == ["demo"]
    channels = await (await client.get(f"{API}/teams/{teams[0]['id']}/channels", headers=auth)).json()
    assert len(channels) == 5 and "town-square" in {c["name"] for c in channels}
    assert all(c["team_id"] == teams[0]["id"] and ID.match(c["id"]) for c in channels)
    assert (await client.get(f"{API}/teams/{'z' * 26}/channels", headers=auth)).status == 404

    channel = channels[0]["id"]
    posts = await (await client.get(f"{API}/channels/{channel}/posts", headers=auth)).json()
    assert len(posts["order"]) >= 3 and set(posts["order"]) == set(posts["posts"])

    resp = await client.post(f"{API}/posts", json={"channel_id": channel, "message": "hi"}, headers=auth)
    assert resp.status == 201
    post = await resp.json()
    assert post["user_id"] == me["id"] and post["channel_id"] == channel and post["message"] == "hi"
    assert isinstance(post["create_at"], int)
    posts = await (await client.get(f"{API}/channels/{channel}/posts", headers=auth)).json()
    assert posts["order"][0] == post["id"], "newest first"
    page = await (await client.get(f"{API}/channels/{channel}/posts?page=1&per_page=2", headers=auth)).json()
    assert page["order"] == posts["order"][2:4]

    bad_post = await client.post(f"{API}/posts", json={"channel_id": channel}, headers=auth)
    assert bad_post.status == 400
    missing = await client.post(f"{API}/posts", json={"channel_id": "z" * 26, "message": "x"}, headers=auth)
    assert missing.status == 404
    assert (await client.get(f"{API}/channels/{'z' * 26}/posts", headers=auth)).status == 404

    view = await client.post(f"{API}/channels/members/me/view", json={"channel_id": channel}, headers=auth)
    assert view.status == 200
    view = await client.post(f"{API}/channels/members/me/view", json={"channel_id": "z" * 26}, headers=auth)
    assert view.status == 404


async def test_log_out_revokes_the_token_and_log_in_again_works(client):
    _, auth = await sign_up_and_log_in(client, "frank")
    assert (await client.post(f"{API}/users/logout", headers=auth)).status == 200
    assert (await client.get(f"{API}/users/me", headers=auth)).status == 401
    resp = await client.post(f"{API}/users/login", json={"login_id": "frank", "password": "pw"})
    new_auth = {"Authorization": f"Bearer {(await resp.json())['token']}"}
    assert new_auth != auth
    assert (await client.get(f"{API}/users/me", headers=new_auth)).status == 200


async def test_same_seed_gives_same_ids(aiohttp_client):
    async def first_channel_ids(seed):
        c = await aiohttp_client(create_app(latency_scale=0, seed=seed))
        _, auth = await sign_up_and_log_in(c, "gina")
        team = (await (await c.get(f"{API}/users/me/teams", headers=auth)).json())[0]
        channels = await (await c.get(f"{API}/teams/{team['id']}/channels", headers=auth)).json()
        return [ch["id"] for ch in channels]

    assert await first_channel_ids(3) == await first_channel_ids(3)
    assert await first_channel_ids(3) != await first_channel_ids(4)


async def test_latency_scale_adds_response_time(aiohttp_client):
    import time

    client = await aiohttp_client(create_app(latency_scale=1.0, seed=1))
    start = time.perf_counter()
    for _ in range(5):
        resp = await client.post(f"{API}/users/login", json={"login_id": "x", "password": "y"})
        assert resp.status == 401
    # login's median is ~22 ms: five calls cannot all come back in under 25 ms total
    assert time.perf_counter() - start > 0.025


def test_latency_law_reads_faster_than_writes_and_posts_grow():
    rng = np.random.default_rng(0)

    def median(route, items=0):
        return float(np.median([draw_latency_s(route, items, rng) for _ in range(400)]))

    assert median("GET /api/v4/users/me") < median("POST /api/v4/posts")
    route = "GET /api/v4/channels/{channel_id}/posts"
    assert median(route, 2000) > 1.5 * median(route, 0)
    assert set(ROUTE_LATENCY) >= {f"POST {API}/posts", f"GET {API}/users/{{user_id}}"}


def test_create_app_rejects_negative_scale():
    with pytest.raises(ValueError, match="latency_scale"):
        create_app(latency_scale=-1)


def test_standalone_prints_url_and_stops_on_sigterm():
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "tracereplay.demo.target", "--host", "127.0.0.1", "--port", "0",
         "--latency-scale", "0"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        match = re.fullmatch(r"listening (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        with urllib.request.urlopen(match.group(1) + f"{API}/system/ping", timeout=5) as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
