"""Actions: the generic HTTP action (ids from answers reused), action packs (files and modules)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from aiohttp import web

from tracereplay.errors import ConfigError
from tracereplay.replay import MemStore, Script, run_async
from tracereplay.replay.actions.generic import harvest, parse_action
from tracereplay.replay.actions.pack import load_pack


def test_parse_action_reads_method_route_params_and_resource():
    route = parse_action("GET /api/v4/teams/{team_id}/channels")
    assert (route.method, route.params, route.resource) == ("GET", ("team_id",), "channel_id")
    assert parse_action("POST /api/v4/users/login").resource == "user_id"
    assert parse_action("GET /v1/categories/{category_id}").resource == "category_id"
    assert parse_action("Viewed Page") is None
    assert parse_action("FETCH /x") is None


def test_fill_prefers_the_store_then_examples_then_gives_up():
    route = parse_action("GET /channels/{channel_id}/posts")
    store, rng = MemStore(), np.random.default_rng(0)
    assert route.fill(store, rng, ["/channels/abc/posts"]) == "/channels/abc/posts"
    assert route.fill(store, rng, []) is None
    store.remember("channel_id", "c1")
    assert route.fill(store, rng, ["/channels/abc/posts"]) == "/channels/c1/posts"


def test_harvest_keeps_ids_by_resource_and_foreign_keys():
    store = MemStore()
    body = {
        "order": ["p2", "p1"],
        "posts": {
            "p1": {"id": "p1", "channel_id": "c", "user_id": "u9"},
            "p2": {"id": "p2", "channel_id": "c", "user_id": "u8"},
        },
    }
    harvest(body, "post_id", store)
    assert set(store.values("post_id")) == {"p1", "p2"}
    assert store.values("channel_id") == ("c",) and set(store.values("user_id")) == {"u8", "u9"}
    harvest({"id": "me", "token": "t0k"}, "user_id", store)
    assert store.token == "t0k" and store.latest("user_id") == "me"


def stateful_app() -> web.Application:
    """Carts hold items; a cart id exists only once created; tokens are checked."""
    carts: dict[str, list[str]] = {}
    ids = itertools.count(1)

    async def login(request: web.Request) -> web.Response:
        return web.json_response({"user": "x"}, headers={"Token": f"tok{next(ids)}"})

    def authorised(request: web.Request) -> bool:
        return request.headers.get("Authorization", "").startswith("Bearer tok")

    async def new_cart(request: web.Request) -> web.Response:
        if not authorised(request):
            return web.json_response({}, status=401)
        cart = f"cart{next(ids)}"
        carts[cart] = []
        return web.json_response({"id": cart}, status=201)

    async def add_item(request: web.Request) -> web.Response:
        cart = request.match_info["cart_id"]
        if not authorised(request) or cart not in carts:
            return web.json_response({}, status=404)
        item = f"item{next(ids)}"
        carts[cart].append(item)
        return web.json_response({"id": item, "cart_id": cart}, status=201)

    async def get_item(request: web.Request) -> web.Response:
        cart, item = request.match_info["cart_id"], request.match_info["item_id"]
        if cart not in carts or item not in carts[cart]:
            return web.json_response({}, status=404)
        return web.json_response({"id": item})

    app = web.Application()
    app.router.add_post("/login", login)
    app.router.add_post("/carts", new_cart)
    app.router.add_post("/carts/{cart_id}/items", add_item)
    app.router.add_get("/carts/{cart_id}/items/{item_id}", get_item)
    return app


async def test_generic_actions_reuse_ids_and_tokens_from_answers(serve, tmp_path):
    url = await serve(stateful_app())
    script = Script.from_actions(
        ["POST /login", "POST /carts", "POST /carts/{cart_id}/items", "GET /carts/{cart_id}/items/{item_id}"]
    )
    out = tmp_path / "run"
    await run_async(script, target=url, users=3, duration=0.7, think_scale=0, out=str(out))
    frame = pd.read_parquet(out / "requests-0.parquet")
    assert len(frame) > 40
    assert (frame["status"] < 400).all(), frame[frame["status"] >= 400][["action", "path", "status"]]
    items = frame[frame["action"] == "GET /carts/{cart_id}/items/{item_id}"]
    assert items["path"].str.match(r"^/carts/cart\d+/items/item\d+$").all()


async def test_unfillable_parameters_are_protocol_errors_not_requests(serve, tmp_path):
    url = await serve(stateful_app())
    script = Script.from_actions(["GET /carts/{cart_id}/items/{item_id}"])
    out = tmp_path / "run"
    await run_async(script, target=url, users=1, duration=0.3, think_scale=0, out=str(out))
    frame = pd.read_parquet(out / "requests-0.parquet")
    assert (frame["error_kind"] == "protocol").all() and frame["status"].isna().all()
    assert frame["path"].isna().all()


PACK_SOURCE = """
calls = []

async def on_start(ctx):
    ctx.store.set_fact("greeting", "hello " + ctx.user_key)

async def login(ctx):
    answer = await ctx.request("POST", "/login", json={"who": ctx.store.fact("greeting")})
    ctx.store.set_token(answer.headers["Token"])

async def cart(ctx):
    answer = await ctx.request("POST", "/carts")
    ctx.store.remember("cart_id", answer.json()["id"])

async def broken(ctx):
    raise KeyError("oops")

ACTIONS = {"POST /login": login, "make cart": cart, "broken": broken}
"""


async def test_a_pack_file_overrides_actions_and_bugs_in_it_are_recorded(serve, tmp_path):
    url = await serve(stateful_app())
    pack = tmp_path / "mypack.py"
    pack.write_text(PACK_SOURCE)
    script = Script.from_actions(["POST /login", "make cart", "POST /carts/{cart_id}/items", "broken"])
    out = tmp_path / "run"
    await run_async(script, target=url, users=2, duration=0.5, think_scale=0, out=str(out), actions=str(pack))
    frame = pd.read_parquet(out / "requests-0.parquet")
    by_action = frame.groupby("action")
    assert (by_action.get_group("make cart")["status"] == 201).all()  # recorded under the action's name
    assert (by_action.get_group("make cart")["path"] == "/carts").all()
    assert (by_action.get_group("POST /carts/{cart_id}/items")["status"] == 201).all()  # id from the pack
    assert (by_action.get_group("broken")["error_kind"] == "protocol").all()


def test_bad_packs_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="no ACTIONS"):
        bad = tmp_path / "nothing.py"
        bad.write_text("x = 1\n")
        load_pack(str(bad))
    with pytest.raises(ConfigError, match="cannot import"):
        load_pack("no_such_module_anywhere")
    with pytest.raises(ConfigError, match="failed to import"):
        broken = tmp_path / "broken.py"
        broken.write_text("raise RuntimeError('nope')\n")
        load_pack(str(broken))
    assert "POST /api/v4/users/login" in load_pack("tracereplay.demo.actions").actions


STORE_PACK_SOURCE = '''
"""Users are accounts known in advance: each store is seeded with the account's token and cookie."""
from tracereplay.replay.store import MutableUserStore


class AccountStore:
    """Not a MemStore: a MutableUserStore of its own (the User needs nothing more)."""

    def __init__(self, account):
        self.token = "tok-" + account
        self.cookies = {"account": account}
        self._values, self._facts = {}, {}

    def values(self, name):
        return tuple(self._values.get(name, ()))

    def latest(self, name):
        kept = self._values.get(name)
        return kept[-1] if kept else None

    def fact(self, name, default=None):
        return self._facts.get(name, default)

    def pick(self, name, rng):
        kept = self._values.get(name)
        return kept[int(rng.integers(len(kept)))] if kept else None

    def related(self, name, value):
        return {}

    def set_token(self, token):
        self.token = token

    def remember(self, name, value, related=None):
        self._values.setdefault(name, []).append(value)

    def forget(self, name):
        self._values.pop(name, None)

    def set_fact(self, name, value):
        self._facts[name] = value

    def set_cookie(self, name, value):
        self.cookies[name] = value


made = []


def new_store(user_key):
    made.append(user_key)
    store = AccountStore("acct-" + user_key)
    assert isinstance(store, MutableUserStore)
    return store


ACTIONS = {}
'''


def accounts_app(visits: dict[str, int]) -> web.Application:
    """Answers only a user whose bearer token and cookie name the same account; counts visits in a cookie."""

    async def whoami(request: web.Request) -> web.Response:
        account = request.cookies.get("account")
        if account is None or request.headers.get("Authorization") != f"Bearer tok-{account}":
            return web.json_response({}, status=401)
        seen = request.cookies.get("visit", "0")
        visits[account] = int(seen) + 1
        response = web.json_response({"id": account})
        response.set_cookie("visit", str(int(seen) + 1))
        return response

    app = web.Application()
    app.router.add_get("/whoami", whoami)
    return app


async def test_a_pack_brings_its_users_stores(serve, tmp_path):
    """``new_store(user_key)`` in a pack makes every user's store; the user sends its token and cookies and
    keeps the cookies the answers set, through the MutableUserStore Protocol only."""
    visits: dict[str, int] = {}
    url = await serve(accounts_app(visits))
    pack = tmp_path / "accounts.py"
    pack.write_text(STORE_PACK_SOURCE)
    out = tmp_path / "run"
    script = Script.from_actions(["GET /whoami"])
    await run_async(script, target=url, users=2, duration=0.5, think_scale=0, out=str(out), actions=str(pack))
    frame = pd.read_parquet(out / "requests-0.parquet")
    assert len(frame) > 4 and (frame["status"] == 200).all(), frame["status"].value_counts()
    assert frame["user"].nunique() == 2
    per_account = frame.groupby("user").size()
    assert visits == {f"acct-{user}": count for user, count in per_account.items()}  # cookies kept and sent
    assert load_pack(str(pack)).new_store("w0-u0").cookies == {"account": "acct-w0-u0"}
