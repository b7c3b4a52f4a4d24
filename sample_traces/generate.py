"""Regenerate the demo's sample trace dump from real traffic against the demo target.

    .venv/bin/python sample_traces/generate.py                # rewrites sample_traces/demo.otlp.pb
    .venv/bin/python sample_traces/generate.py --users 400 --days 3 --seed 2 -o /tmp/big.otlp.pb

The demo chat service (:mod:`tracereplay.demo.target`) runs in-process on 127.0.0.1 and a scripted population
of users drives it through real HTTP requests (aiohttp), so routes, statuses and ids are real. A server-span
middleware using the real OpenTelemetry SDK records each request on a *simulated* clock: days of traffic
take seconds to produce. Users act one request at a time in global time order, so the service sees the
traffic in the order it would have. Everything is seeded: the same arguments give the same bytes.

The population (readers and posters), their Markov chains, think-time laws and session schedule are
described in sample_traces/README.md; the tables below are the single source of those numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import math
import os
import sys
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

from tracereplay.demo.target import LATENCY_KEY, USER_ID_KEY, create_app

HERE = Path(__file__).resolve().parent
# sample_traces/demo.otlp.pb links to the copy shipped inside the package (tracereplay/demo/), so that
# `tracereplay demo` finds it in any install; write through the link to the real file.
DEFAULT_OUT = (HERE / "demo.otlp.pb").resolve()
DEFAULT_START = "2026-11-02T00:00:00+00:00"  # a Monday
SESSION_HEADER = "X-Session-Id"
API = "/api/v4"
MAX_BYTES = 2_000_000

# Action names (the span names and the event table's "action").
SIGN_UP = f"POST {API}/users"
LOG_IN = f"POST {API}/users/login"
LOG_OUT = f"POST {API}/users/logout"
ME = f"GET {API}/users/me"
TEAMS = f"GET {API}/users/me/teams"
CHANNELS = f"GET {API}/teams/{{team_id}}/channels"
POSTS = f"GET {API}/channels/{{channel_id}}/posts"
CREATE_POST = f"POST {API}/posts"
VIEW = f"POST {API}/channels/members/me/view"
USER = f"GET {API}/users/{{user_id}}"
PING = f"GET {API}/system/ping"
EXIT = "exit"  # leaving the content loop: log out


# ------------------------------------------------------------------------------------------------ behaviour
@dataclass(frozen=True, kw_only=True)
class ThinkLaw:
    """Lognormal think time: ``median_s * exp(sigma * N(0, 1))`` seconds."""

    median_s: float
    sigma: float

    def draw(self, rng: np.random.Generator) -> float:
        return self.median_s * math.exp(self.sigma * rng.standard_normal())


@dataclass(frozen=True, kw_only=True)
class BehaviourClass:
    """One kind of user: share of the population, session count, content chain, think times."""

    name: str
    share: float
    extra_sessions_mean: float  # sessions per user = 1 + Poisson(extra_sessions_mean)
    # After the fixed opening (log in → me → teams → channels → view → posts), the content chain:
    # from an action to the next, with EXIT meaning "log out and end the session".
    chain: dict[str, dict[str, float]]
    think: dict[str, ThinkLaw]  # by the *next* action; "nav" for the opening burst
    page_back_probability: float = 0.0  # a posts read that scrolls back (?page=1)


NAV_THINK = ThinkLaw(median_s=0.4, sigma=0.5)  # the client app's start-up burst: quick, not human

READERS = BehaviourClass(
    name="reader",
    share=0.7,
    extra_sessions_mean=1.5,
    chain={
        POSTS: {POSTS: 0.25, VIEW: 0.30, USER: 0.15, CREATE_POST: 0.05, EXIT: 0.25},
        VIEW: {POSTS: 1.0},
        USER: {POSTS: 0.60, VIEW: 0.25, EXIT: 0.15},
        CREATE_POST: {POSTS: 0.70, VIEW: 0.20, EXIT: 0.10},
    },
    think={
        "nav": NAV_THINK,
        POSTS: ThinkLaw(median_s=15.0, sigma=0.8),
        VIEW: ThinkLaw(median_s=12.0, sigma=0.8),
        USER: ThinkLaw(median_s=6.0, sigma=0.6),
        CREATE_POST: ThinkLaw(median_s=20.0, sigma=0.6),
        LOG_OUT: ThinkLaw(median_s=10.0, sigma=0.8),
    },
    page_back_probability=0.15,
)

POSTERS = BehaviourClass(
    name="poster",
    share=0.3,
    extra_sessions_mean=3.0,
    chain={
        POSTS: {CREATE_POST: 0.55, POSTS: 0.10, VIEW: 0.20, USER: 0.03, EXIT: 0.12},
        VIEW: {POSTS: 1.0},
        USER: {CREATE_POST: 0.50, POSTS: 0.50},
        CREATE_POST: {CREATE_POST: 0.25, POSTS: 0.45, VIEW: 0.15, EXIT: 0.15},
    },
    think={
        "nav": NAV_THINK,
        POSTS: ThinkLaw(median_s=3.0, sigma=0.5),
        VIEW: ThinkLaw(median_s=2.5, sigma=0.5),
        USER: ThinkLaw(median_s=2.0, sigma=0.5),
        CREATE_POST: ThinkLaw(median_s=6.0, sigma=0.5),  # typing
        LOG_OUT: ThinkLaw(median_s=2.0, sigma=0.5),
    },
)

CLASSES = (READERS, POSTERS)
SIGN_UP_TO_LOG_IN = ThinkLaw(median_s=1.5, sigma=0.4)
MISTYPE_PROBABILITY = 0.02  # a log-in with a wrong password (401, no enduser.id), retried after a pause
MISTYPE_RETRY = ThinkLaw(median_s=4.0, sigma=0.4)
MIN_SESSION_GAP_S = 30 * 60  # a user's next session starts at least this long after the previous ended
PROBE_INTERVAL_S = 900  # a health checker pings every 15 minutes (no user, no session: ingest drops it)


def hour_of_day_weights() -> np.ndarray:
    """Relative session-start rate for each minute of a day (UTC): quiet nights, peaks 10:00 and 15:00."""
    hours = np.arange(24 * 60) / 60.0

    def bump(centre: float, width: float, height: float) -> np.ndarray:
        return height * np.exp(-0.5 * ((hours - centre) / width) ** 2)

    return 0.08 + bump(10.0, 1.8, 1.0) + bump(15.0, 2.2, 0.8) + bump(20.5, 1.5, 0.35)


# ----------------------------------------------------------------------------------------- the user scripts
@dataclass(frozen=True, kw_only=True)
class Step:
    """One request a user will send, ``think_s`` after its previous request ended (or ``at`` absolute)."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    think_s: float = 0.0
    at: float | None = None  # simulated seconds since the epoch
    session: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


Script = Generator[Step, Reply, None]


@dataclass(kw_only=True)
class ScriptedUser:
    """What a scripted user knows; its script reads and writes only this."""

    index: int
    cls: BehaviourClass
    rng: np.random.Generator
    session_starts: list[float]
    password: str
    username: str = ""
    token: str | None = None
    team_id: str = ""
    channel_ids: list[str] = field(default_factory=list)
    channel_id: str = ""
    author_ids: list[str] = field(default_factory=list)
    session_ended: float = -math.inf


def new_key(rng: np.random.Generator) -> str:
    return "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789"), 26))


def user_script(user: ScriptedUser, clock: SimClock) -> Script:
    """Sign up once, then for each planned session: log in → … → log out."""
    user.username = f"user{user.index:04d}"
    signed_up = False
    for planned in user.session_starts:
        start = max(planned, user.session_ended + MIN_SESSION_GAP_S)
        session = new_key(user.rng)
        if not signed_up:
            email = f"{user.username}@example.com"
            body = {"username": user.username, "email": email, "password": user.password}
            reply = yield Step(method="POST", path=f"{API}/users", json=body, at=start, session=session)
            signed_up = reply.status == 201
            first_think: float | None = SIGN_UP_TO_LOG_IN.draw(user.rng)
        else:
            first_think = None
        yield from session_script(user, session, start if first_think is None else None, first_think or 0.0)
        user.session_ended = clock.now


def session_script(user: ScriptedUser, session: str, at: float | None, think: float) -> Script:
    rng, cls = user.rng, user.cls
    login_path = f"{API}/users/login"
    if rng.random() < MISTYPE_PROBABILITY:
        wrong = {"login_id": user.username, "password": user.password + "x"}
        yield Step(method="POST", path=login_path, json=wrong, at=at, think_s=think, session=session)
        at, think = None, MISTYPE_RETRY.draw(rng)
    login = {"login_id": user.username, "password": user.password}
    reply = yield Step(method="POST", path=login_path, json=login, at=at, think_s=think, session=session)
    if reply.status != 200:
        raise RuntimeError(f"{user.username} could not log in: {reply.status} {reply.body}")
    user.token = reply.body["token"]

    def step(method: str, path: str, think_s: float, json: dict[str, Any] | None = None) -> Step:
        return Step(method=method, path=path, json=json, think_s=think_s, session=session, token=user.token)

    nav = cls.think["nav"]
    yield step("GET", f"{API}/users/me", nav.draw(rng))
    teams = yield step("GET", f"{API}/users/me/teams", nav.draw(rng))
    user.team_id = teams.body[0]["id"]
    channels = yield step("GET", f"{API}/teams/{user.team_id}/channels", nav.draw(rng))
    user.channel_ids = [c["id"] for c in channels.body]
    action = VIEW
    think_s = nav.draw(rng)
    while action != EXIT:
        if action == VIEW:
            user.channel_id = str(rng.choice(user.channel_ids))
            yield step("POST", f"{API}/channels/members/me/view", think_s, {"channel_id": user.channel_id})
        elif action == POSTS:
            query = "?page=1&per_page=60" if rng.random() < cls.page_back_probability else ""
            posts = yield step("GET", f"{API}/channels/{user.channel_id}/posts{query}", think_s)
            user.author_ids = sorted({p["user_id"] for p in posts.body["posts"].values()}) or user.author_ids
        elif action == USER:
            author = str(rng.choice(user.author_ids)) if user.author_ids else user.channel_id
            yield step("GET", f"{API}/users/{author}", think_s)
        elif action == CREATE_POST:
            message = f"message {int(rng.integers(1_000_000))} from {user.username}"
            yield step("POST", f"{API}/posts", think_s, {"channel_id": user.channel_id, "message": message})
        previous = action
        choices = cls.chain[previous]
        names = list(choices)
        action = names[int(rng.choice(len(names), p=np.array(list(choices.values()))))]
        think_s = cls.think[LOG_OUT if action == EXIT else action].draw(rng)
        if previous == VIEW:  # opening a channel loads its posts at once: the client's burst
            think_s = nav.draw(rng)
    yield step("POST", f"{API}/users/logout", think_s)
    user.token = None


def probe_script(start: float, end: float) -> Script:
    """A health checker: GET /system/ping every PROBE_INTERVAL_S, with no user and no session."""
    t = start
    while t < end:
        yield Step(method="GET", path=f"{API}/system/ping", at=t)
        t += PROBE_INTERVAL_S


# ----------------------------------------------------------------------------------------------- the plan
def plan_users(n: int, start: float, days: float, rng: np.random.Generator) -> list[ScriptedUser]:
    """Assign classes by share and draw each user's session starts from the hour-of-day profile."""
    weights = np.tile(hour_of_day_weights(), math.ceil(days))[: int(days * 24 * 60)]
    minute_p = weights / weights.sum()
    shares = np.array([c.share for c in CLASSES])
    users = []
    for i in range(n):
        cls = CLASSES[int(rng.choice(len(CLASSES), p=shares / shares.sum()))]
        k = 1 + int(rng.poisson(cls.extra_sessions_mean))
        minutes = rng.choice(len(minute_p), size=k, p=minute_p) + rng.random(k)
        starts = sorted(start + 60.0 * minutes)
        users.append(ScriptedUser(
            index=i, cls=cls, rng=np.random.default_rng(rng.integers(2**63)),
            session_starts=[float(s) for s in starts], password=new_key(rng),
        ))
    return users


# -------------------------------------------------------------------------------------------- the tracing
class SimClock:
    """Simulated wall clock, seconds since the epoch; the scheduler moves it forward."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.last_end = start

    @property
    def now_ns(self) -> int:
        return round(self.now * 1e9)


class SeededIds(IdGenerator):
    """Trace and span ids from a seeded generator, so the same seed gives the same dump."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def generate_span_id(self) -> int:
        return int.from_bytes(self.rng.bytes(8), "big") or 1

    def generate_trace_id(self) -> int:
        return int.from_bytes(self.rng.bytes(16), "big") or 1

    def is_trace_id_random(self) -> bool:
        return True


def tracing_middleware(provider: TracerProvider, clock: SimClock) -> Any:
    """A server span per request on the simulated clock, with the HTTP semantic-convention attributes."""
    tracer = provider.get_tracer("demo-chat.http", "1.0")

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        start_ns = clock.now_ns
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else None
        attributes: dict[str, Any] = {
            "http.request.method": request.method,
            "url.path": request.path,
            "http.response.status_code": response.status,
        }
        if route:
            attributes["http.route"] = route
        if request.query_string:
            attributes["url.query"] = request.query_string
        if (user_id := request.get(USER_ID_KEY)) is not None:
            attributes["enduser.id"] = user_id
        if (session := request.headers.get(SESSION_HEADER)) is not None:
            attributes["session.id"] = session
        if "User-Agent" in request.headers and session is None:
            attributes["user_agent.original"] = request.headers["User-Agent"]
        name = f"{request.method} {route}" if route else request.method
        span = tracer.start_span(name, kind=SpanKind.SERVER, start_time=start_ns, attributes=attributes)
        if response.status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        end_ns = start_ns + max(1, int(request.get(LATENCY_KEY, 0.0) * 1e9))
        span.end(end_time=end_ns)
        clock.last_end = end_ns / 1e9
        if isinstance(response, web.HTTPException):
            raise response
        return response

    return middleware


# ------------------------------------------------------------------------------------------------- the run
async def drive(scripts: list[Script], clock: SimClock, base_url: str) -> int:
    """Run every script, one request at a time, in simulated-time order. Returns the request count."""
    heap: list[tuple[float, int, int]] = []
    pending: dict[int, Step] = {}
    for i, script in enumerate(scripts):
        first = next(script)
        pending[i] = first
        heapq.heappush(heap, (first.at if first.at is not None else clock.now, i, i))
    sent = 0
    async with aiohttp.ClientSession(base_url) as http:
        while heap:
            due, _, i = heapq.heappop(heap)
            clock.now = due
            step = pending.pop(i)
            headers = {}
            if step.session:
                headers[SESSION_HEADER] = step.session
            else:
                headers["User-Agent"] = "kube-probe/1.31"
            if step.token:
                headers["Authorization"] = f"Bearer {step.token}"
            async with http.request(step.method, step.path, json=step.json, headers=headers) as resp:
                body = await resp.json() if resp.content_type == "application/json" else None
                reply = Reply(resp.status, body)
            sent += 1
            end = clock.last_end
            try:
                nxt = scripts[i].send(reply)
            except StopIteration:
                continue
            pending[i] = nxt
            heapq.heappush(heap, (max(end, nxt.at if nxt.at is not None else end + nxt.think_s), sent, i))
    return sent


async def generate(*, users: int, days: float, seed: int, start: datetime) -> tuple[bytes, dict[str, Any]]:
    """Produce the OTLP ExportTraceServiceRequest bytes and a summary of what was generated."""
    rng = np.random.default_rng(seed)
    clock = SimClock(start.timestamp())
    provider = TracerProvider(
        resource=Resource.create({
            "service.name": "demo-chat", "service.version": "1.0.0",
            "service.instance.id": "demo-chat-1", "deployment.environment.name": "demo",
        }),
        id_generator=SeededIds(np.random.default_rng(rng.integers(2**63))),
    )
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(latency_scale=0, seed=int(rng.integers(2**31)), clock=lambda: clock.now)
    app.middlewares.insert(0, tracing_middleware(provider, clock))

    population = plan_users(users, clock.now, days, rng)
    scripts = [user_script(u, clock) for u in population]
    scripts.append(probe_script(clock.now, clock.now + days * 86400))
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        requests = await drive(scripts, clock, str(server.make_url("/")))
    finally:
        await server.close()
    spans = exporter.get_finished_spans()
    payload = encode_spans(spans).SerializeToString()
    summary = {
        "users": users,
        "by_class": {c.name: sum(u.cls is c for u in population) for c in CLASSES},
        "sessions": sum(len(u.session_starts) for u in population),
        "requests": requests,
        "spans": len(spans),
        "bytes": len(payload),
    }
    return payload, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--users", type=int, default=130)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", default=DEFAULT_START, help="ISO time of the first simulated minute")
    args = parser.parse_args(argv)
    start = datetime.fromisoformat(args.start)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    payload, summary = asyncio.run(generate(users=args.users, days=args.days, seed=args.seed, start=start))
    tmp = args.out.with_name(f".{args.out.name}.partial")  # written whole, then renamed into place
    tmp.write_bytes(payload)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: " + ", ".join(f"{k}={v}" for k, v in summary.items()))
    if len(payload) > MAX_BYTES and args.out.resolve() == DEFAULT_OUT:
        print(f"warning: {len(payload)} bytes is over the 2 MB limit for committed dumps", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
