"""The demo target's action pack: real payloads and per-user state for the chat service's actions.

Each simulated user signs itself up before its first log-in (so no bulk loading is ever needed), keeps its
token (the ``User`` keeps it from the ``Token`` header; we keep it from the body too) and remembers the
team, channel, post and user ids that answers return, so later actions reuse them. An action that needs
something the user does not have yet gets it first (signing up, logging in, listing teams or channels);
those helper requests are recorded under their own action names.

Once logged in, a user holds the service's event stream (``/api/v4/websocket``) as the Mattermost client
does: ``posted`` events tell it of new posts (their ids and authors go into its store), and each post it
creates is tagged with its id, so the report shows how long every post took to reach every member.

    tracereplay run model.json --target http://127.0.0.1:8065 --actions tracereplay.demo.actions
"""

from __future__ import annotations

import json
from typing import Any

from tracereplay.replay.actions.pack import Action, ActionContext
from tracereplay.replay.store import MutableUserStore

API = "/api/v4"
SIGN_UP = "POST /api/v4/users"
LOG_IN = "POST /api/v4/users/login"
LOG_OUT = "POST /api/v4/users/logout"
ME = "GET /api/v4/users/me"
USER = "GET /api/v4/users/{user_id}"
MY_TEAMS = "GET /api/v4/users/me/teams"
CHANNELS = "GET /api/v4/teams/{team_id}/channels"
POSTS = "GET /api/v4/channels/{channel_id}/posts"
CREATE_POST = "POST /api/v4/posts"
VIEW = "POST /api/v4/channels/members/me/view"
PING = "GET /api/v4/system/ping"
WEBSOCKET = f"{API}/websocket"

_WORDS = (
    "deploy",
    "lunch",
    "review",
    "ship",
    "coffee",
    "standup",
    "incident",
    "retro",
    "demo",
    "merge",
    "release",
    "bug",
    "fixed",
    "today",
    "later",
    "thanks",
    "great",
    "on",
    "it",
    "please",
)


# ------------------------------------------------------------------------------------- what a user needs
async def _sign_up(ctx: ActionContext) -> bool:
    suffix = ctx.rng.integers(0, 2**40)
    username = f"{ctx.user_key}-{suffix:010x}".lower()
    password = f"pw-{ctx.rng.integers(0, 2**40):010x}"
    answer = await ctx.request(
        "POST",
        f"{API}/users",
        action=SIGN_UP,
        auth=False,  # a new account: whatever token the user holds is not for it
        json={"username": username, "email": f"{username}@example.test", "password": password},
    )
    if answer.status != 201:
        return False
    body = answer.json() or {}
    if ctx.store.fact("username") is None:  # the first account is the one the user logs in with
        ctx.store.set_fact("username", username)
        ctx.store.set_fact("password", password)
        if isinstance(body.get("id"), str):
            ctx.store.set_fact("user_id", body["id"])
            ctx.store.remember("user_id", body["id"])
    return True


async def _log_in(ctx: ActionContext) -> bool:
    if ctx.store.fact("username") is None and not await _sign_up(ctx):
        return False
    answer = await ctx.request(
        "POST",
        f"{API}/users/login",
        action=LOG_IN,
        auth=False,
        json={"login_id": ctx.store.fact("username"), "password": ctx.store.fact("password")},
    )
    if answer.status == 401:  # expected: the account is gone (a restarted target): sign up afresh next time
        ctx.store.set_fact("username", None)
        ctx.store.set_token(None)
        return False
    body = answer.json() or {}
    token = body.get("token") or answer.headers.get("Token")
    if answer.status != 200 or not token:
        return False
    ctx.store.set_token(token)
    if isinstance(body.get("id"), str):
        ctx.store.set_fact("user_id", body["id"])
    await _listen(ctx)
    return True


def _posted(message: Any) -> dict[str, Any]:
    """The post a ``posted`` event carries (as JSON text inside it, as Mattermost sends it)."""
    post = json.loads(message["data"]["post"])
    return post if isinstance(post, dict) else {}


def post_id(message: Any) -> str | None:
    """The correlation id of an event: a post's id (None for other events)."""
    if not isinstance(message, dict) or message.get("event") != "posted":
        return None
    found = _posted(message).get("id")
    return found if isinstance(found, str) else None


def on_posted(store: MutableUserStore, message: Any) -> None:
    """A new post in one of the user's channels: remember it, and who wrote it, for later actions."""
    post = _posted(message)
    if isinstance(post.get("id"), str):
        store.remember("post_id", post["id"])
    if isinstance(post.get("user_id"), str):
        store.remember("user_id", post["user_id"])


async def _listen(ctx: ActionContext) -> None:
    """Hold the event stream (the open one, or a new one with the current token)."""
    await ctx.websocket(WEBSOCKET, correlation_of=post_id)


async def _logged_in(ctx: ActionContext) -> bool:
    return ctx.store.token is not None or await _log_in(ctx)


async def _team(ctx: ActionContext) -> str | None:
    return ctx.store.latest("team_id") or await _list_teams(ctx)


async def _channel(ctx: ActionContext) -> str | None:
    if ctx.store.values("channel_id"):
        return ctx.store.pick("channel_id", ctx.rng)
    team = await _team(ctx)
    if team is None:
        return None
    await _list_channels(ctx, team)
    return ctx.store.pick("channel_id", ctx.rng)


async def _list_teams(ctx: ActionContext) -> str | None:
    answer = await ctx.request("GET", f"{API}/users/me/teams", action=MY_TEAMS)
    teams = answer.json() if answer.status == 200 else None
    for team in teams or []:
        ctx.store.remember("team_id", team["id"])
    return ctx.store.latest("team_id")


async def _list_channels(ctx: ActionContext, team: str) -> None:
    answer = await ctx.request(
        "GET", ctx.path(f"{API}/teams/{{team_id}}/channels", team_id=team), action=CHANNELS
    )
    for channel in (answer.json() if answer.status == 200 else None) or []:
        ctx.store.remember("channel_id", channel["id"])


def _message(ctx: ActionContext) -> str:
    n = int(ctx.rng.integers(3, 12))
    return " ".join(_WORDS[int(i)] for i in ctx.rng.integers(0, len(_WORDS), n))


# ---------------------------------------------------------------------------------------------- actions
async def sign_up(ctx: ActionContext) -> None:
    await _sign_up(ctx)


async def log_in(ctx: ActionContext) -> None:
    await _log_in(ctx)


async def log_out(ctx: ActionContext) -> None:
    if not await _logged_in(ctx):
        return
    answer = await ctx.request("POST", f"{API}/users/logout")
    if answer.status == 200:
        ctx.store.set_token(None)
        await ctx.close_websocket(WEBSOCKET)  # a logged-out client has no event stream


async def me(ctx: ActionContext) -> None:
    if await _logged_in(ctx):
        await ctx.request("GET", f"{API}/users/me")


async def user(ctx: ActionContext) -> None:
    if not await _logged_in(ctx):
        return
    user_id = ctx.store.pick("user_id", ctx.rng) or ctx.store.fact("user_id")
    if user_id:
        await ctx.request("GET", ctx.path(f"{API}/users/{{user_id}}", user_id=user_id))


async def my_teams(ctx: ActionContext) -> None:
    if await _logged_in(ctx):
        await _list_teams(ctx)


async def channels(ctx: ActionContext) -> None:
    if not await _logged_in(ctx):
        return
    team = ctx.store.latest("team_id") or await _list_teams(ctx)
    if team:
        await _list_channels(ctx, team)


async def posts(ctx: ActionContext) -> None:
    if not await _logged_in(ctx):
        return
    channel = await _channel(ctx)
    if channel is None:
        return
    answer = await ctx.request(
        "GET", ctx.path(f"{API}/channels/{{channel_id}}/posts", channel_id=channel), params={"per_page": "30"}
    )
    body = answer.json() if answer.status == 200 else None
    if body:
        for post_id in body.get("order", [])[:10]:
            ctx.store.remember("post_id", post_id)
            author = body["posts"][post_id].get("user_id")
            if author:
                ctx.store.remember("user_id", author)


async def create_post(ctx: ActionContext) -> None:
    if not await _logged_in(ctx):
        return
    channel = await _channel(ctx)
    if channel is None:
        return
    body = await ctx.json(
        "POST",
        f"{API}/posts",
        json={"channel_id": channel, "message": _message(ctx)},
        remember={"post_id": "id"},
    )
    if body and isinstance(body.get("id"), str):
        ctx.correlate(body["id"], type="posted")  # its deliveries to every member, timed from the request


async def view(ctx: ActionContext) -> None:
    if not await _logged_in(ctx):
        return
    channel = await _channel(ctx)
    if channel is not None:
        await ctx.request("POST", f"{API}/channels/members/me/view", json={"channel_id": channel})


async def ping(ctx: ActionContext) -> None:
    await ctx.request("GET", f"{API}/system/ping")


ACTIONS = {
    SIGN_UP: sign_up,
    LOG_IN: Action(log_in, expect=(401,)),  # an account a restarted target forgot: the pack signs up again
    LOG_OUT: log_out,
    ME: me,
    USER: user,
    MY_TEAMS: my_teams,
    CHANNELS: channels,
    POSTS: posts,
    CREATE_POST: create_post,
    VIEW: view,
    PING: ping,
}
EVENTS = {"posted": on_posted}
