"""Fidelity on real traffic: the split-half ratios to the noise floor on a real Apache log.

``../shared/data/apache_logs`` (elastic/examples, Apache-2.0; see that folder's README): 10,000 lines,
ingested with no options as a user would (9,999 events, 1,861 users, 1,329 actions). The model is fitted
on half the users and set against the other half; a ratio of 1 is as close as a second sample of the
same users. Over 9 splits every ratio is ≤ 1.15 (docs/model.md); a single split's ratio wanders between
0.6 and 2.5, so the fast test averages three splits and the slow one nine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tracereplay.ingest import read_dumps
from tracereplay.model.validate import METRICS, validate

APACHE_LOGS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "apache_logs"
needs_real_log = pytest.mark.skipif(not APACHE_LOGS.exists(), reason="../shared/data/apache_logs not present")


@pytest.fixture(scope="module")
def apache_events():
    events = read_dumps([APACHE_LOGS])
    assert (len(events), events["user"].nunique()) == (9_999, 1_861)      # as `tracereplay ingest` reads it
    return events


@needs_real_log
def test_three_splits_of_a_real_log_stay_within_1_5_of_the_noise_floor(apache_events):
    report = validate(apache_events, splits=3, multiple=5, seed=0)
    ratios = {m.name: m.ratio for m in report.metrics}
    assert set(ratios) == set(METRICS)
    assert report.passed, ratios
    assert max(ratios.values()) <= 1.5, ratios


@needs_real_log
@pytest.mark.slow
def test_nine_splits_of_a_real_log_stay_within_1_2_of_the_noise_floor(apache_events):
    report = validate(apache_events, splits=9, multiple=5, seed=0, limit=1.2)
    assert report.passed, {m.name: m.ratio for m in report.metrics}
