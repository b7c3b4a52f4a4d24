"""Sessions: an explicit session id wins; otherwise a new session starts after an inactivity gap.

The gap is measured from the end of a user's previous action (start + duration) to the start of the next,
the same rule the model uses for think time: a gap longer than the session gap is not think time.
Everything is vectorised over rows; users and sessions are integer codes here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


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
    row_session = np.empty(n, dtype=np.int64)
    has_explicit = explicit >= 0

    # explicit sessions: one per (user, session id) pair
    ex_rows = np.flatnonzero(has_explicit)
    pairs = (user[ex_rows].astype(np.int64) << 32) | explicit[ex_rows].astype(np.int64)
    ex_codes, ex_uniques = pd.factorize(pairs)
    row_session[ex_rows] = ex_codes
    n_explicit = len(ex_uniques)
    ex_user = (np.asarray(ex_uniques, dtype=np.int64) >> 32).astype(np.int32)
    ex_session = (np.asarray(ex_uniques, dtype=np.int64) & 0xFFFFFFFF).astype(np.int32)

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
