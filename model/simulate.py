"""Offline simulation: sample users, sessions and actions from a model into an event table, vectorised.

Every step works on all users or sessions at once: class and sessions per user by ``searchsorted`` on
cumulative tables, the Markov chains of every session stepped together (one ``searchsorted`` per step
over the sessions still running), think times, server durations, gaps and first-session offsets drawn
from compiled inverse-CDF tables. The same seed gives the same table.

Timeline: each user's first session starts at ``start`` plus an offset drawn from the fitted hourly
arrival profile over the span in which the reference's users started (``source.first_sessions_span_s``);
each later session starts a fitted gap after the previous one ended. Inside a session, each action starts
a think time after the previous one ended (``ts + duration``), as the event-table contract defines.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tracereplay.checked import to_datetime
from tracereplay.errors import ConfigError
from tracereplay.model.distributions import sample_tables
from tracereplay.model.prepare import NS_PER_S

if TYPE_CHECKING:
    from tracereplay.model.behaviour import BehaviourModel
    from tracereplay.model.sampler import CompiledModel

HOUR_NS = 3600 * NS_PER_S


def simulate(model: BehaviourModel, users: int, *, seed: int | None = 0,
             start: str | dt.datetime | pd.Timestamp | None = None) -> pd.DataFrame:
    """Sample ``users`` users from ``model`` into an event table (``source`` = ``"simulate"``).

    ``start`` (UTC if naive) defaults to the start of the data the model was fitted from.

    >>> synthetic = simulate(model, users=1000, seed=1)          # doctest: +SKIP
    """
    if users < 1:
        raise ConfigError(f"users must be at least 1 (got {users})")
    rng = np.random.default_rng(seed)
    c = model.compiled
    origin = _origin(model, start)

    user_class = _pick(c.class_cum, rng.random(users))
    n_sessions = np.empty(users, dtype=np.int64)
    for k in range(c.n_classes):
        mine = np.flatnonzero(user_class == k)
        n_sessions[mine] = c.spu_values[k][_pick(c.spu_cum[k], rng.random(len(mine)))]
    session_user = np.repeat(np.arange(users), n_sessions)
    gap_class = user_class[session_user]                       # gaps and users follow the user's class
    session_class = c.session_classes(gap_class, rng)           # the chain, the session's own class

    session, action, step = _walk(c, session_class, rng)
    length = np.bincount(session, minlength=len(session_class))
    offsets = np.r_[0, np.cumsum(length)[:-1]]
    order = np.empty(len(session), dtype=np.int64)
    order[offsets[session] + step] = np.arange(len(session))     # events by session, then step
    session, action, step = session[order], action[order], step[order]
    event_class = session_class[session]

    think = np.zeros(len(action))
    later = np.flatnonzero(step > 0)
    rows = c.think_rows(event_class[later], action[later - 1], action[later])
    session_z = rng.standard_normal(len(session_class))           # each session's tempo (model/shape.py)
    u = c.think_uniforms(event_class[later], length[session[later]], session_z[session[later]],
                         rng.standard_normal(len(later)), session[later], rows)
    think[later] = sample_tables(c.tables, rows, u)
    duration = sample_tables(c.tables, c.duration_rows[action], rng.random(len(action)))
    known = np.array([s.duration is not None for s in model.action_stats])[action]

    # Offsets inside each session: start of event i = start of i-1 + its duration + think before i.
    advance = np.zeros(len(action))
    advance[1:] = duration[:-1] + think[1:]
    advance[step == 0] = 0.0
    within = np.cumsum(advance)
    within -= np.repeat(within[offsets[length > 0]], length[length > 0])
    session_span = np.zeros(len(session_class))
    last = offsets[length > 0] + length[length > 0] - 1
    session_span[length > 0] = within[last] + duration[last]

    session_start = _session_starts(model, c, origin, session_user, gap_class, session_span, users, rng)
    ts = session_start[session] + (within * NS_PER_S).astype(np.int64)
    if model.time_resolution_s > 0:          # the source's clock: whole seconds in a web log
        step_ns = round(model.time_resolution_s * NS_PER_S)
        ts -= ts % step_ns
    error = rng.random(len(action)) < c.error_rate[action]
    frame = _frame(model, rng, ts, session_user[session], session, action, np.where(known, duration * 1000.0,
                   np.nan), error, users, n_sessions, seed)
    # Built sorted by time with the contract's exact dtypes and column order, so ingest.events.conform
    # would change nothing (tests/model/test_simulate.py checks that) — skipping it saves a sort and copies.
    return frame


def _origin(model: BehaviourModel, start: str | dt.datetime | pd.Timestamp | None) -> int:
    when = start if start is not None else model.source.get("start", "2026-01-01T00:00:00+00:00")
    try:
        stamp = pd.Timestamp(when)
    except (ValueError, TypeError):
        raise ConfigError(f"cannot read start time {when!r} (use e.g. 2026-01-05T09:00:00Z)") from None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value)


def _pick(cumulative: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cumulative, u, side="right"), len(cumulative) - 1)


def _walk(c: CompiledModel, session_class: np.ndarray, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step every session's chain together; return (session, action, step) per event, in step order."""
    a = c.n_actions
    current = np.full(len(session_class), a, dtype=np.int64)      # START
    active = np.arange(len(session_class))
    shaped = c.shaped[session_class]          # exit with a per-step shift (model/shape.py), else the chain's
    sessions, actions, steps = [], [], []
    for step in range(c.max_session_actions):
        if len(active) == 0:
            break
        u = rng.random(len(active))
        cls, state = session_class[active], current[active]
        nxt = c.step(cls, state, u)
        fixed = shaped[active]
        if fixed.any():
            drawn = c.step(cls[fixed], state[fixed], rng.random(int(fixed.sum())), go=True)
            if step > 0:
                ends = u[fixed] < c.exit_probability(cls[fixed], state[fixed], step)
                drawn[ends] = a
            nxt[fixed] = drawn
        going = nxt != a
        active, nxt = active[going], nxt[going]
        current[active] = nxt
        sessions.append(active)
        actions.append(nxt)
        steps.append(np.full(len(active), step, dtype=np.int64))
    if not sessions:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    return np.concatenate(sessions), np.concatenate(actions).astype(np.int64), np.concatenate(steps)


def _session_starts(model: BehaviourModel, c: CompiledModel, origin: int, session_user: np.ndarray,
                    session_class: np.ndarray, session_span: np.ndarray, users: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Start (ns) of every session: first ones from the arrival profile, the others a gap after the last."""
    span_s = max(float(model.source.get("first_sessions_span_s", model.source.get("span_s", 86400.0))), 0.0)
    slots = max(int(np.ceil(span_s / 3600.0)), 1)
    slot_start = origin + np.arange(slots, dtype=np.int64) * HOUR_NS
    # The last hour slot may be partial (and a window under an hour is one partial slot): weight each
    # slot by rate × its length and draw uniformly inside it.
    slot_len = np.clip(span_s - np.arange(slots) * 3600.0, 0.0, 3600.0)
    rates = np.array([model.arrivals.rate[model.arrivals.bin_of(to_datetime(pd.Timestamp(t + HOUR_NS // 2,
                      tz="UTC").to_pydatetime()))] for t in slot_start])
    weights = rates * slot_len
    if weights.sum() <= 0:
        weights = np.maximum(slot_len, 1e-9)
    cum = np.cumsum(weights)
    slot = _pick(cum / cum[-1], rng.random(users))
    first_offset_s = slot * 3600.0 + rng.random(users) * slot_len[slot]

    first = np.r_[True, session_user[1:] != session_user[:-1]]
    u = rng.random(len(session_user))
    start_s = np.where(first, first_offset_s[session_user], 0.0)     # seconds after origin
    # Later sessions in waves: the n-th session of every user that has one, from the (n-1)-th's end.
    # The gap is not additive on the wall clock (see CompiledModel.next_session_starts), so no cumsum;
    # there are as many waves as sessions of the busiest user, each one vectorised over users.
    first_at = np.flatnonzero(first)
    rank = np.arange(len(session_user)) - np.repeat(first_at, np.diff(np.r_[first_at, len(first)]))
    later = np.flatnonzero(~first)
    later = later[np.argsort(rank[later], kind="stable")]
    bounds = np.searchsorted(rank[later], np.arange(1, int(rank.max(initial=0)) + 2))
    origin_s = origin / NS_PER_S
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        now = later[lo:hi]
        end = origin_s + start_s[now - 1] + session_span[now - 1]
        start_s[now] = c.next_session_starts(session_class[now], end, u[now]) - origin_s
    return origin + (start_s * NS_PER_S).astype(np.int64)


def _frame(model: BehaviourModel, rng: np.random.Generator, ts: np.ndarray, user: np.ndarray,
           session: np.ndarray, action: np.ndarray, duration_ms: np.ndarray, error: np.ndarray, users: int,
           n_sessions: np.ndarray, seed: int | None) -> pd.DataFrame:
    """The event table, sorted by time, string columns built in Arrow from small dictionaries."""
    # A stable sort: the events come by session and step, and a source with whole-second timestamps
    # gives many same-second requests of one session (a page and its images); an unstable sort shuffled
    # them, so a page came after its own images (transitions 2.2× their floor on such a log).
    order = np.argsort(ts, kind="stable")
    ts, user, session, action = ts[order], user[order], session[order], action[order]
    duration_ms, error = duration_ms[order], error[order]
    stats = model.action_stats
    tag = f"sim{seed}" if seed is not None else "sim"
    # by name: pyarrow generates its compute functions at import, which a type checker cannot see
    user_keys = pc.call_function(
        "binary_join_element_wise", [f"{tag}-u", pc.cast(pa.array(np.arange(users)), pa.string()), ""]
    )
    # Session keys "<user>-s<k>", joined in Arrow: a Python f-string per session would dominate the run.
    first = np.r_[0, np.cumsum(n_sessions)[:-1]]
    nth = np.arange(int(n_sessions.sum())) - np.repeat(first, n_sessions)
    session_keys = pc.call_function("binary_join_element_wise", [
        pc.take(user_keys, pa.array(np.repeat(np.arange(users), n_sessions))),
        pc.cast(pa.array(nth), pa.string()), "-s"])
    ok = np.array([np.nan if s.ok_status is None else s.ok_status for s in stats])
    bad = np.array([np.nan if s.error_status is None else s.error_status for s in stats])
    has_http = np.array([s.method is not None for s in stats])
    bad = np.where(np.isnan(bad) & has_http, 500.0, bad)
    status = np.where(error, bad[action], ok[action])
    path_codes, path_values = _paths(stats, action, rng)
    return pd.DataFrame({
        "ts": pd.Series(ts.view("datetime64[ns]")).dt.tz_localize("UTC"),
        "user": _strings(user_keys, user),
        "session": _strings(session_keys, session),
        "action": _strings(model.actions, action),
        "method": _strings([s.method for s in stats], action),
        "route": _strings([s.route for s in stats], action),
        "path": _strings(path_values, path_codes),
        "status": pd.arrays.IntegerArray(np.where(np.isnan(status), 0, status).astype(np.int64),
                                         np.isnan(status)),
        "duration_ms": duration_ms,
        "error": error,
        "source": pd.arrays.ArrowStringArray(pa.repeat(pa.scalar("simulate", pa.string()), len(ts))),
    })


def _strings(values: list[str | None] | pa.Array, codes: np.ndarray) -> pd.arrays.ArrowStringArray:
    """``values[codes]`` as a pandas string array (code -1 or a None value → NA), without Python objects."""
    dictionary = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    missing = codes < 0
    indices = pa.array(codes.astype(np.int32), mask=missing if missing.any() else None)
    return pd.arrays.ArrowStringArray(pc.take(dictionary, indices))


def _paths(stats: list, action: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Per event, a code into the paths kept for its action, drawn uniformly (-1 where it has none)."""
    flat = [p for s in stats for p in s.paths]
    count = np.array([len(s.paths) for s in stats], dtype=np.int64)
    offset = np.r_[0, np.cumsum(count)[:-1]]
    pick = (rng.random(len(action)) * count[action]).astype(np.int64)
    return np.where(count[action] > 0, offset[action] + pick, -1), flat
