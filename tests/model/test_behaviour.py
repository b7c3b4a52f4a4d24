"""The runtime contract the replay stage samples (docs/architecture.md), on a fitted model."""

from __future__ import annotations

import datetime as dt
import timeit

import numpy as np
import pytest
from populations import CREATE, LOGIN


def test_sample_user_draws_classes_in_their_shares(two_class_model):
    rng = np.random.default_rng(1)
    draws = [two_class_model.sample_user(rng) for _ in range(4000)]
    classes = np.array([c for c, _ in draws])
    sessions = np.array([n for _, n in draws])
    assert np.bincount(classes) / len(classes) == pytest.approx(two_class_model.class_shares, abs=0.03)
    assert sessions.min() >= 1
    for k, cls in enumerate(two_class_model.classes):
        assert sessions[classes == k].mean() == pytest.approx(cls.mean_sessions_per_user, rel=0.08)


def test_sample_session_follows_the_class_chain(two_class_model):
    rng = np.random.default_rng(2)
    model = two_class_model
    for k in range(2):
        sessions = [model.sample_session(k, rng) for _ in range(2000)]
        for actions, think in sessions[:50]:
            assert actions[0] == LOGIN
            assert isinstance(think, np.ndarray) and len(think) == len(actions) - 1
            assert np.all(think >= 0)
            assert set(actions) <= set(model.actions)
        creates = sum(a.count(CREATE) for a, _ in sessions) / sum(len(a) for a, _ in sessions)
        if k == 0:
            assert creates < 0.01                           # readers do not post
        else:
            assert creates > 0.2
    # Readers think longer than posters (medians 2–20 s vs 1–3 s in the generator).
    read = np.concatenate([model.sample_session(0, rng)[1] for _ in range(500)])
    post = np.concatenate([model.sample_session(1, rng)[1] for _ in range(500)])
    assert np.median(read) > 3 * np.median(post)


def test_same_generator_state_gives_the_same_draws(two_class_model):
    a = [two_class_model.sample_session(0, np.random.default_rng(9)) for _ in range(3)]
    b = [two_class_model.sample_session(0, np.random.default_rng(9)) for _ in range(3)]
    assert [x[0] for x in a] == [x[0] for x in b]


def test_session_gap_arrival_rate_and_paths(two_class_model):
    rng = np.random.default_rng(3)
    gaps = np.array([two_class_model.sample_session_gap(0, rng) for _ in range(2000)])
    assert np.median(gaps) == pytest.approx(23.5 * 3600, rel=0.05)   # the generator's law
    noon = two_class_model.arrival_rate(dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC))
    night = two_class_model.arrival_rate(dt.datetime(2026, 3, 1, 3, 30))
    assert noon > night > 0
    assert two_class_model.mean_arrival_rate == pytest.approx(two_class_model.arrivals.rate.mean())
    assert isinstance(two_class_model.actions, list)


def test_per_call_sampling_is_cheap(two_class_model):
    """Not a speed target (those live in benchmarks/): a guard against an accidental O(actions²) per call."""
    rng = np.random.default_rng(4)
    per_session = timeit.timeit(lambda: two_class_model.sample_session(0, rng), number=2000) / 2000
    assert per_session < 1e-3
