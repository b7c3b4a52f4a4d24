"""Hand-written behaviours in TOML: checked like a model file, sampled as written, run through the CLI."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tracereplay.errors import ConfigError
from tracereplay.replay.behaviour import load_behaviour

PING, LOGIN, TEAMS = "GET /api/v4/system/ping", "POST /api/v4/users/login", "GET /api/v4/users/me/teams"
BEHAVIOUR = f"""
[behaviour]
start = {{ "{PING}" = 1 }}
sessions = {{ min = 2, max = 3 }}
session_gap = {{ law = "exponential", mean = "100ms" }}
arrival_rate = 20

[actions."{PING}"]
next = {{ "{LOGIN}" = 3, end = 1 }}

[actions."{LOGIN}"]
think = {{ law = "lognormal", median = "20ms", sigma = 0.3 }}
next = {{ "{TEAMS}" = 1 }}

[actions."{TEAMS}"]
think = {{ law = "uniform", min = "40ms", max = "60ms" }}
next = {{ "{TEAMS}" = 1, end = 1 }}
"""
ALLOWED = {(PING, LOGIN), (LOGIN, TEAMS), (TEAMS, TEAMS)}


def tracereplay(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tracereplay", *args], capture_output=True, text=True, timeout=90
    )


@pytest.fixture
def behaviour_file(tmp_path) -> Path:
    path = tmp_path / "chat.toml"
    path.write_text(BEHAVIOUR, encoding="utf-8")
    return path


def test_sessions_follow_the_weights_and_the_laws(behaviour_file):
    behaviour = load_behaviour(behaviour_file)
    rng = np.random.default_rng(4)
    firsts, pairs, teams_think = Counter(), Counter(), []
    for _ in range(4000):
        actions, think = behaviour.sample_session(0, rng)
        assert len(think) == len(actions) - 1
        firsts[actions[0]] += 1
        pairs.update(itertools.pairwise(actions))
        teams_think += [t for a, t in zip(actions[1:], think, strict=True) if a == TEAMS]
        if len(actions) == 1:
            pairs[(PING, "end")] += 1
    assert firsts == {PING: 4000}
    assert set(pairs) <= ALLOWED | {(PING, "end")}
    assert pairs[(PING, LOGIN)] / 4000 == pytest.approx(0.75, abs=0.03)  # weights 3 : 1
    assert min(teams_think) >= 0.040 and max(teams_think) <= 0.060
    assert np.mean(teams_think) == pytest.approx(0.050, abs=0.002)
    assert {behaviour.sample_user(rng)[1] for _ in range(200)} == {2, 3}


def test_every_problem_is_named_at_once(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        f"""
[behaviour]
start = {{ "{PING}" = 1 }}
sessions = 0
[actions."{PING}"]
think = {{ law = "gamma", shape = 2 }}
next = {{ "{LOGIN}x" = 1, end = -1 }}
[actions."{LOGIN}"]
think = "soon"
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_behaviour(bad)
    text = str(caught.value)
    for expected in ("behaviour.sessions", "law = one of", f"'{LOGIN}x' is not an action", "weight must be",
                     "cannot read duration 'soon'"):  # fmt: skip
        assert expected in text, text
    out = tmp_path / "r"
    done = tracereplay("run", str(bad), "--target", "http://127.0.0.1:9", "--users", "1", "-o", str(out))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and str(bad) in done.stderr
    assert not out.exists()  # checked before anything is written


def test_a_loop_that_cannot_end_and_an_unreached_action_are_errors(tmp_path):
    bad = tmp_path / "loop.toml"
    bad.write_text(
        f"""
[behaviour]
start = {{ "{PING}" = 1 }}
[actions."{PING}"]
next = {{ "{PING}" = 1 }}
[actions."{TEAMS}"]
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_behaviour(bad)
    assert "never reached" in str(caught.value) and "can end" in str(caught.value)


def test_run_plays_the_behaviour_against_a_real_target(behaviour_file, demo_process, tmp_path):
    out = tmp_path / "run"
    done = tracereplay(
        "run", str(behaviour_file), "--target", demo_process, "--users", "4", "--duration", "3s",
        "--actions", "tracereplay.demo.actions", "--workers", "1", "--seed", "2", "-o", str(out), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    frame = pd.read_parquet(next(out.glob("requests*.parquet"))).sort_values("intended")
    assert result["requests"] == len(frame) > 20 and (frame["status"] < 400).all()
    # helper requests the pack makes (sign-up) are recorded under their own names; the chain's own:
    chain = frame[frame["action"].isin([PING, LOGIN, TEAMS])]
    for _, session in chain.groupby("session"):
        actions = session.drop_duplicates("intended")["action"].tolist()
        assert actions[0] == PING
        assert set(itertools.pairwise(actions)) <= ALLOWED
    # users loop 2–3 sessions each with gaps of ~100 ms: more sessions than users
    assert result["sessions_started"] > 4
    meta = json.loads((out / "run.json").read_text())
    assert meta["model"] == str(behaviour_file) and meta["source"] == "model"


def test_open_run_takes_the_behaviours_arrival_rate(behaviour_file, demo_process, tmp_path):
    out = tmp_path / "open"
    done = tracereplay(
        "run", str(behaviour_file), "--target", demo_process, "--arrival-scale", "1", "--duration", "2s",
        "--actions", "tracereplay.demo.actions", "--workers", "1", "-o", str(out), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert 36 <= json.loads(done.stdout)["sessions_started"] <= 41  # 20 sessions/s × 2 s
