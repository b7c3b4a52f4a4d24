"""The event table reshaped for fitting and measuring: integer codes, sessions contiguous, think times.

Everything here is vectorised over events. Sessions are identified by the pair (user, session key) so a
session key reused by two users never merges their sessions. Think time follows the contract in
``ingest/events.py``: the gap from the end of one action (``ts + duration_ms``) to the start of the next
within a session; gaps longer than the session gap are not think time (NaN here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tracereplay.checked import series

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, kw_only=True)
class SessionArrays:
    """Events sorted by session then time, with per-event and per-session arrays (codes, not strings)."""

    actions: list[str]              # action name of each code
    action: np.ndarray              # int32 code per event
    session: np.ndarray             # int64 session index per event, 0..n_sessions-1, contiguous
    first: np.ndarray               # bool: the event starts its session
    ts_ns: np.ndarray               # int64 start of each event
    duration_s: np.ndarray          # float64 server duration (NaN where unknown)
    think_s: np.ndarray             # float64 think before the event; NaN at session start or over the gap
    session_user: np.ndarray        # int64 user index per session
    session_start_ns: np.ndarray    # int64 per session
    session_end_ns: np.ndarray      # int64 per session: last event's start + its duration
    session_length: np.ndarray      # int64 events per session
    n_users: int

    @property
    def n_sessions(self) -> int:
        return len(self.session_start_ns)

    @property
    def previous_action(self) -> np.ndarray:
        """Action code of the event before each event in its session (-1 at a session start)."""
        prev = np.empty_like(self.action)
        prev[0:1] = -1
        prev[1:] = self.action[:-1]
        prev[self.first] = -1
        return prev

    @property
    def last(self) -> np.ndarray:
        """bool: the event ends its session."""
        last = np.empty_like(self.first)
        last[:-1] = self.first[1:]
        last[-1:] = True
        return last

    def sessions_per_user(self) -> np.ndarray:
        """Number of sessions of each user (users with no session are not counted)."""
        counts = np.bincount(self.session_user, minlength=self.n_users)
        return counts[counts > 0]

    def session_gaps_s(self) -> np.ndarray:
        """Seconds from the end of a user's session to the start of that user's next session."""
        end, start = self.session_gap_bounds_ns()
        return (start - end) / NS_PER_S

    def session_gap_bounds_ns(self) -> tuple[np.ndarray, np.ndarray]:
        """(end of a session, start of the same user's next one) for every such pair, by user then time."""
        order = np.lexsort((self.session_start_ns, self.session_user))
        user = self.session_user[order]
        same = user[1:] == user[:-1]
        return self.session_end_ns[order][:-1][same], self.session_start_ns[order][1:][same]


def session_arrays(events: pd.DataFrame, *, session_gap_s: float) -> SessionArrays:
    """Reshape an event table (``ingest.events`` columns) into :class:`SessionArrays`."""
    if len(events) == 0:
        raise ValueError("the event table has no rows")
    user_code, _ = pd.factorize(events["user"], use_na_sentinel=False)
    key_code, _ = pd.factorize(events["session"], use_na_sentinel=False)
    pair = user_code.astype(np.int64) * (int(key_code.max()) + 1) + key_code
    session_code, _ = pd.factorize(pair)
    action_code, action_names = pd.factorize(events["action"], use_na_sentinel=False)
    ts_ns = _as_ns(series(events["ts"]))
    order = np.lexsort((ts_ns, session_code))

    session = session_code[order]
    first = np.empty(len(order), dtype=bool)
    first[0] = True
    first[1:] = session[1:] != session[:-1]
    # Renumber sessions 0..S-1 in sorted order so per-session arrays index directly.
    session = np.cumsum(first) - 1
    ts = ts_ns[order]
    duration = (
        _as_float(series(events["duration_ms"]))[order] / 1000.0
        if "duration_ms" in events
        else np.full(len(order), np.nan)
    )
    end = ts + np.nan_to_num(duration, nan=0.0) * NS_PER_S
    think = np.full(len(order), np.nan)
    think[1:] = (ts[1:] - end[:-1]) / NS_PER_S
    think[first] = np.nan
    think[think > session_gap_s] = np.nan

    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(order)] - 1
    return SessionArrays(
        actions=[str(a) for a in action_names],
        action=action_code[order].astype(np.int32),
        session=session.astype(np.int64),
        first=first,
        ts_ns=ts,
        duration_s=duration,
        think_s=think,
        session_user=user_code[order][starts].astype(np.int64),
        session_start_ns=ts[starts],
        session_end_ns=end[ends].astype(np.int64),
        session_length=(ends - starts + 1).astype(np.int64),
        n_users=int(user_code.max()) + 1,
    )


def _as_ns(column: pd.Series) -> np.ndarray:
    stamps = pd.to_datetime(column, utc=True)
    return stamps.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").to_numpy(dtype="datetime64[ns]").view(
        np.int64
    )


def _as_float(column: pd.Series) -> np.ndarray:
    return series(pd.to_numeric(column, errors="coerce")).to_numpy(dtype=np.float64, na_value=np.nan)
