"""Sessionizing on codes: explicit ids win, gaps are measured from the end of the previous action."""

from __future__ import annotations

import numpy as np

from tracereplay.ingest.sessions import assign_sessions

S = 10**9


def test_gap_is_measured_from_the_end_of_the_previous_action():
    user = np.array([0, 0, 0], dtype=np.int32)
    ts = np.array([0, 100 * S, 200 * S])
    end = np.array([50 * S, 110 * S, 200 * S])  # idle: 50 s, then 90 s
    none = np.full(3, -1, dtype=np.int32)
    assert assign_sessions(user, ts, end, none, gap_ns=60 * S).row_session.tolist() == [0, 0, 1]
    assert assign_sessions(user, ts, end, none, gap_ns=90 * S).row_session.tolist() == [0, 0, 0]


def test_users_interleaved_and_ordinals():
    user = np.array([1, 0, 1, 0, 1], dtype=np.int32)
    ts = np.array([0, 1, 2, 10_000, 10_001]) * S
    sessions = assign_sessions(user, ts, ts, np.full(5, -1, dtype=np.int32), gap_ns=1800 * S)
    assert sessions.count == 4
    assert sessions.row_session[0] == sessions.row_session[2] != sessions.row_session[4]
    assert sorted(sessions.ordinal.tolist()) == [1, 1, 2, 2]
    assert (sessions.explicit == -1).all()


def test_explicit_session_ids_win_and_mix_with_gap_sessions():
    user = np.array([0, 0, 0, 0], dtype=np.int32)
    ts = np.array([0, 5000, 5001, 9000]) * S
    explicit = np.array([3, 3, -1, -1], dtype=np.int32)  # a 5000 s pause inside one explicit session
    sessions = assign_sessions(user, ts, ts, explicit, gap_ns=1800 * S)
    assert sessions.row_session[0] == sessions.row_session[1]
    assert len(set(sessions.row_session.tolist())) == 3
    assert sessions.explicit.tolist().count(3) == 1
