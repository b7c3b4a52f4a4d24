"""``tracereplay try``: one user plays one session against a target, and every step is shown.

Like Locust's ``run_single_user`` or k6's ``--http-debug``: a pack is debugged against a real server before
it is run at scale. Each request goes out as it would in a run (the same ``User``, pack, transport and
credentials), with no waits between actions, and is printed with its answer — status, time, the headers that
matter, a body excerpt — then what the user's store gained or lost (token, cookies, remembered ids, facts).

The session is one the model, script or behaviour samples for a fresh user; given only a pack, it is the
pack's actions in the order of its ``ACTIONS``. Nothing is written: ``try`` keeps no run directory.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tracereplay.replay.actions.pack import ActionPack, check_actions, load_pack
from tracereplay.replay.config import RunConfig
from tracereplay.replay.controllers.base import Step
from tracereplay.replay.events import RequestEvent, RequestHook
from tracereplay.replay.loadtester import make_transport
from tracereplay.replay.sources import from_spec
from tracereplay.replay.store import MemStore
from tracereplay.replay.transports.base import Request, Response, Transport
from tracereplay.replay.user import ActionTable, Halted, User

#: Response headers worth showing (others are noise for a pack author).
KEY_HEADERS = ("content-type", "location", "token", "set-cookie", "www-authenticate", "retry-after")
#: Characters of a body shown.
EXCERPT = 300


@dataclass
class TrialResult:
    """What the session did: its actions, requests and how many of those were errors."""

    actions: list[str]
    requests: int
    errors: int


def pack_spec(spec: str) -> bool:
    """A pack (a ``.py`` file or a module name), not a model, script or behaviour file."""
    return spec.endswith(".py") or (not Path(spec).exists() and Path(spec).suffix not in (".json", ".toml"))


def excerpt(body: bytes | str | None, limit: int = EXCERPT) -> str:
    """A body as one line of at most ``limit`` characters."""
    if body is None or body == b"":
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


class ShowingTransport:
    """Wraps a transport: prints every request and its answer through ``say``."""

    def __init__(self, inner: Transport, say: Callable[[str], None]) -> None:
        self.inner = inner
        self.say = say

    async def send(self, request: Request, *, timeout: float | None = None) -> Response:
        query = "&".join(f"{k}={v}" for k, v in (request.params or {}).items())
        sent = {k: v for k, v in (request.headers or {}).items()}
        if "Authorization" in sent:  # show that a token went, not the token
            sent["Authorization"] = sent["Authorization"].split(" ", 1)[0] + " …"
        self.say(f"  → {request.method} {request.path}{'?' + query if query else ''}")
        if sent:
            self.say(f"    headers {json.dumps(sent, ensure_ascii=False)}")
        if request.json is not None:
            self.say(f"    body {excerpt(json.dumps(request.json))}")
        started = time.monotonic()
        try:
            response = await (
                self.inner.send(request) if timeout is None else self.inner.send(request, timeout=timeout)
            )
        except Exception as exc:
            self.say(f"  ← no answer after {1e3 * (time.monotonic() - started):.1f} ms: {exc}")
            raise
        shown = {k: v for k, v in response.headers.items() if k.lower() in KEY_HEADERS}
        took_ms = 1e3 * (time.monotonic() - started)
        self.say(f"  ← {response.status} in {took_ms:.1f} ms, {response.size} bytes")
        if shown:
            self.say(f"    headers {json.dumps(shown)}")
        if response.body:
            self.say(f"    body {excerpt(response.body)}")
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def __aenter__(self) -> ShowingTransport:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.inner.__aexit__(*exc)


def store_state(store: MemStore) -> dict[str, Any]:
    """What a store holds, as plain data (for a before/after comparison)."""
    return {
        "token": store.token,
        "cookies": dict(store.cookies),
        **{f"values.{n}": list(store.values(n)) for n in store.names()},
        **{f"fact.{n}": v for n, v in store.facts().items()},
    }


def store_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """One line per change: ``+ values.room_id ['!a:x']``, ``~ token …``, ``- fact.since``."""
    lines = []
    for key in dict.fromkeys([*before, *after]):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key == "token":
            lines.append(f"  store ~ token {'set' if new else 'cleared'}")
        elif new is None or new == [] or new == {}:
            lines.append(f"  store - {key}")
        else:
            sign = "+" if old in (None, [], {}) else "~"
            lines.append(f"  store {sign} {key} {excerpt(json.dumps(new, default=str), 200)}")
    return lines


async def try_session(
    spec: str,
    *,
    target: str,
    actions: str | None = None,
    say: Callable[[str], None] = print,
    seed: int | None = None,
    timeout: float = 10.0,
    http: str = "fast",
) -> TrialResult:
    """Play one session of one user against ``target``, showing every request, answer and store change.

    ``spec`` is a model, script or behaviour file (with the pack ``actions``), or a pack alone."""
    config = RunConfig(
        target=target, users=1, duration=60.0, actions=actions, seed=seed, timeout=timeout, http=http
    ).validate()
    rng = np.random.default_rng(seed)
    if pack_spec(spec):
        pack = load_pack(spec)
        names = list(pack.actions)
        plan = iter([Step(name, session="try-u0-s0" if i == 0 else None) for i, name in enumerate(names)])
        next_step: Callable[[MemStore], Step | None] = lambda _store: next(plan, None)  # noqa: E731
    else:
        pack = load_pack(actions)
        source = from_spec(spec, config)
        check_actions(pack, source.actions, source=spec)
        if source.controllers is None:
            raise ValueError(f"{spec} gives no users to try")
        next_step = source.controllers("try-u0", rng).next_step  # it fills paths from the user's store
    return await _play(pack, next_step, config, rng, say)


async def _play(
    pack: ActionPack,
    next_step: Callable[[MemStore], Step | None],
    config: RunConfig,
    rng: np.random.Generator,
    say: Callable[[str], None],
) -> TrialResult:
    hook = RequestHook()
    events: list[RequestEvent] = []
    hook.add_listener(events.append)
    transport = ShowingTransport(make_transport(config, config.tls_context()), say)
    done: list[str] = []
    async with transport:
        store = MemStore()  # shown change by change: the in-memory store's own view
        user = User("try-u0", transport=transport, hook=hook, table=ActionTable(pack), rng=rng, store=store)
        before = store_state(store)
        if pack.on_start is not None:
            say("on_start")
            await user.start()
            before = _show_store(store, before, say)
        sessions = 0
        while len(done) < MAX_ACTIONS:
            step = next_step(store)
            if step is None:
                break
            if step.session is not None:
                sessions += 1
                if sessions > 1:
                    break  # one session: the next one would start here
                user.session = step.session
            wait = f" (after {step.wait_s:.3g}s of think time, not waited)" if step.wait_s else ""
            say(f"action {step.action}{wait}")
            seen = len(events)
            try:
                await user.perform(step.action, time.monotonic(), step.path)
            except Halted:
                break
            for event in events[seen:]:
                if event.path is None:  # nothing went out: say why
                    say(f"  ✗ not sent ({event.error_kind}): {event.error_detail}")
                elif event.error_kind is not None:
                    say(f"  ✗ recorded as {event.error_kind} under {event.action!r}")
                elif event.expected:
                    say(f"  ✓ {event.status} expected under {event.action!r}")
            before = _show_store(store, before, say)
            done.append(step.action)
    errors = sum(1 for e in events if e.error_kind is not None)
    say(f"done: {len(done)} actions, {len(events)} requests, {errors} errors")
    return TrialResult(done, len(events), errors)


#: A session longer than this is cut (a behaviour that loops, say).
MAX_ACTIONS = 200


def _show_store(store: MemStore, before: dict[str, Any], say: Callable[[str], None]) -> dict[str, Any]:
    after = store_state(store)
    for line in store_changes(before, after):
        say(line)
    return after
