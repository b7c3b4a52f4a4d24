"""Generated populations with known laws: the ground truth the model tests fit against.

Each class is a Markov chain over actions with an EXIT, a lognormal think law per action before (its
median scaled per class), a sessions-per-user law and a lognormal gap between sessions. Users keep
their class across sessions. Arrivals follow a day/night profile.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

EXIT = "exit"
LOGIN, CHANNELS, POSTS, CREATE, SEARCH, PROFILE = (
    "POST /api/login", "GET /api/channels", "GET /api/channels/{id}/posts", "POST /api/posts",
    "GET /api/search", "GET /api/users/{id}",
)


@dataclass(frozen=True, kw_only=True)
class ClassSpec:
    share: float
    start: dict[str, float]
    chain: dict[str, dict[str, float]]          # from → {to or EXIT: p}
    think_median_s: dict[str, float]            # per action before
    think_sigma: float = 0.6
    sessions_mean: float = 3.0                  # 1 + Poisson(mean - 1)
    gap_median_s: float = 23.5 * 3600.0    # about a day later, so each user keeps its hour of day
    gap_sigma: float = 0.05
    # Multi-day returns instead of the lognormal gap: the next session comes 1 + Poisson(mean - 1) days
    # later at an hour drawn afresh from the day's profile, or (same_day_share) a few hours later.
    return_days_mean: float | None = None
    same_day_share: float = 0.0
    durations_ms: dict[str, float] = field(default_factory=dict)


READER = ClassSpec(
    share=0.7,
    start={LOGIN: 1.0},
    chain={
        LOGIN: {CHANNELS: 1.0},
        CHANNELS: {POSTS: 0.85, SEARCH: 0.05, EXIT: 0.10},
        POSTS: {POSTS: 0.55, CHANNELS: 0.25, PROFILE: 0.05, EXIT: 0.15},
        SEARCH: {POSTS: 0.7, EXIT: 0.3},
        PROFILE: {POSTS: 0.8, EXIT: 0.2},
    },
    think_median_s={LOGIN: 2.0, CHANNELS: 6.0, POSTS: 20.0, SEARCH: 8.0, PROFILE: 10.0},
    sessions_mean=3.0,
)

POSTER = ClassSpec(
    share=0.3,
    start={LOGIN: 1.0},
    chain={
        LOGIN: {CHANNELS: 1.0},
        CHANNELS: {POSTS: 0.9, EXIT: 0.1},
        POSTS: {CREATE: 0.6, POSTS: 0.1, CHANNELS: 0.1, EXIT: 0.2},
        CREATE: {POSTS: 0.5, CREATE: 0.3, EXIT: 0.2},
    },
    think_median_s={LOGIN: 1.0, CHANNELS: 1.5, POSTS: 3.0, CREATE: 2.0},
    think_sigma=0.5,
    sessions_mean=5.0,
)

SINGLE = ClassSpec(
    share=1.0,
    start={LOGIN: 0.6, CHANNELS: 0.4},
    chain={
        LOGIN: {CHANNELS: 0.9, EXIT: 0.1},
        CHANNELS: {POSTS: 0.7, SEARCH: 0.2, EXIT: 0.1},
        POSTS: {POSTS: 0.4, CREATE: 0.2, CHANNELS: 0.2, EXIT: 0.2},
        CREATE: {POSTS: 0.7, EXIT: 0.3},
        SEARCH: {POSTS: 0.6, SEARCH: 0.2, EXIT: 0.2},
    },
    think_median_s={LOGIN: 1.5, CHANNELS: 4.0, POSTS: 9.0, CREATE: 3.0, SEARCH: 5.0},
    sessions_mean=2.5,
)

RARE_ACTIONS = ("GET /api/admin/stats", "DELETE /api/posts/{id}", "GET /api/export")


def rare_spec() -> ClassSpec:
    """SINGLE with three actions each taken in well under 1 % of steps."""
    chain = {k: dict(v) for k, v in SINGLE.chain.items()}
    chain[POSTS] = {POSTS: 0.39, CREATE: 0.2, CHANNELS: 0.2, EXIT: 0.2, RARE_ACTIONS[0]: 0.004,
                    RARE_ACTIONS[1]: 0.004, RARE_ACTIONS[2]: 0.002}
    for rare in RARE_ACTIONS:
        chain[rare] = {POSTS: 0.5, EXIT: 0.5}
    medians = dict(SINGLE.think_median_s) | {r: 6.0 for r in RARE_ACTIONS}
    return ClassSpec(share=1.0, start=SINGLE.start, chain=chain, think_median_s=medians, sessions_mean=2.5)


_HOURLY = np.array([0.3] * 7 + [1.0] * 3 + [1.6] * 8 + [1.0] * 3 + [0.5] * 3)   # 24 bins, day heavy
# A strong diurnal cycle: nights almost empty, a morning and an evening peak (ratio ~40:1).
DIURNAL = np.array([0.05] * 6 + [0.3, 0.8] + [1.5] * 4 + [1.0] * 2 + [1.5] * 4 + [2.0] * 3 + [0.6, 0.2, 0.1])


def generate(specs: list[ClassSpec], *, users: int, seed: int, days: float = 3.0,
             start: str = "2026-01-05T00:00:00Z", switching: list[list[float]] | None = None,
             hourly: np.ndarray = _HOURLY) -> tuple[pd.DataFrame, np.ndarray]:
    """An event table of ``users`` users and the true class of each user (index into ``specs``).

    With ``switching``, users switch kinds: each session of a user of class ``u`` follows the chain of
    ``specs[k]`` with probability ``switching[u][k]`` (sessions per user still come from ``specs[u]``).

    A per-event loop is fine for test-sized populations; it uses a seeded :class:`random.Random`
    because its scalar draws are ~20× cheaper than numpy's.
    """
    rng = random.Random(seed)
    shares = np.array([s.share for s in specs])
    cum_shares = (np.cumsum(shares) / shares.sum()).tolist()
    user_class = np.array([bisect.bisect_right(cum_shares, rng.random()) for _ in range(users)])
    user_class = np.minimum(user_class, len(specs) - 1)
    origin = pd.Timestamp(start).value
    hours = int(days * 24)
    hour_weights = np.tile(hourly, int(np.ceil(hours / 24)))[:hours]
    cum_hours = (np.cumsum(hour_weights) / hour_weights.sum()).tolist()
    cum_day = (np.cumsum(hourly) / np.sum(hourly)).tolist()
    compiled = [_Compiled(spec) for spec in specs]
    mixes = None if switching is None else [(np.cumsum(row) / np.sum(row)).tolist() for row in switching]
    rows: dict[str, list] = {k: [] for k in ("ts", "user", "session", "action", "duration_ms", "error")}
    for u in range(users):
        spec = compiled[user_class[u]]
        hour = min(bisect.bisect_right(cum_hours, rng.random()), hours - 1)
        t = origin + int((hour + rng.random()) * 3600e9)
        sessions = 1 + _poisson(rng, spec.spec.sessions_mean - 1)
        for s in range(sessions):
            kind = spec
            if mixes is not None:
                drawn = bisect.bisect_right(mixes[user_class[u]], rng.random())
                kind = compiled[min(drawn, len(specs) - 1)]
            t = _session(kind, rng, t, f"user-{u}", f"user-{u}-s{s}", rows)
            t = _next_start(spec.spec, rng, t, origin, cum_day)
    events = pd.DataFrame(rows)
    events["ts"] = pd.to_datetime(events["ts"], utc=True)
    events["method"] = events["action"].str.split(" ").str[0]
    events["route"] = events["action"].str.split(" ").str[1]
    events["path"] = events["route"].str.replace("{id}", "42", regex=False)
    events["status"] = np.where(events["error"], 500, 200)
    events["source"] = "generated"
    return events, user_class


def _next_start(spec: ClassSpec, rng: random.Random, end: int, origin: int, cum_day: list[float]) -> int:
    if spec.return_days_mean is None:
        return end + int(rng.lognormvariate(np.log(spec.gap_median_s), spec.gap_sigma) * 1e9)
    if rng.random() < spec.same_day_share:
        return end + int(rng.lognormvariate(np.log(2 * 3600.0), 0.5) * 1e9)
    day_ns = 86400 * 10**9
    day = (end - origin) // day_ns + 1 + _poisson(rng, spec.return_days_mean - 1)
    hour = min(bisect.bisect_right(cum_day, rng.random()), 23)
    return origin + day * day_ns + int((hour + rng.random()) * 3600e9)


class _Compiled:
    def __init__(self, spec: ClassSpec) -> None:
        self.spec = spec
        self.start = _table(spec.start)
        self.chain = {k: _table(v) for k, v in spec.chain.items()}
        self.think_mu = {k: float(np.log(v)) for k, v in spec.think_median_s.items()}


def _table(weights: dict[str, float]) -> tuple[list[str], list[float]]:
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    return names, (np.cumsum(p) / p.sum()).tolist()


def _pick(table: tuple[list[str], list[float]], rng: random.Random) -> str:
    names, cum = table
    return names[min(bisect.bisect_right(cum, rng.random()), len(names) - 1)]


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for the small means used here.
    limit, k, p = np.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _session(spec: _Compiled, rng: random.Random, t: int, user: str, session: str,
             rows: dict[str, list]) -> int:
    action = _pick(spec.start, rng)
    durations = spec.spec.durations_ms
    while True:
        duration = rng.lognormvariate(np.log(durations.get(action, 20.0)), 0.4)
        rows["ts"].append(t)
        rows["user"].append(user)
        rows["session"].append(session)
        rows["action"].append(action)
        rows["duration_ms"].append(duration)
        rows["error"].append(rng.random() < 0.02)
        t += int(duration * 1e6)
        nxt = _pick(spec.chain[action], rng)
        if nxt == EXIT:
            return t
        t += int(rng.lognormvariate(spec.think_mu[action], spec.spec.think_sigma) * 1e9)
        action = nxt


def web_log_1995(*, users: int, seed: int, pages: int = 1000) -> pd.DataFrame:
    """A day of a 1995-style web server log (the NASA-KSC kind): ~1,000 pages of Zipf popularity, each
    page followed by its inline images (a few site-wide logos and its own), fetched one after another at
    the speed of the user's line (whole seconds, often the same one); a quarter of the users have a text
    browser or a warm cache and fetch pages only; reading times per user, up to the 30-minute session gap;
    next pages mostly by the page's links. Users are client hosts; sessions split at 30 minutes.
    """
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, pages + 1) ** 1.1
    popularity /= popularity.sum()
    logos = [f"/images/logo-{i}.gif" for i in range(8)]
    inline = [[f"/pages/p{p}/img{j}.gif" for j in range(int(rng.integers(0, 2)))]
              + list(rng.choice(logos, size=int(rng.choice(7, p=[.25, .15, .15, .15, .12, .1, .08])),
                                replace=False)) for p in range(pages)]
    links = rng.choice(pages, size=(pages, 6), p=popularity)
    rows: list[tuple[int, int, str]] = []
    for u in range(users):
        t = int(rng.uniform(0, 15 * 3600))
        line_s = rng.lognormal(0.3, 0.8)                # seconds per image on this user's line
        reading_s = rng.lognormal(3.3, 0.9)             # this user's median reading time
        text_only = rng.random() < 0.25
        page = int(rng.choice(pages, p=popularity))
        for _ in range(int(rng.geometric(0.35))):
            rows.append((t, u, f"GET /pages/p{page}.html"))
            for image in [] if text_only else inline[page]:
                t += int(rng.exponential(line_s))
                rows.append((t, u, f"GET {image}"))
            t += int(min(rng.lognormal(np.log(reading_s), 1.0), 1700.0))
            page = int(rng.choice(links[page]) if rng.random() < 0.8 else rng.choice(pages, p=popularity))
    ts, user, action = (np.asarray(v) for v in zip(*rows, strict=True))
    order = np.lexsort((ts, user))
    new = np.r_[True, (user[order][1:] != user[order][:-1]) | (np.diff(ts[order]) > 1800)]
    session = np.empty(len(ts), dtype=np.int64)
    session[order] = np.cumsum(new)
    route = np.char.partition(action.astype(str), " ")[:, 2]
    return pd.DataFrame({
        "ts": pd.to_datetime((ts + 807_249_600) * 10**9, utc=True),     # 1995-08-01 04:00 UTC
        "user": [f"host-{v}" for v in user], "session": [f"s{v}" for v in session],
        "action": action, "method": "GET", "route": route, "path": route, "status": 200,
        "duration_ms": np.nan, "error": False, "source": "generated",
    })
