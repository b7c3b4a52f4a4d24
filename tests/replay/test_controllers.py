"""Controllers are pure decisions: tested without a network or a clock."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tracereplay.errors import ConfigError, InputError
from tracereplay.replay import (
    MemStore,
    Script,
    SimpleController,
    StochasticController,
    TraceController,
    UserStore,
    load_script,
    plan_users,
)
from tracereplay.replay.controllers.paths import PathChooser
from tracereplay.replay.controllers.stochastic import SessionSource
from tracereplay.replay.controllers.trace import user_fraction


def steps_of(controller, limit: int = 1000) -> list:
    store, out = MemStore(), []
    while (step := controller.next_step(store)) is not None and len(out) < limit:
        out.append(step)
    return out


def test_simple_controller_plays_a_toml_script(tmp_path):
    path = tmp_path / "login.toml"
    path.write_text(
        'think = "1s"\nsession_gap = "5s"\nloops = 2\n'
        'actions = ["POST /login", { action = "GET /me", think = "300ms" }, "GET /posts"]\n'
    )
    steps = steps_of(SimpleController(load_script(path), user_key="u1"))
    assert [s.action for s in steps] == ["POST /login", "GET /me", "GET /posts"] * 2
    assert [s.wait_s for s in steps] == [0.0, 0.3, 1.0, 5.0, 0.3, 1.0]
    assert [s.session for s in steps] == ["u1-s0", None, None, "u1-s1", None, None]


def test_simple_controller_loops_forever_when_loops_is_zero(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{"actions": ["GET /a"]}')
    assert len(steps_of(SimpleController(load_script(path)), limit=50)) == 50


def test_script_problems_are_reported_together(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('think = "soon"\nloops = -1\nactions = [3]\n')
    with pytest.raises(ConfigError) as caught:
        load_script(path)
    assert len(caught.value.problems) == 3 and all(str(path) in p for p in caught.value.problems)
    with pytest.raises(InputError):
        load_script(tmp_path / "missing.toml")
    (tmp_path / "broken.toml").write_text("actions = [")
    with pytest.raises(InputError, match=r"broken\.toml"):
        load_script(tmp_path / "broken.toml")


def test_stochastic_controller_samples_sessions_and_waits(hand_model):
    assert isinstance(hand_model, SessionSource)
    controller = StochasticController(hand_model, np.random.default_rng(3), user_key="u7")
    steps = steps_of(controller)
    sessions = [s.session for s in steps if s.session]
    assert sessions == ["u7-s0", "u7-s1"]  # the model's sessions per user, then done
    assert steps[0].wait_s == 0 and steps[0].action == "POST /api/v4/users/login"
    assert all(s.wait_s == pytest.approx(0.01) for s in steps[1:])


def test_stochastic_controller_with_a_real_fitted_model(demo_model):
    from tracereplay.model import load_model

    model = load_model(demo_model)
    a = steps_of(StochasticController(model, np.random.default_rng(11), sessions=3))
    b = steps_of(StochasticController(model, np.random.default_rng(11), sessions=3))
    assert [s.action for s in a] == [s.action for s in b]  # a seed reproduces a user
    assert sum(1 for s in a if s.session) == 3
    assert set(s.action for s in a) <= set(model.actions)
    assert all(s.wait_s >= 0 for s in a)


def test_stochastic_controller_keeps_later_sessions_on_the_models_hours(demo_model):
    """With a start on the model's timeline, gaps are drawn as simulate draws them (model code), so the
    later sessions of replayed users start by the fitted hourly profile, not smeared over the clock."""
    from tracereplay.model import load_model

    model = load_model(demo_model)
    profile = model.arrivals.rate.reshape(-1, 24).mean(axis=0)
    day = 1_790_000_000.0 - 1_790_000_000.0 % 86400
    first = np.random.default_rng(0)
    # First sessions by the profile, as simulate places them (and as an open workload would).
    starts = day + (first.choice(24, 1500, p=profile / profile.sum()) + first.random(1500)) * 3600

    def later_start_hours(timeline: bool) -> np.ndarray:
        hours = []
        for user, start in enumerate(starts.tolist()):
            controller = StochasticController(model, np.random.default_rng(user),
                                              start_s=start if timeline else None)
            t = start                      # the model time of each step: waits add up (server time ≈ 0)
            for step in steps_of(controller):
                t += step.wait_s
                if step.session is not None and not step.session.endswith("-s0"):
                    hours.append(int(t // 3600 % 24))
        counts = np.bincount(hours, minlength=24)
        return counts / counts.sum()

    def tvd(shares: np.ndarray) -> float:
        return 0.5 * float(np.abs(shares - profile / profile.sum()).sum())

    assert tvd(later_start_hours(True)) <= 0.10
    assert tvd(later_start_hours(False)) > 0.15       # without a timeline: hours of day are lost


def trace_events() -> pd.DataFrame:
    t0 = pd.Timestamp("2026-01-01T00:00:00Z")
    rows = []
    for i in range(40):
        user = f"user{i}"
        start = t0 + pd.Timedelta(seconds=10 * i)
        for j, gap in enumerate([0, 2, 600, 1]):  # a long idle gap inside the user's trace
            start = start + pd.Timedelta(seconds=gap)
            rows.append(
                {
                    "ts": start,
                    "user": user,
                    "session": f"{user}-{0 if j < 2 else 1}",
                    "action": f"GET /a{j}",
                    "path": f"/a{j}",
                }
            )
    return pd.DataFrame(rows)


def test_plan_users_applies_speed_and_max_gap():
    plans, span = plan_users(trace_events(), speed=2.0, max_gap_s=30)
    assert len(plans) == 40 and [p.start_s for p in plans[:3]] == [0.0, 5.0, 10.0]
    assert plans[0].offsets_s.tolist() == [0.0, 1.0, 16.0, 16.5]  # (2, 30 capped, 1) seconds ÷ 2
    assert span == pytest.approx((390 + 603) / 2)


def test_sampling_keeps_whole_users_consistently_and_shards_partition():
    events = trace_events()
    a, _ = plan_users(events, sample=0.5)
    b, _ = plan_users(events, sample=0.5)
    assert [p.user for p in a] == [p.user for p in b] and 8 <= len(a) <= 32
    assert all(len(p.actions) == 4 for p in a)  # whole users
    shards = [{p.user for p in plan_users(events, shard=(i, 3))[0]} for i in range(3)]
    assert set().union(*shards) == set(events["user"]) and sum(map(len, shards)) == 40
    assert np.all(
        (user_fraction(events["user"].unique()) >= 0) & (user_fraction(events["user"].unique()) < 1)
    )


def test_trace_controller_replays_timing_sessions_and_loops():
    plan = plan_users(trace_events(), max_gap_s=30)[0][0]
    steps = steps_of(TraceController(plan))
    assert [s.at_s for s in steps] == [0.0, 2.0, 32.0, 33.0]
    assert [s.session for s in steps] == ["user0-0", None, "user0-1", None]
    assert [s.path for s in steps] == ["/a0", "/a1", "/a2", "/a3"]
    looped = steps_of(TraceController(plan, loop_s=100.0), limit=10)
    assert [s.at_s for s in looped[4:8]] == [100.0, 102.0, 132.0, 133.0]
    assert looped[4].session == "user0-0~1"


def test_controllers_only_get_a_read_only_view():
    store = MemStore()
    assert isinstance(store, UserStore)
    store.remember("x", "1")
    assert StochasticController.next_step.__annotations__["store"] in ("UserStore", UserStore)


def test_controllers_choose_paths_from_the_store_they_read(hand_model):
    """The state-dependent half of a step is the controller's: route parameters filled from the store."""
    rng = np.random.default_rng(1)
    store = MemStore()
    script = Script.from_actions(["GET /channels/{channel_id}/posts", "GET /me"])
    simple = SimpleController(script, rng=rng, paths=PathChooser())
    assert [(s.action, s.path) for s in (simple.next_step(store), simple.next_step(store))] == [
        ("GET /channels/{channel_id}/posts", None),  # nothing known yet: the user records it unsendable
        ("GET /me", "/me"),
    ]
    store.remember("channel_id", "c7")
    assert simple.next_step(store).path == "/channels/c7/posts"

    # the model's example paths are the fallback, the store wins once it knows a value
    examples = {"GET /api/v4/channels/{channel_id}/posts": ["/api/v4/channels/example/posts"]}
    paths = PathChooser(lambda action: examples.get(action, []))
    stochastic = StochasticController(hand_model, rng, sessions=3, paths=paths)
    posts = "GET /api/v4/channels/{channel_id}/posts"
    chosen = {s.path for s in steps_of(stochastic) if s.action == posts}
    assert chosen == {"/api/v4/channels/example/posts"}
    channel_store = MemStore()
    channel_store.remember("channel_id", "mine")
    stochastic = StochasticController(hand_model, rng, sessions=3, paths=paths)
    while (step := stochastic.next_step(channel_store)) is not None:
        if step.action == posts:
            assert step.path == "/api/v4/channels/mine/posts"


def test_a_trace_user_prefers_ids_it_learnt_over_recorded_ones():
    events = trace_events()
    events["action"] = "GET /a/{a_id}"
    plan = plan_users(events, max_gap_s=30)[0][0]
    store = MemStore()
    controller = TraceController(plan, paths=PathChooser(), rng=np.random.default_rng(0))
    assert controller.next_step(store).path == "/a0"  # nothing learnt: the recorded path
    store.remember("a_id", "learnt")
    assert controller.next_step(store).path == "/a/learnt"
