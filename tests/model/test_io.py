"""The model file: exact path, atomic, round trip, clear errors for damaged, newer and foreign files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tracereplay.errors import ModelFileError
from tracereplay.model import FORMAT_VERSION, load_model


def test_saves_to_exactly_the_path_given_and_round_trips(tmp_path, two_class_model):
    target = tmp_path / "nested" / "my.model"          # any extension: -o writes exactly this path
    assert two_class_model.save(target) == target
    assert sorted(p.name for p in target.parent.iterdir()) == ["my.model"]
    loaded = load_model(target)
    original = two_class_model
    assert loaded.actions == original.actions
    assert loaded.class_shares == pytest.approx(original.class_shares)
    for a, b in zip(loaded.classes, original.classes, strict=True):
        np.testing.assert_allclose(a.transition_counts, b.transition_counts, rtol=1e-8)
        assert a.think_transition.keys() == b.think_transition.keys()
    rng1, rng2 = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(20):
        s1, s2 = original.sample_session(1, rng1), loaded.sample_session(1, rng2)
        assert s1[0] == s2[0]
        np.testing.assert_allclose(s1[1], s2[1], rtol=1e-6)
    assert loaded.arrival_rate(__import__("datetime").datetime(2026, 1, 1, 12)) == pytest.approx(
        original.arrivals.rate[12], rel=1e-8)


def test_the_file_is_plain_versioned_json(tmp_path, single_class_model):
    path = single_class_model.save(tmp_path / "m.json")
    data = json.loads(path.read_text())
    assert data["format"] == "tracereplay-model" and data["version"] == FORMAT_VERSION
    assert {"actions", "classes", "arrivals", "action_stats", "think"} <= set(data)


def test_a_failed_save_leaves_the_old_file(tmp_path, single_class_model, monkeypatch):
    path = single_class_model.save(tmp_path / "m.json")
    before = path.read_bytes()
    import tracereplay.model.encode as io

    monkeypatch.setattr(io, "model_to_dict", lambda m: {"bad": float("nan")})
    with pytest.raises(ValueError):
        single_class_model.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "damaged or not JSON"),
        (b'{"format": "tracereplay-model", "version": 1, "actions": [', "line 1"),
        (b'{"some": "other json"}', "not a tracereplay model file"),
        (b"\xff\xfe\x00garbage", "not a tracereplay model file"),
        (b'{"format": "tracereplay-model", "version": 99, "tracereplay": "9.0"}', "newer tracereplay"),
        (b'{"format": "tracereplay-model", "version": 1, "actions": ["a"]}', "missing field"),
    ],
)
def test_bad_files_raise_one_clear_model_file_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_inconsistent_content_names_the_place(tmp_path, single_class_model):
    data = single_class_model.to_dict()
    data["classes"][0]["transitions"][0][1] = 10_000          # an action index out of range
    path = tmp_path / "m.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match=r"classes\[0\].*out of range"):
        load_model(path)


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        load_model(tmp_path / "absent.json")
