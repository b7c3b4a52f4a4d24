"""A 1995-style web log (tests/model/populations.py: web_log_1995): a thousand pages each seen a few
times, pages followed by their images within seconds, text browsers that fetch pages only, whole-second
timestamps. Before the stable sort of simulate, classes over action kinds and think back-off by the next
action and its kind, the model was 2.3× its noise floor on transitions, 2.4–2.9× on think times and
1.3–1.7× on per-session median think here (``benchmarks/model_validation.py``, seeds 0 and 3)."""

from __future__ import annotations

import json

import pytest
from populations import web_log_1995

from tracereplay.errors import ModelFileError
from tracereplay.model import fit, load_model
from tracereplay.model.validate import validate


@pytest.fixture(scope="module")
def web_log():
    return web_log_1995(users=2400, seed=1)


def test_visits_with_and_without_images_are_told_apart(web_log):
    model = fit(web_log)
    assert len(model.actions) > 900 and len(model.classes) > 1
    images = [i for i, a in enumerate(model.actions) if a.endswith(".gif")]
    share = [c.transition_counts[:, images].sum() / c.transition_counts.sum() for c in model.classes]
    overall = sum(c.transition_counts[:, images].sum() for c in model.classes) / sum(
        c.transition_counts.sum() for c in model.classes)
    # The text browsers' class (a quarter of the users, pages only) fetches images far less than the rest.
    assert min(share) < 0.5 * overall < max(share)

def test_a_1995_web_log_is_within_its_noise_floor(web_log):
    report = validate(web_log, splits=3, seed=0)
    for name in ("transition_distance", "think_ks", "session_length_ks", "session_median_think_ks"):
        assert report.ratio(name) <= 1.5, (name, report.ratio(name))


def test_think_backs_off_to_the_next_action_and_its_kind(web_log, tmp_path):
    # The think before an image is the line's speed whatever page asked for it; the think before a page
    # seen a few times is a reader's, the kind's law ("GET .html"), not the class's image-heavy pool.
    model = fit(web_log)
    images = [c for c in model.classes if "GET .gif" in c.think_kind]
    assert images and all(c.think_backoff == "next" for c in images)
    both = [c for c in images if "GET .html" in c.think_kind]
    assert both and all(c.think_kind["GET .html"].zero_share < 0.05 < c.think_kind["GET .gif"].zero_share
                        for c in both)
    loaded = load_model(model.save(tmp_path / "m.json"))
    assert [(c.think_backoff, sorted(c.think_kind)) for c in loaded.classes] == [
        (c.think_backoff, sorted(c.think_kind)) for c in model.classes]
    assert fit(web_log, think_backoff="previous").classes[0].think_kind == {}

    data = json.loads((tmp_path / "m.json").read_text())
    data["version"] = 3                                  # a format-3 file: previous action, no kinds
    for c in data["classes"]:
        del c["think_backoff"], c["think_kind"]
    (tmp_path / "v3.json").write_text(json.dumps(data))
    assert {(c.think_backoff, len(c.think_kind)) for c in load_model(tmp_path / "v3.json").classes} == {
        ("previous", 0)}
    data["version"] = 4
    data["classes"][0]["think_backoff"] = "sideways"
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match=r"classes\[0\].*think_backoff"):
        load_model(tmp_path / "bad.json")
