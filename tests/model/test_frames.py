"""What a notebook gets from tracereplay.load_model(): pandas tables and numpy arrays."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import tracereplay
from tracereplay.model.show import summary


def test_load_model_gives_pandas_tables(tmp_path, two_class_model):
    model = tracereplay.load_model(two_class_model.save(tmp_path / "m.json"))
    frames = model.frames()
    assert set(frames) == {"classes", "transitions", "actions", "arrivals"}
    classes = frames["classes"]
    assert list(classes["class"]) == ["class-1", "class-2"]
    assert classes["share"].sum() == pytest.approx(1.0)
    transitions = frames["transitions"]
    assert {"class", "from", "to", "p", "count", "think_median_s", "think_family", "think_level"} <= set(
        transitions.columns)
    leaving = transitions[transitions["from"] != "(start)"].groupby(["class", "from"])["p"].sum()
    assert np.allclose(leaving, 1.0)
    assert len(frames["arrivals"]) == 24 and frames["arrivals"]["sessions_per_s"].gt(0).all()
    assert frames["actions"]["count"].sum() == model.source["events"]


def test_transition_matrix_is_a_labelled_stochastic_matrix(two_class_model):
    matrix = two_class_model.transition_matrix(1)
    assert isinstance(matrix, pd.DataFrame)
    assert matrix.index[0] == "(start)" and matrix.columns[-1] == "(exit)"
    rows = matrix.sum(axis=1)
    assert np.allclose(rows[rows > 0], 1.0)
    assert isinstance(two_class_model.class_shares, np.ndarray)
    assert isinstance(two_class_model.arrivals.rate, np.ndarray)


def test_summary_is_plain_json(two_class_model):
    text = json.dumps(summary(two_class_model))
    data = json.loads(text)
    assert data["classes"][0]["think"]["family"] in {"lognormal", "lognormal_mixture", "empirical"}
    assert data["class_mix"] is None
