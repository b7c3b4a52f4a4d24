"""The demo target: a tiny Mattermost-like chat service in aiohttp, with in-memory state.

Every engineer builds against exactly this API (auth is ``Authorization: Bearer <token>``; without a valid
token every auth route answers 401)::

    GET  /api/v4/system/ping                  no auth → 200 {"status":"OK"}
    POST /api/v4/users                        {"username","email","password"} → 201 user | 400 | 409 taken
    POST /api/v4/users/login                  {"login_id","password"} → 200 user + "token", header Token | 401
    POST /api/v4/users/logout                 auth → 200 {"status":"OK"} (token revoked)
    GET  /api/v4/users/me                     auth → 200 user
    GET  /api/v4/users/{user_id}              auth → 200 user | 404
    GET  /api/v4/users/me/teams               auth → 200 [{"id","name","display_name"}]
    GET  /api/v4/teams/{team_id}/channels     auth → 200 [{"id","team_id","name","display_name"}] | 404
    GET  /api/v4/channels/{channel_id}/posts  auth → 200 {"order":[ids newest first],"posts":{id: post}}
                                              (?page=&per_page=, default 60) | 404
    POST /api/v4/posts                        auth {"channel_id","message"} → 201 post | 400 | 404
    POST /api/v4/channels/members/me/view     auth {"channel_id"} → 200 {"status":"OK"} | 400 | 404
    GET  /api/v4/websocket                    auth → the event stream: posts pushed to channel members
                                              (tracereplay/demo/events.py; slow consumers are disconnected)

Ids and tokens are 26-char lowercase alphanumerics. At start there is one team "demo" with five channels,
each holding a few seed posts; every new user joins that team on sign-up, so no bulk loading is needed.

Response times vary per route (a base time, lognormal jitter, a rare slow outlier; reads faster than
writes; listing posts slower as a channel grows). ``latency_scale`` multiplies the sleep (0 = no sleep,
for fast tests). The unscaled latency drawn for each request is left in ``request[LATENCY_KEY]`` so
the sample-trace generator can put it on its simulated clock.

``request[USER_ID_KEY]`` names the account a request acted as (set by auth, sign-up and log-in), for
``enduser.id`` in traces.

Run it standalone::

    python -m tracereplay.demo.target --host 127.0.0.1 --port 0 --latency-scale 1
    # prints: listening http://127.0.0.1:PORT   and serves until SIGTERM/SIGINT
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

from tracereplay.demo.events import DISCONNECT, EventHub, parse_client_message

API = "/api/v4"
ID_ALPHABET = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
ID_LENGTH = 26
DEFAULT_PER_PAGE = 60
MAX_PER_PAGE = 200

SEED_CHANNELS = (
    ("town-square", "Town Square"),
    ("off-topic", "Off-Topic"),
    ("engineering", "Engineering"),
    ("random", "Random"),
    ("announcements", "Announcements"),
)
SEED_POSTS_PER_CHANNEL = 5

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --------------------------------------------------------------------------------------------------- latency
@dataclass(frozen=True, kw_only=True)
class RouteLatency:
    """Latency law of one route: ``base_ms`` median times lognormal jitter, plus ``per_item_ms`` per item."""

    base_ms: float
    sigma: float = 0.35
    per_item_ms: float = 0.0
    max_items: int = 0


# Reads are cheap, writes (and password checks) are not; listing posts grows with the channel.
ROUTE_LATENCY: dict[str, RouteLatency] = {
    "GET /api/v4/system/ping": RouteLatency(base_ms=0.5, sigma=0.2),
    "POST /api/v4/users": RouteLatency(base_ms=28.0, sigma=0.3),
    "POST /api/v4/users/login": RouteLatency(base_ms=22.0, sigma=0.3),
    "POST /api/v4/users/logout": RouteLatency(base_ms=4.0),
    "GET /api/v4/users/me": RouteLatency(base_ms=2.5),
    "GET /api/v4/users/{user_id}": RouteLatency(base_ms=3.0),
    "GET /api/v4/users/me/teams": RouteLatency(base_ms=3.5),
    "GET /api/v4/teams/{team_id}/channels": RouteLatency(base_ms=5.0),
    "GET /api/v4/channels/{channel_id}/posts": RouteLatency(
        base_ms=7.0, sigma=0.4, per_item_ms=0.02, max_items=5000
    ),
    "POST /api/v4/posts": RouteLatency(base_ms=14.0, sigma=0.45),
    "POST /api/v4/channels/members/me/view": RouteLatency(base_ms=6.0),
}
OUTLIER_PROBABILITY = 0.004
OUTLIER_FACTOR = (8.0, 25.0)


def draw_latency_s(route_key: str, items: int, rng: np.random.Generator) -> float:
    """Draw one response time (seconds, unscaled) for ``route_key`` when it touched ``items`` items."""
    law = ROUTE_LATENCY.get(route_key, RouteLatency(base_ms=2.0))
    median = law.base_ms + law.per_item_ms * min(items, law.max_items)
    ms = median * math.exp(law.sigma * rng.standard_normal())
    if rng.random() < OUTLIER_PROBABILITY:
        ms *= rng.uniform(*OUTLIER_FACTOR)
    return ms / 1000.0


# ----------------------------------------------------------------------------------------------------- state
@dataclass(kw_only=True)
class Account:
    id: str
    username: str
    email: str
    password_sha256: str
    create_at: int

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "email": self.email}


@dataclass(kw_only=True)
class Channel:
    id: str
    team_id: str
    name: str
    display_name: str
    post_ids: list[str] = field(default_factory=list)  # oldest first; appended on create

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "team_id": self.team_id, "name": self.name, "display_name": self.display_name}


@dataclass(kw_only=True)
class ChatState:
    """Everything the service knows. Only handlers touch it, from the one event loop."""

    rng: np.random.Generator
    clock: Callable[[], float]
    accounts: dict[str, Account] = field(default_factory=dict)
    by_login: dict[str, str] = field(default_factory=dict)  # username or email -> account id
    tokens: dict[str, str] = field(default_factory=dict)  # token -> account id
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    team_members: dict[str, set[str]] = field(default_factory=dict)  # team id -> account ids
    channels: dict[str, Channel] = field(default_factory=dict)
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    views: dict[tuple[str, str], int] = field(default_factory=dict)  # (account, channel) -> last view ms
    events: EventHub = field(default_factory=EventHub)  # the open websockets

    def new_id(self) -> str:
        return "".join(self.rng.choice(ID_ALPHABET, ID_LENGTH))

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def add_account(self, username: str, email: str, password: str) -> Account:
        account = Account(
            id=self.new_id(), username=username, email=email,
            password_sha256=_hash_password(password), create_at=self.now_ms(),
        )
        self.accounts[account.id] = account
        self.by_login[username] = account.id
        self.by_login[email] = account.id
        for members in self.team_members.values():
            members.add(account.id)
        return account

    def add_post(self, channel: Channel, user_id: str, message: str) -> dict[str, Any]:
        post = {
            "id": self.new_id(), "channel_id": channel.id, "user_id": user_id,
            "message": message, "create_at": self.now_ms(),
        }
        self.posts[post["id"]] = post
        channel.post_ids.append(post["id"])
        return post


def _hash_password(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def seed_state(state: ChatState) -> None:
    """One team "demo", five channels, a few posts each by a bot account."""
    team_id = state.new_id()
    state.teams[team_id] = {"id": team_id, "name": "demo", "display_name": "Demo"}
    state.team_members[team_id] = set()
    bot = state.add_account("demo-bot", "bot@demo.invalid", state.new_id())
    for name, display in SEED_CHANNELS:
        channel = Channel(id=state.new_id(), team_id=team_id, name=name, display_name=display)
        state.channels[channel.id] = channel
        for i in range(SEED_POSTS_PER_CHANNEL):
            state.add_post(channel, bot.id, f"Welcome to {display} ({i + 1}/{SEED_POSTS_PER_CHANNEL})")


# -------------------------------------------------------------------------------------------------- handlers
STATE_KEY = web.AppKey("chat_state", ChatState)
LATENCY_RNG_KEY = web.AppKey("latency_rng", np.random.Generator)
LATENCY_SCALE_KEY = web.AppKey("latency_scale", float)
# Per-request values; aiohttp >= 3.13 wants typed keys (plain strings before that).
_request_key: Any = getattr(web, "RequestKey", lambda name, _type: name)
USER_ID_KEY = _request_key("demo_user_id", str)
TOKEN_KEY = _request_key("demo_token", str)
ITEMS_KEY = _request_key("demo_items", int)
LATENCY_KEY = _request_key("demo_latency_s", float)  # the unscaled latency drawn for this request
WEBSOCKET_ROUTE = f"GET {API}/websocket"
PUBLIC_ROUTES = frozenset({
    "GET /api/v4/system/ping", "POST /api/v4/users", "POST /api/v4/users/login",
})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"status_code": status, "message": message}, status=status)


async def _json_body(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _strings(body: dict[str, Any] | None, *keys: str) -> list[str] | None:
    """The named fields as non-empty strings, or None if any is missing or not a string."""
    if body is None:
        return None
    values = [body.get(k) for k in keys]
    return values if all(isinstance(v, str) and v.strip() for v in values) else None  # type: ignore[return-value]


def _state(request: web.Request) -> ChatState:
    return request.app[STATE_KEY]


def _me(request: web.Request) -> Account:
    return _state(request).accounts[request[USER_ID_KEY]]


async def ping(request: web.Request) -> web.Response:
    return web.json_response({"status": "OK"})


async def sign_up(request: web.Request) -> web.Response:
    state = _state(request)
    fields = _strings(await _json_body(request), "username", "email", "password")
    if fields is None or "@" not in fields[1]:
        return _error(400, "username, email (with @) and password are required strings")
    username, email, password = fields
    if username in state.by_login or email in state.by_login:
        return _error(409, "an account with that username or email already exists")
    account = state.add_account(username, email, password)
    request[USER_ID_KEY] = account.id  # who the request was about, for tracing (enduser.id)
    return web.json_response(account.public(), status=201)


async def log_in(request: web.Request) -> web.Response:
    state = _state(request)
    fields = _strings(await _json_body(request), "login_id", "password")
    account = state.accounts.get(state.by_login.get(fields[0], "")) if fields else None
    if fields is None or account is None or account.password_sha256 != _hash_password(fields[1]):
        return _error(401, "invalid login_id or password")
    token = state.new_id()
    state.tokens[token] = account.id
    request[USER_ID_KEY] = account.id
    return web.json_response({**account.public(), "token": token}, headers={"Token": token})


async def log_out(request: web.Request) -> web.Response:
    _state(request).tokens.pop(request[TOKEN_KEY], None)
    return web.json_response({"status": "OK"})


async def get_me(request: web.Request) -> web.Response:
    return web.json_response(_me(request).public())


async def get_user(request: web.Request) -> web.Response:
    account = _state(request).accounts.get(request.match_info["user_id"])
    return web.json_response(account.public()) if account else _error(404, "user not found")


async def my_teams(request: web.Request) -> web.Response:
    state, me = _state(request), request[USER_ID_KEY]
    return web.json_response([t for tid, t in state.teams.items() if me in state.team_members[tid]])


async def team_channels(request: web.Request) -> web.Response:
    state, team_id = _state(request), request.match_info["team_id"]
    if team_id not in state.teams or request[USER_ID_KEY] not in state.team_members[team_id]:
        return _error(404, "team not found")
    return web.json_response([c.public() for c in state.channels.values() if c.team_id == team_id])


async def channel_posts(request: web.Request) -> web.Response:
    state = _state(request)
    channel = state.channels.get(request.match_info["channel_id"])
    if channel is None:
        return _error(404, "channel not found")
    try:
        page = max(0, int(request.query.get("page", "0")))
        per_page = min(MAX_PER_PAGE, max(1, int(request.query.get("per_page", str(DEFAULT_PER_PAGE)))))
    except ValueError:
        return _error(400, "page and per_page must be integers")
    request[ITEMS_KEY] = len(channel.post_ids)
    newest_first = channel.post_ids[::-1][page * per_page : (page + 1) * per_page]
    posts = {pid: state.posts[pid] for pid in newest_first}
    return web.json_response({"order": newest_first, "posts": posts})


async def create_post(request: web.Request) -> web.Response:
    state = _state(request)
    fields = _strings(await _json_body(request), "channel_id", "message")
    if fields is None:
        return _error(400, "channel_id and message are required strings")
    channel = state.channels.get(fields[0])
    if channel is None:
        return _error(404, "channel not found")
    post = state.add_post(channel, request[USER_ID_KEY], fields[1])
    members = state.team_members.get(channel.team_id, set())
    state.events.publish(
        {"event": "posted", "data": {"channel_id": channel.id, "post": json.dumps(post)},
         "broadcast": {"channel_id": channel.id}},
        members.__contains__,
    )
    return web.json_response(post, status=201)


async def event_stream(request: web.Request) -> web.StreamResponse:
    state = _state(request)

    def on_message(user_id: str, text: str) -> dict[str, Any] | None:
        action, seq, data = parse_client_message(text)
        channel = state.channels.get(str(data.get("channel_id")))
        if action != "user_typing" or channel is None:
            return {"status": "FAIL", "seq_reply": seq, "error": "unknown action or channel"}
        state.events.publish(
            {"event": "typing", "data": {"user_id": user_id}, "broadcast": {"channel_id": channel.id}},
            state.team_members.get(channel.team_id, set()).__contains__,
            omit=user_id,
        )
        return {"status": "OK", "seq_reply": seq}

    return await state.events.serve(request, request[USER_ID_KEY], on_message)


async def view_channel(request: web.Request) -> web.Response:
    state = _state(request)
    fields = _strings(await _json_body(request), "channel_id")
    if fields is None:
        return _error(400, "channel_id is a required string")
    if fields[0] not in state.channels:
        return _error(404, "channel not found")
    state.views[(request[USER_ID_KEY], fields[0])] = state.now_ms()
    return web.json_response({"status": "OK"})


# ----------------------------------------------------------------------------------------------- middleware
def route_key(request: web.Request) -> str | None:
    """``"METHOD /route/{template}"`` of the matched route, or None when nothing matched (404/405)."""
    route = request.match_info.route
    resource = route.resource
    if resource is None or route.method == "*":
        return None
    return f"{request.method} {resource.canonical}"


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 on every non-public route without a valid bearer token; otherwise note who is calling."""
    key = route_key(request)
    if key is None or key in PUBLIC_ROUTES:
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    user_id = _state(request).tokens.get(token.strip()) if scheme.lower() == "bearer" else None
    if user_id is None:
        return _error(401, "missing or invalid bearer token")
    request[USER_ID_KEY], request[TOKEN_KEY] = user_id, token.strip()
    return await handler(request)


@web.middleware
async def latency_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer after a realistic, per-route response time (drawn after the handler, which knows the size)."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # aiohttp's own 404/405 still take a little time
        response = exc
    key = route_key(request) or "unmatched"
    if key == WEBSOCKET_ROUTE:  # a stream, not an answer: it ends when the client goes
        return response
    delay = draw_latency_s(key, request.get(ITEMS_KEY, 0), request.app[LATENCY_RNG_KEY])
    request[LATENCY_KEY] = delay
    scale = request.app[LATENCY_SCALE_KEY]
    if scale > 0:
        await asyncio.sleep(delay * scale)
    if isinstance(response, web.HTTPException):
        raise response
    return response


# ------------------------------------------------------------------------------------------------------- app
def create_app(
    *,
    latency_scale: float = 1.0,
    seed: int | None = None,
    clock: Callable[[], float] = time.time,
    ws_queue: int = 256,
    slow_consumer: str = DISCONNECT,
) -> web.Application:
    """The demo chat service as an aiohttp application.

    ``latency_scale`` multiplies the drawn response times (0 = answer at once); ``seed`` makes ids,
    tokens and latencies reproducible; ``clock`` (seconds since the epoch) stamps ``create_at`` — the
    sample-trace generator passes its simulated clock. ``ws_queue`` and ``slow_consumer`` are the event
    stream's per-connection queue and its policy when one is full (``"disconnect"`` or ``"drop"``).

    >>> app = create_app(latency_scale=0, seed=1)   # then web.run_app(app) or an AppRunner
    """
    if not (latency_scale >= 0 and math.isfinite(latency_scale)):
        raise ValueError(f"latency_scale must be a finite number >= 0, not {latency_scale!r}")
    root = np.random.default_rng(seed)
    state_rng, latency_rng = root.spawn(2)
    state = ChatState(rng=state_rng, clock=clock, events=EventHub(queue_size=ws_queue, policy=slow_consumer))
    seed_state(state)

    app = web.Application(middlewares=[latency_middleware, auth_middleware])
    app[STATE_KEY] = state
    app[LATENCY_RNG_KEY] = latency_rng
    app[LATENCY_SCALE_KEY] = float(latency_scale)
    # Literal routes before the templated ones that would also match them (/users/me vs /users/{user_id}).
    app.router.add_get(f"{API}/system/ping", ping)
    app.router.add_post(f"{API}/users", sign_up)
    app.router.add_post(f"{API}/users/login", log_in)
    app.router.add_post(f"{API}/users/logout", log_out)
    app.router.add_get(f"{API}/users/me", get_me)
    app.router.add_get(f"{API}/users/me/teams", my_teams)
    app.router.add_get(f"{API}/users/{{user_id}}", get_user)
    app.router.add_get(f"{API}/teams/{{team_id}}/channels", team_channels)
    app.router.add_get(f"{API}/channels/{{channel_id}}/posts", channel_posts)
    app.router.add_post(f"{API}/posts", create_post)
    app.router.add_post(f"{API}/channels/members/me/view", view_channel)
    app.router.add_get(f"{API}/websocket", event_stream)

    async def close_streams(_app: web.Application) -> None:
        await state.events.close()

    app.on_shutdown.append(close_streams)
    return app


# ------------------------------------------------------------------------------------------------ standalone
async def serve(
    host: str, port: int, *, latency_scale: float, seed: int | None, watch_stdin: bool = False
) -> None:
    """Serve until SIGTERM/SIGINT; print ``listening http://HOST:PORT`` once bound (flushed).

    With ``watch_stdin`` it also stops when its stdin reaches end of file: a parent that holds the other
    end of a pipe takes the target down with it, however the parent ends.
    """
    runner = web.AppRunner(create_app(latency_scale=latency_scale, seed=seed), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    print(f"listening http://{bound_host}:{bound_port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if watch_stdin:
        fd = sys.stdin.fileno()

        def on_stdin() -> None:
            if not os.read(fd, 4096):
                loop.remove_reader(fd)
                stop.set()

        loop.add_reader(fd, on_stdin)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tracereplay.demo.target", description="Serve the tracereplay demo chat service."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8065, help="0 picks a free port (default 8065)")
    parser.add_argument("--latency-scale", type=float, default=1.0, help="0 = no added response time")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--watch-stdin", action="store_true", help="also stop when stdin is closed")
    args = parser.parse_args(argv)
    if not (args.latency_scale >= 0 and math.isfinite(args.latency_scale)):
        parser.error("--latency-scale must be a finite number >= 0")
    try:
        asyncio.run(serve(args.host, args.port, latency_scale=args.latency_scale, seed=args.seed,
                          watch_stdin=args.watch_stdin))
    except OSError as exc:
        reason = exc.strerror or exc
        print(f"demo target: cannot listen on {args.host}:{args.port}: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
