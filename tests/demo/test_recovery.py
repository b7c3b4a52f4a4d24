"""The bundled dump, through ingest and fit (public APIs), gives back the population generate.py drew.

This is the check sample_traces/README.md promises: the classes, their shares, their chains, their think
times and their sessions per user are recovered from the SDK-produced OTLP alone.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tracereplay.demo import sample_dump_path
from tracereplay.ingest import read_dumps
from tracereplay.model import fit

GENERATE = Path(__file__).resolve().parents[2] / "sample_traces" / "generate.py"


def _value(x):
    return x() if callable(x) else x


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("sample_traces_generate", GENERATE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model():
    return fit(read_dumps([sample_dump_path()]), seed=0)


@pytest.fixture(scope="module")
def by_kind(model, gen):
    """The fitted classes as {"reader": class, "poster": class}: posters post after reading far more."""
    assert len(model.classes) == 2
    posts, create = model.actions.index(gen.POSTS), model.actions.index(gen.CREATE_POST)
    ordered = sorted(model.classes, key=lambda c: _value(c.transition_probabilities)[posts, create])
    return {"reader": ordered[0], "poster": ordered[1]}


def test_ingest_finds_every_user_session_and_action(gen):
    events = read_dumps([sample_dump_path()])
    assert events["user"].nunique() == 130
    assert events["session"].nunique() == 407
    assert set(events["action"]) == {gen.SIGN_UP, gen.LOG_IN, gen.LOG_OUT, gen.ME, gen.TEAMS, gen.CHANNELS,
                                     gen.POSTS, gen.CREATE_POST, gen.VIEW, gen.USER}  # the probe is dropped


def test_fit_recovers_the_two_classes_and_their_shares(by_kind, gen):
    for kind, truth in (("reader", gen.READERS), ("poster", gen.POSTERS)):
        assert by_kind[kind].share == pytest.approx(truth.share, abs=0.05), kind


def test_fit_recovers_the_content_chains(model, by_kind, gen):
    index = model.actions.index
    # in the fitted chain, leaving the content loop is the step to log-out
    targets = {gen.POSTS: gen.POSTS, gen.VIEW: gen.VIEW, gen.CREATE_POST: gen.CREATE_POST,
               gen.EXIT: gen.LOG_OUT}
    for kind, truth in (("reader", gen.READERS), ("poster", gen.POSTERS)):
        fitted = _value(by_kind[kind].transition_probabilities)
        for to, p in truth.chain[gen.POSTS].items():
            if to in targets:
                got = fitted[index(gen.POSTS), index(targets[to])]
                assert got == pytest.approx(p, abs=0.06), (kind, "posts →", to)
        assert fitted[index(gen.VIEW), index(gen.POSTS)] == pytest.approx(1.0, abs=0.01)


def test_fit_recovers_think_times_by_transition(model, by_kind, gen):
    index = model.actions.index
    for kind, truth in (("reader", gen.READERS), ("poster", gen.POSTERS)):
        cells = by_kind[kind].think_transition
        for to in (gen.POSTS, gen.CREATE_POST, gen.VIEW):
            cell = cells[(index(gen.POSTS), index(to))]
            assert _value(cell.median) == pytest.approx(truth.think[to].median_s, rel=0.25), (kind, to)


def test_fit_recovers_sessions_per_user(by_kind, gen):
    for kind, truth in (("reader", gen.READERS), ("poster", gen.POSTERS)):
        mean = _value(by_kind[kind].mean_sessions_per_user)
        assert mean == pytest.approx(1 + truth.extra_sessions_mean, abs=0.5), kind
