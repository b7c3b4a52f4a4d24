"""fit() on populations with known laws: classes, chains, think times, sessions, arrivals, privacy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from populations import CHANNELS, CREATE, LOGIN, POSTER, POSTS, RARE_ACTIONS, READER, SINGLE

from tracereplay.errors import ConfigError
from tracereplay.model import fit


def test_readers_and_posters_come_out_as_two_classes_with_their_shares(two_classes, two_class_model):
    _, truth = two_classes
    model = two_class_model
    assert len(model.classes) == 2
    true_shares = sorted(np.bincount(truth) / len(truth), reverse=True)
    assert model.class_shares == pytest.approx(true_shares, abs=0.03)
    assert model.sticky_share > 0.95


def test_each_class_recovers_its_own_chain_and_think_scale(two_class_model):
    model = two_class_model
    readers, posters = model.classes               # largest first
    a = {name: i for i, name in enumerate(model.actions)}
    p_read = readers.transition_probabilities
    p_post = posters.transition_probabilities
    assert p_read[a[POSTS], a[POSTS]] == pytest.approx(READER.chain[POSTS][POSTS], abs=0.03)
    assert p_post[a[POSTS], a[CREATE]] == pytest.approx(POSTER.chain[POSTS][CREATE], abs=0.03)
    creates = [c.transition_counts[:, a[CREATE]].sum() for c in (readers, posters)]
    assert creates[0] < 0.01 * creates[1]
    # Think after reading posts: readers' law has median 20 s, posters' 3 s.
    assert readers.think_transition[(a[POSTS], a[POSTS])].median == pytest.approx(20.0, rel=0.1)
    assert posters.think_transition[(a[POSTS], a[CREATE])].median == pytest.approx(3.0, rel=0.1)
    assert readers.mean_sessions_per_user == pytest.approx(READER.sessions_mean, rel=0.08)
    assert posters.mean_sessions_per_user == pytest.approx(POSTER.sessions_mean, rel=0.08)


def test_a_single_population_stays_one_class(single_class_model):
    model = single_class_model
    assert len(model.classes) == 1
    start = model.classes[0].start_probabilities
    assert start[model.actions.index(LOGIN)] == pytest.approx(SINGLE.start[LOGIN], abs=0.03)
    think = model.classes[0].think_action[model.actions.index(CHANNELS)]
    assert think.median == pytest.approx(SINGLE.think_median_s[CHANNELS], rel=0.1)
    assert think.family.value == "lognormal"


def test_users_who_keep_their_kind_are_sticky(two_class_model, single_class_model):
    assert two_class_model.class_mix is None and two_class_model.sticky_share > 0.95
    assert single_class_model.class_mix is None


def _first_users(events, n):
    return events[events["user"].isin(events["user"].unique()[:n])]


def test_thin_cells_back_off_to_coarser_levels(rare_actions):
    model = fit(_first_users(rare_actions[0], 1000), min_cell_samples=200)
    cls = model.classes[0]
    rare = model.actions.index(RARE_ACTIONS[2])
    assert all(rare != i for i, _ in cls.think_transition)
    assert rare not in cls.think_action                   # < 200 samples: falls back to the class level
    assert cls.think is not None


def test_rare_actions_are_kept_unless_the_user_sets_a_threshold(rare_actions, rare_model):
    events = rare_actions[0]
    counts = events["action"].value_counts()
    assert set(RARE_ACTIONS) <= set(rare_model.actions)
    threshold = int(counts[list(RARE_ACTIONS)].max()) + 1
    kept = fit(events, min_action_count=threshold).actions
    assert not set(RARE_ACTIONS) & set(kept)
    assert set(kept) == set(counts.index[counts >= threshold])


def test_arrivals_follow_the_day_profile(two_class_model):
    model = two_class_model
    rate = model.arrivals.rate
    assert len(rate) == 24
    assert rate[12] > 2.5 * rate[3]                  # generator: 1.6 by day, 0.3 at night (gaps blur it)
    assert model.mean_arrival_rate == pytest.approx(rate.mean())


def test_per_action_errors_durations_and_paths(two_class_model):
    stats = {s.name: s for s in two_class_model.action_stats}
    posts = stats[POSTS]
    assert posts.error_rate == pytest.approx(0.02, abs=0.01)
    assert posts.duration.median == pytest.approx(0.020, rel=0.1)
    assert posts.method == "GET" and posts.route == "/api/channels/{id}/posts"
    assert two_class_model.path_examples(POSTS) == ["/api/channels/42/posts"]
    assert two_class_model.path_examples("GET /nowhere") == []


def test_a_table_without_server_durations_fits_with_none(single_class):
    # duration_ms is optional (a log without response times): the actions then have no duration
    events = _first_users(single_class[0], 300).drop(columns=["duration_ms"])
    model = fit(events, seed=1)
    assert model.action_stats and all(s.duration is None for s in model.action_stats)
    assert all(s.count > 0 for s in model.action_stats)


def test_the_model_holds_no_user_or_session_key(two_classes, two_class_model):
    text = json.dumps(two_class_model.to_dict())
    events = two_classes[0]
    for key in events["user"].unique()[:50].tolist() + events["session"].unique()[:50].tolist():
        assert f'"{key}"' not in text


def test_same_data_and_seed_give_the_same_model(single_class):
    events = _first_users(single_class[0], 400)
    a = fit(events, seed=3).to_dict()
    b = fit(events, seed=3).to_dict()
    a.pop("saved"), b.pop("saved")
    assert a == b


def test_invalid_settings_are_reported_together(single_class):
    with pytest.raises(ConfigError) as info:
        fit(single_class[0], max_classes=0, min_cell_samples=1, nonsense=3)
    assert "nonsense" in str(info.value)
    with pytest.raises(ConfigError) as info:
        fit(single_class[0], max_classes=0, min_cell_samples=1)
    assert len(info.value.problems) == 2
