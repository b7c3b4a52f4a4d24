"""A small Matrix-like chat server on 127.0.0.1: the stateful API issue 11's first user wrote a pack for.

What makes it hard for a load generator, kept on purpose::

    POST /_matrix/client/v3/register        no token; {"username","password"} → 401 {"session","flows"} first
                                            (a handshake), then {"auth": {"type","session"}, …} → 200
                                            {"user_id","access_token"} | 400 M_USER_IN_USE
    POST /_matrix/client/v3/login           no token; {"identifier": {"user"}, "password"} → 200 | 403
    GET  /_matrix/client/v3/directory/room/{alias}   an alias "#name:localhost" → 200 {"room_id"} | 404
    POST /_matrix/client/v3/createRoom      {"room_alias_name"} → 200 {"room_id": "!…:localhost"}
                                            | 400 M_ROOM_IN_USE (someone created it first: a lost race)
    POST /_matrix/client/v3/join/{room}     a room id or alias → 200 {"room_id"} | 404
    PUT  /_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}   member → 200 {"event_id"} | 403
    GET  /_matrix/client/v3/sync?since=&timeout=ms   a long-poll: without ``since`` at once, else held
                                            until a message arrives in a joined room or ``hold`` (1–3 s) ends
    GET  /_test/stats                       no token: what the server stored (for tests)

Every route but register, login and stats needs ``Authorization: Bearer <token>`` (else 401
M_MISSING_TOKEN / M_UNKNOWN_TOKEN). Register and login *refuse* a token (400): a client that sends its
old token everywhere cannot sign up again. Room ids start with ``!``, aliases with ``#``: both must be
percent-escaped in a path (``#`` unescaped starts a URL fragment, so the server never sees the rest).

    python tests/packs/chat_server.py --port 0    # prints: listening http://127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import secrets
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

API = "/_matrix/client/v3"
SERVER = "localhost"


@dataclass
class Room:
    room_id: str
    alias: str | None
    members: set[str] = field(default_factory=set)
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


@dataclass
class State:
    hold: tuple[float, float]
    users: dict[str, str] = field(default_factory=dict)  # user id → password
    tokens: dict[str, str] = field(default_factory=dict)  # token → user id
    handshakes: set[str] = field(default_factory=set)
    rooms: dict[str, Room] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    txns: dict[tuple[str, str], str] = field(default_factory=dict)
    position: itertools.count = field(default_factory=lambda: itertools.count(1))
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    counts: dict[str, int] = field(default_factory=lambda: {"registered": 0, "handshakes": 0, "syncs": 0})


def _error(status: int, code: str, text: str, **extra: Any) -> web.Response:
    return web.json_response({"errcode": code, "error": text, **extra}, status=status)


def create_app(*, hold: tuple[float, float] = (1.0, 3.0)) -> web.Application:
    state = State(hold=hold)
    rng = random.Random(11)

    def user_of(request: web.Request) -> str | web.Response:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return _error(401, "M_MISSING_TOKEN", "missing access token")
        user = state.tokens.get(header[len("Bearer ") :])
        return user if user is not None else _error(401, "M_UNKNOWN_TOKEN", "unknown access token")

    async def body_of(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def signed_in(user: str) -> web.Response:
        token = secrets.token_hex(12)
        state.tokens[token] = user
        return web.json_response({"user_id": user, "access_token": token, "device_id": secrets.token_hex(4)})

    async def register(request: web.Request) -> web.Response:
        if "Authorization" in request.headers:
            return _error(400, "M_UNKNOWN", "registration takes no access token")
        body = await body_of(request)
        auth = body.get("auth") if isinstance(body.get("auth"), dict) else {}
        if auth.get("session") not in state.handshakes:
            session = secrets.token_hex(8)
            state.handshakes.add(session)
            state.counts["handshakes"] += 1
            return web.json_response(
                {"session": session, "flows": [{"stages": ["m.login.dummy"]}], "params": {}}, status=401
            )
        state.handshakes.discard(auth["session"])
        name, password = body.get("username"), body.get("password")
        if not isinstance(name, str) or not isinstance(password, str) or not name:
            return _error(400, "M_INVALID_PARAM", "username and password are required")
        user = f"@{name}:{SERVER}"
        if user in state.users:
            return _error(400, "M_USER_IN_USE", "user id already taken")
        state.users[user] = password
        state.counts["registered"] += 1
        return signed_in(user)

    async def login(request: web.Request) -> web.Response:
        if "Authorization" in request.headers:
            return _error(400, "M_UNKNOWN", "login takes no access token")
        body = await body_of(request)
        name = (body.get("identifier") or {}).get("user", "")
        user = name if str(name).startswith("@") else f"@{name}:{SERVER}"
        if state.users.get(user) != body.get("password"):
            return _error(403, "M_FORBIDDEN", "invalid username or password")
        return signed_in(user)

    def room_of(key: str) -> Room | None:
        return state.rooms.get(state.aliases.get(key, key))

    async def directory(request: web.Request) -> web.Response:
        user = user_of(request)
        if isinstance(user, web.Response):
            return user
        room = state.aliases.get(request.match_info["alias"])
        if room is None:
            return _error(404, "M_NOT_FOUND", f"room alias {request.match_info['alias']} not found")
        return web.json_response({"room_id": room, "servers": [SERVER]})

    async def create_room(request: web.Request) -> web.Response:
        user = user_of(request)
        if isinstance(user, web.Response):
            return user
        name = (await body_of(request)).get("room_alias_name")
        alias = f"#{name}:{SERVER}" if isinstance(name, str) and name else None
        await asyncio.sleep(rng.uniform(0.0, 0.02))  # a create takes a while: two users can race
        if alias is not None and alias in state.aliases:
            return _error(400, "M_ROOM_IN_USE", "room alias already taken")
        room = Room(f"!{secrets.token_hex(6)}:{SERVER}", alias, {user})
        state.rooms[room.room_id] = room
        if alias is not None:
            state.aliases[alias] = room.room_id
        return web.json_response({"room_id": room.room_id})

    async def join(request: web.Request) -> web.Response:
        user = user_of(request)
        if isinstance(user, web.Response):
            return user
        room = room_of(request.match_info["room"])
        if room is None:
            return _error(404, "M_NOT_FOUND", "no such room")
        room.members.add(user)
        return web.json_response({"room_id": room.room_id})

    async def send(request: web.Request) -> web.Response:
        user = user_of(request)
        if isinstance(user, web.Response):
            return user
        room = state.rooms.get(request.match_info["room"])
        if room is None or user not in room.members:
            return _error(403, "M_FORBIDDEN", f"{user} is not in room {request.match_info['room']}")
        key = (user, request.match_info["txn"])
        if key not in state.txns:  # a retried transaction is stored once
            body = await body_of(request)
            event = {"event_id": f"${secrets.token_hex(8)}", "sender": user, "content": body}
            room.events.append((next(state.position), event))
            state.txns[key] = event["event_id"]
            async with state.changed:
                state.changed.notify_all()
        return web.json_response({"event_id": state.txns[key]})

    def batch_since(user: str, since: int) -> tuple[dict[str, Any], int]:
        rooms: dict[str, Any] = {}
        newest = since
        for room in state.rooms.values():
            if user in room.members:
                events = [e for pos, e in room.events if pos > since]
                newest = max([newest, *(pos for pos, _ in room.events)])
                if events:
                    rooms[room.room_id] = {"timeline": {"events": events[-20:]}}
        return rooms, newest

    async def sync(request: web.Request) -> web.Response:
        user = user_of(request)
        if isinstance(user, web.Response):
            return user
        state.counts["syncs"] += 1
        try:
            since = int(request.query["since"]) if "since" in request.query else None
            timeout_s = int(request.query.get("timeout", "30000")) / 1000
        except ValueError:
            return _error(400, "M_INVALID_PARAM", "since and timeout are numbers")
        if since is None:
            rooms, newest = batch_since(user, 0)
            return web.json_response({"next_batch": str(newest), "rooms": {"join": rooms}})
        held = min(timeout_s, rng.uniform(*state.hold))
        loop = asyncio.get_running_loop()
        until = loop.time() + held
        rooms, newest = batch_since(user, since)
        while not rooms and loop.time() < until:
            async with state.changed:
                with contextlib.suppress(TimeoutError):  # held long enough: answer with nothing new
                    await asyncio.wait_for(state.changed.wait(), until - loop.time())
            rooms, newest = batch_since(user, since)
        return web.json_response({"next_batch": str(newest), "rooms": {"join": rooms}})

    async def stats(request: web.Request) -> web.Response:
        rooms = {room.alias or room.room_id: len(room.events) for room in state.rooms.values()}
        return web.json_response(
            {
                **state.counts,
                "users": len(state.users),
                "rooms": rooms,
                "room_ids": sorted(state.rooms),
                "messages": sum(rooms.values()),
            }
        )

    app = web.Application()
    app.router.add_post(f"{API}/register", register)
    app.router.add_post(f"{API}/login", login)
    app.router.add_get(f"{API}/directory/room/{{alias}}", directory)
    app.router.add_post(f"{API}/createRoom", create_room)
    app.router.add_post(f"{API}/join/{{room}}", join)
    app.router.add_put(f"{API}/rooms/{{room}}/send/m.room.message/{{txn}}", send)
    app.router.add_get(f"{API}/sync", sync)
    app.router.add_get("/_test/stats", stats)
    return app


async def serve(port: int, hold: tuple[float, float]) -> None:
    runner = web.AppRunner(create_app(hold=hold), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, bound = runner.addresses[0][:2]
    print(f"listening http://{host}:{bound}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the Matrix-like test chat server on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--hold", type=float, nargs=2, default=(1.0, 3.0), metavar=("MIN_S", "MAX_S"))
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, tuple(args.hold)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
