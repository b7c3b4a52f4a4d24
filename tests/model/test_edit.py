"""Editing a model: arrivals, class shares, dropping and renaming actions, from the API and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from populations import CHANNELS, CREATE, LOGIN, POSTS

from tracereplay.errors import ConfigError
from tracereplay.model import (
    drop_actions,
    edit,
    load_model,
    rename_actions,
    scale_arrivals,
    set_class_shares,
    simulate,
)


def test_scale_arrivals(two_class_model):
    doubled = scale_arrivals(two_class_model, 2.0)
    assert doubled.mean_arrival_rate == pytest.approx(2 * two_class_model.mean_arrival_rate)
    assert two_class_model.source.get("edits") is None           # the input is untouched
    assert doubled.source["edits"] == ["scale arrivals ×2"]
    with pytest.raises(ConfigError):
        scale_arrivals(two_class_model, 0)


def test_more_posters(two_class_model):
    edited = set_class_shares(two_class_model, {"class-2": 0.6})
    assert edited.class_shares == pytest.approx([0.4, 0.6])
    table = simulate(edited, 3000, seed=1)
    assert (table["action"] == CREATE).mean() > 1.5 * (simulate(two_class_model, 3000, seed=1)["action"]
                                                        == CREATE).mean()
    with pytest.raises(ConfigError) as info:
        set_class_shares(two_class_model, {"nobody": 0.5, "class-1": 1.5})
    assert len(info.value.problems) == 2


def test_dropping_an_action_joins_the_paths_around_it(single_class_model):
    model = single_class_model
    dropped = drop_actions(model, [CHANNELS])
    assert CHANNELS not in dropped.actions
    a = {n: i for i, n in enumerate(model.actions)}
    b = {n: i for i, n in enumerate(dropped.actions)}
    p, q = model.classes[0].transition_probabilities, dropped.classes[0].transition_probabilities
    # LOGIN → POSTS now carries what went LOGIN → CHANNELS → POSTS.
    via = p[a[LOGIN], a[CHANNELS]] * p[a[CHANNELS], a[POSTS]] / (1 - p[a[CHANNELS], a[CHANNELS]])
    assert q[b[LOGIN], b[POSTS]] == pytest.approx(p[a[LOGIN], a[POSTS]] + via, rel=1e-6)
    assert np.allclose(q.sum(axis=1)[q.sum(axis=1) > 0], 1.0)
    table = simulate(dropped, 500, seed=2)
    assert CHANNELS not in set(table["action"]) and len(table) > 0
    with pytest.raises(ConfigError, match="no action"):
        drop_actions(model, ["GET /nope"])


def test_renaming_and_merging_actions(single_class_model):
    renamed = rename_actions(single_class_model, {LOGIN: "POST /api/v4/login"})
    assert "POST /api/v4/login" in renamed.actions and LOGIN not in renamed.actions
    before = single_class_model.classes[0].transition_counts
    np.testing.assert_allclose(renamed.classes[0].transition_counts, before)
    merged = rename_actions(single_class_model, {CREATE: POSTS})
    assert len(merged.actions) == len(single_class_model.actions) - 1
    stats = {s.name: s for s in merged.action_stats}
    original = {s.name: s for s in single_class_model.action_stats}
    assert stats[POSTS].count == original[POSTS].count + original[CREATE].count
    assert merged.classes[0].transition_counts.sum() == pytest.approx(
        single_class_model.classes[0].transition_counts.sum())


def test_edit_cli_writes_a_new_model(tmp_path, two_class_model):
    source = two_class_model.save(tmp_path / "model.json")
    target = tmp_path / "edited.json"
    done = subprocess.run(
        [sys.executable, "-m", "tracereplay", "model", "edit", str(source), "-o", str(target),
         "--scale-arrivals", "3", "--class-share", "class-2", "0.5", "--drop-action", "GET /api/search",
         "--rename-class", "class-2", "posters", "--json"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    edited = load_model(target)
    assert edited.class_names == ["class-1", "posters"]
    assert edited.class_shares == pytest.approx([0.5, 0.5])
    assert "GET /api/search" not in edited.actions
    assert edited.mean_arrival_rate == pytest.approx(3 * two_class_model.mean_arrival_rate, rel=1e-6)
    assert json.loads(done.stdout)["classes"][1]["name"] == "posters"
    bad = subprocess.run([sys.executable, "-m", "tracereplay", "model", "edit", str(source), "-o",
                          str(tmp_path / "x.json"), "--class-share", "nobody", "0.5"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "no class 'nobody'" in bad.stderr
    assert not (tmp_path / "x.json").exists()


def test_edit_applies_everything_in_order(two_class_model):
    edited = edit(two_class_model, arrival_scale=0.5, class_shares={1: 0.1}, drop=["GET /api/users/{id}"],
                  rename={"GET /api/search": "GET /api/find"}, rename_classes={0: "readers"})
    assert edited.class_names[0] == "readers"
    assert "GET /api/find" in edited.actions
    assert len(edited.source["edits"]) == 5
