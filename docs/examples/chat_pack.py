"""An action pack for a Matrix-like chat API: a registration handshake that answers 401 first, room ids
with ``!`` and aliases with ``#`` in paths, and a long-poll sync (docs/running.md, "Worked example").

    tracereplay run chat.toml --target http://127.0.0.1:8008 --users 20 --duration 2m \\
        --actions docs/examples/chat_pack.py -o runs/chat
"""

from __future__ import annotations

from tracereplay.replay.actions.pack import Action, ActionContext

API = "/_matrix/client/v3"
REGISTER = f"POST {API}/register"
LOGIN = f"POST {API}/login"
FIND_ROOM = f"GET {API}/directory/room/{{alias}}"
CREATE_ROOM = f"POST {API}/createRoom"
JOIN = f"POST {API}/join/{{room}}"
SEND = f"PUT {API}/rooms/{{room}}/send/m.room.message/{{txn}}"
SYNC = f"GET {API}/sync"
ROOMS = ("lobby", "random", "ops")  # every user joins one: aliases #lobby:localhost …


async def register(ctx: ActionContext) -> None:
    """Sign up: the first POST answers 401 with a session to complete (expected), the second signs up."""
    name = f"{ctx.user_key}-{int(ctx.rng.integers(1 << 40)):010x}".lower()
    account = {"username": name, "password": f"pw-{name}"}
    # auth=False: a user that had a token must not send it here (the server refuses one)
    handshake = await ctx.json("POST", f"{API}/register", json=account, auth=False, action=REGISTER)
    session = (handshake or {}).get("session")
    await ctx.request(
        "POST",
        f"{API}/register",
        json={**account, "auth": {"type": "m.login.dummy", "session": session}},
        auth=False,
        action=REGISTER,
        remember={"token": "access_token", "user_id": "user_id"},  # the token goes out from now on
    )
    ctx.store.set_fact("account", account)
    ctx.store.forget("room_id")  # a new account is in no room yet
    ctx.store.set_fact("since", None)


async def log_in(ctx: ActionContext) -> None:
    account = ctx.store.fact("account")
    if account is None:
        await register(ctx)
        return
    await ctx.request(
        "POST",
        f"{API}/login",
        json={
            "identifier": {"type": "m.id.user", "user": account["username"]},
            "password": account["password"],
        },
        auth=False,
        action=LOGIN,
        remember={"token": "access_token"},
    )


async def join_room(ctx: ActionContext) -> None:
    """Find a room by alias, create it if nobody has (404 expected), join it (a lost create race: 400)."""
    if ctx.store.token is None:
        await log_in(ctx)
    alias = f"#{ROOMS[int(ctx.rng.integers(len(ROOMS)))]}:localhost"
    lookup = ctx.path(f"{API}/directory/room/{{alias}}", alias=alias)  # "#" escaped: %23lobby%3Alocalhost
    found = await ctx.request("GET", lookup, action=FIND_ROOM)
    if found.status == 404:  # no such room yet: create it — someone may beat us to it
        name = alias[1:].split(":")[0]
        found = await ctx.request(
            "POST", f"{API}/createRoom", json={"room_alias_name": name}, action=CREATE_ROOM
        )
        if found.status == 400:  # M_ROOM_IN_USE: the race was lost, the room exists now
            found = await ctx.request("GET", lookup, action=FIND_ROOM)
    room = found.json().get("room_id") if found.status == 200 else None
    if room:
        await ctx.request(
            "POST", ctx.path(f"{API}/join/{{room}}", room=room), remember={"room_id": "room_id"}
        )


async def send(ctx: ActionContext) -> None:
    room = ctx.store.pick("room_id", ctx.rng)
    if room is None:
        await join_room(ctx)
        room = ctx.store.latest("room_id")
    if room is None:
        return
    txn = f"{ctx.user_key}.{int(ctx.rng.integers(1 << 40))}"
    await ctx.request(
        "PUT",
        ctx.path(f"{API}/rooms/{{room}}/send/m.room.message/{{txn}}", room=room, txn=txn),
        json={"msgtype": "m.text", "body": "hello"},
    )


async def sync(ctx: ActionContext) -> None:
    """The long-poll: held by the server until something happens or its timeout (marked in ACTIONS)."""
    if ctx.store.token is None:
        await log_in(ctx)
    since = ctx.store.fact("since")
    params = {"timeout": "30000", **({"since": since} if since else {})}
    body = await ctx.json("GET", f"{API}/sync", params=params)
    if body and body.get("next_batch"):
        ctx.store.set_fact("since", body["next_batch"])


ACTIONS = {
    REGISTER: Action(register, expect=(401,)),  # the handshake's first answer is not an error
    LOGIN: log_in,
    FIND_ROOM: Action(join_room, expect=(404,)),  # "no such room" is an answer: the pack creates it
    CREATE_ROOM: Action(join_room, expect=(400,)),  # the alias was taken meanwhile: a lost race
    JOIN: join_room,
    SEND: send,
    SYNC: Action(sync, long_poll=True, timeout=35),  # held up to 30 s by the server
}
