"""Sessions: an explicit session id wins; otherwise a new session starts after an inactivity gap.

The gap is measured from the end of a user's previous action (start + duration) to the start of the next,
the same rule the model uses for think time: a gap longer than the session gap is not think time.
Everything is vectorised over rows; users and sessions are integer codes here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracereplay.ingest.raw import factorize


@dataclass(frozen=True)
class Sessions:
    """Session assignment of every row, and what each session is."""

    #: session number of each row (0..count-1)
    row_session: np.ndarray
    #: per session: the user code
    user: np.ndarray
    #: per session: the explicit session code, or -1 for a gap-split session
    explicit: np.ndarray
    #: per session: 1-based ordinal among the user's gap-split sessions (0 for explicit ones)
    ordinal: np.ndarray

    @property
    def count(self) -> int:
        return len(self.user)


def assign_sessions(user: np.ndarray, ts: np.ndarray, end: np.ndarray, explicit: np.ndarray,
                    gap_ns: int) -> Sessions:
    """Assign sessions. ``user``/``explicit`` are int codes (explicit -1 = none), ``ts``/``end`` int64 ns."""
    n = len(user)
    row_session = np.empty(n, dtype=np.int32)
    has_explicit = explicit >= 0
    ex_rows = slice(None) if has_explicit.all() else np.flatnonzero(has_explicit)
    ex_user, ex_session, row_session[ex_rows] = _explicit_sessions(user[ex_rows], explicit[ex_rows])
    n_explicit = len(ex_user)

    # gap sessions: sort each user's remaining rows by time, split where the idle time exceeds the gap
    gap_rows = np.flatnonzero(~has_explicit)
    order = gap_rows[np.lexsort((ts[gap_rows], user[gap_rows]))]
    u = user[order]
    start = ts[order]
    finish = np.maximum(end[order], start)
    new = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        same_user = u[1:] == u[:-1]
        idle = start[1:] - finish[:-1]
        new[1:] = ~same_user | (idle > gap_ns)
    number = np.cumsum(new) - 1
    row_session[order] = number + n_explicit
    gap_user = u[new].astype(np.int32)
    # ordinal within the user: position since the user's first session
    first_of_user = np.ones(len(gap_user), dtype=bool)
    first_of_user[1:] = gap_user[1:] != gap_user[:-1]
    block_start = np.maximum.accumulate(np.where(first_of_user, np.arange(len(gap_user)), 0))
    ordinal = np.arange(len(gap_user)) - block_start + 1

    return Sessions(
        row_session=row_session,
        user=np.concatenate([ex_user, gap_user]),
        explicit=np.concatenate([ex_session, np.full(len(gap_user), -1, dtype=np.int32)]),
        ordinal=np.concatenate([np.zeros(n_explicit, dtype=np.int64), ordinal]),
    )


def _explicit_sessions(user: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One session per (user, session id) pair: (user and id of each session, session number of each row).

    A session id nearly always belongs to one user, so sessions are numbered by id with a lookup table
    (O(rows)); only rows whose id also appears with another user need pairs factorized.
    """
    if not len(ids):
        empty = np.zeros(0, dtype=np.int32)
        return empty, empty, empty
    owner = np.full(int(ids.max()) + 1, -1, dtype=np.int32)
    owner[ids] = user  # one user of each id (one of the rows' writes wins)
    shared = owner[ids] != user
    used = np.zeros(len(owner), dtype=bool)
    used[ids] = True
    distinct = np.flatnonzero(used)
    rank = np.empty(len(owner), dtype=np.int32)
    rank[distinct] = np.arange(len(distinct), dtype=np.int32)
    row_session = rank[ids]
    session_user, session_id = owner[distinct], distinct.astype(np.int32)
    if shared.any():
        pairs = (user[shared].astype(np.int64) << 32) | ids[shared].astype(np.int64)
        inverse, uniques = factorize(pairs)
        row_session[shared] = len(distinct) + inverse
        session_user = np.concatenate([session_user, (uniques >> 32).astype(np.int32)])
        session_id = np.concatenate([session_id, (uniques & 0xFFFFFFFF).astype(np.int32)])
    return session_user, session_id, row_session
