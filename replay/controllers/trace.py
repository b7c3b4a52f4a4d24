"""``TraceController``: a recorded user replays its recorded sessions with their original timing.

:func:`plan_users` turns an event table into one :class:`UserPlan` per recorded user (vectorised over
events; one small object per user): when the user starts, and at what offset each action follows, after
``speed`` (2 = twice as fast) and ``max_gap`` (long idle gaps within a user shortened to at most this).
``sample`` keeps a consistent fraction of whole users (by a stable hash of the user key, so the same users
are kept on every run); ``shard`` keeps one worker's share, by the same hash.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tracereplay.replay.controllers.base import Step
from tracereplay.replay.controllers.paths import PathChooser
from tracereplay.replay.store import UserStore


@dataclass(frozen=True, slots=True)
class UserPlan:
    """One recorded user: start (s from the trace start) and its actions at offsets from that start."""

    user: str
    start_s: float
    offsets_s: np.ndarray  # float, non-decreasing, first is 0
    actions: tuple[str, ...]
    paths: tuple[str | None, ...]
    sessions: tuple[str, ...]


def user_fraction(users: pd.Series | np.ndarray) -> np.ndarray:
    """A stable number in [0, 1) per user key (the same on every run and machine)."""
    # pandas.util provides hash_array through a lazy module __getattr__ typed as returning object, which
    # pyright cannot follow (the function itself is typed: uint64 per element)
    hashed: np.ndarray = pd.util.hash_array(np.asarray(users, dtype=object))  # pyright: ignore[reportAttributeAccessIssue]
    return (hashed >> np.uint64(11)).astype(np.float64) / float(2**53)


def plan_users(
    events: pd.DataFrame,
    *,
    speed: float = 1.0,
    max_gap_s: float | None = None,
    sample: float = 1.0,
    shard: tuple[int, int] = (0, 1),
) -> tuple[list[UserPlan], float]:
    """The replay plan of an event table: (users sorted by start, the span of the whole replay in s)."""
    if events.empty:
        return [], 0.0
    frame = events.loc[:, ["ts", "user", "session", "action", *(["path"] if "path" in events else [])]]
    fraction = user_fraction(frame["user"].to_numpy())
    index, count = shard
    keep = fraction < sample
    if count > 1:
        keep &= (fraction * 1_000_003).astype(np.int64) % count == index
    frame = frame.loc[keep].sort_values(["user", "ts"], kind="stable")
    origin = events["ts"].min()
    span = (events["ts"].max() - origin).total_seconds() / speed
    if frame.empty:
        return [], span
    ts = (frame["ts"] - origin).dt.total_seconds().to_numpy()
    users = frame["user"].to_numpy(dtype=object)
    new_user = np.r_[True, users[1:] != users[:-1]]
    gaps = np.diff(ts, prepend=ts[0])
    gaps[new_user] = 0.0
    if max_gap_s is not None:
        gaps = np.minimum(gaps, max_gap_s)
    offsets = _cumsum_per_group(gaps, new_user) / speed
    starts = ts[new_user] / speed
    bounds = np.r_[np.flatnonzero(new_user), len(ts)]
    actions = frame["action"].to_numpy(dtype=object)
    paths = frame["path"].to_numpy(dtype=object) if "path" in frame else np.full(len(ts), None, object)
    paths[pd.isna(paths)] = None  # NaN or pd.NA from a missing path: the controller reads None
    sessions = frame["session"].to_numpy(dtype=object)
    plans = [
        UserPlan(
            user=str(users[a]),
            start_s=float(starts[i]),
            offsets_s=offsets[a:b],
            actions=tuple(actions[a:b]),
            paths=tuple(paths[a:b]),
            sessions=tuple(sessions[a:b]),
        )
        for i, (a, b) in enumerate(itertools.pairwise(bounds))
    ]
    plans.sort(key=lambda p: p.start_s)
    return plans, max(span, max(p.start_s + float(p.offsets_s[-1]) for p in plans))


def _cumsum_per_group(values: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    total = np.cumsum(values)
    starts = np.flatnonzero(group_start)
    base = np.repeat(total[starts] - values[starts], np.diff(np.r_[starts, len(values)]))
    return total - base


class TraceController:
    """Replays one :class:`UserPlan`; with ``loop_s`` it starts over every ``loop_s`` seconds.

    A recorded path names production's ids, which the target may not know: route parameters are filled from
    what the user learnt in this replay first (``paths``), and the recorded path is the fallback.
    """

    def __init__(
        self,
        plan: UserPlan,
        *,
        loop_s: float | None = None,
        rng: np.random.Generator | None = None,
        paths: PathChooser | None = None,
    ) -> None:
        self.plan = plan
        self.loop_s = loop_s
        self.rng = rng if rng is not None else np.random.default_rng()
        self.paths = paths or PathChooser()
        self._i = 0
        self._round = 0
        self._session: str | None = None

    def next_step(self, store: UserStore) -> Step | None:
        plan = self.plan
        if self._i == len(plan.actions):
            if not self.loop_s:
                return None
            self._i = 0
            self._round += 1
            self._session = None
        i = self._i
        self._i += 1
        session = plan.sessions[i] if not self._round else f"{plan.sessions[i]}~{self._round}"
        new_session = session if session != self._session else None
        self._session = session
        at = float(plan.offsets_s[i]) + self._round * (self.loop_s or 0.0)
        action = plan.actions[i]
        path = self.paths.path(action, store, self.rng, recorded=plan.paths[i])
        return Step(action, at_s=at, session=new_session, path=path)
