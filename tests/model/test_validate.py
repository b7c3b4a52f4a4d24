"""Split-half validation (``validate`` / ``tracereplay fit --validate``): ratios to the noise floor."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

import tracereplay
from tracereplay.errors import ConfigError
from tracereplay.ingest.events import write_events
from tracereplay.model.validate import METRICS, validate


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracereplay", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def small_population(single_class):
    # 600 of the 2000 users of a population drawn the way the model thinks: the model is the truth here.
    events = single_class[0]
    return events[events["user"].isin(events["user"].unique()[:600])]


@pytest.fixture(scope="module")
def events_file(tmp_path_factory, small_population):
    return write_events(small_population, tmp_path_factory.mktemp("validate") / "events.parquet")


def test_a_model_of_its_own_population_sits_at_the_noise_floor(single_class):
    # Drawn the way the model thinks, so only noise separates model and data. With two splits a ratio of
    # two small distances is itself noisy (measured 0.99–1.54 here), hence the bound of 2.
    events = single_class[0]
    report = tracereplay.validate(events, splits=2, multiple=4, seed=3)
    assert [m.name for m in report.metrics] == list(METRICS)
    for metric in report.metrics:
        assert 0 < metric.floor < 0.05, metric
        assert metric.ratio <= 2.0, metric
    for split in report.splits:
        a, b = split.users
        assert a + b == 2000 and abs(a - b) <= 1              # halves by user, every user in one half
        assert split.simulated_users == 4 * b
    assert [s.seed for s in report.splits] == [3, 4]


def test_the_splits_are_seeded(small_population):
    first = validate(small_population, splits=1, multiple=2, seed=5).to_dict()
    again = validate(small_population, splits=1, multiple=2, seed=5).to_dict()
    other = validate(small_population, splits=1, multiple=2, seed=6).to_dict()
    assert first == again
    assert first["splits"][0]["floor"] != other["splits"][0]["floor"]


def test_ratio_rules():
    from tracereplay.model.validate import MetricRatio

    assert MetricRatio(name="think_ks", model=0.03, floor=0.02, limit=1.5).ratio == pytest.approx(1.5)
    assert MetricRatio(name="think_ks", model=0.031, floor=0.02, limit=1.5).passed is False
    assert MetricRatio(name="think_ks", model=0.0, floor=0.0, limit=1.5).ratio == 1.0
    assert math.isinf(MetricRatio(name="think_ks", model=0.01, floor=0.0, limit=1.5).ratio)
    assert MetricRatio(name="think_ks", model=None, floor=0.02, limit=1.5).passed is None
    # The range over resamples of the splits says whether the splits settle the verdict.
    def ranged(low: float, high: float) -> MetricRatio:
        return MetricRatio(name="think_ks", model=0.03, floor=0.02, limit=1.5, interval=(low, high))

    assert ranged(1.2, 1.7).settled is False
    assert ranged(1.6, 1.9).settled is True and ranged(0.9, 1.1).settled is True
    assert MetricRatio(name="think_ks", model=0.02, floor=0.02, limit=1.5).settled is None


def test_each_ratio_comes_with_its_range_over_the_splits(single_class):
    report = validate(single_class[0], splits=3, multiple=2, seed=1)
    for metric in report.metrics:
        assert metric.interval is not None and metric.ratio is not None
        low, high = metric.interval
        per_split = [_split_ratio(s.model[metric.name], s.floor[metric.name]) for s in report.splits]
        # a ratio of sums over resampled splits lies within the per-split ratios, and brackets the pooled one
        assert min(per_split) - 1e-9 <= low <= metric.ratio <= high <= max(per_split) + 1e-9, metric
    document = report.to_dict()["metrics"][0]
    assert len(document["interval"]) == 2 and document["settled"] in (True, False)
    assert validate(single_class[0], splits=1, multiple=2, seed=1)["think_ks"].interval is None


def _split_ratio(model: float | None, floor: float | None) -> float:
    assert model is not None and floor
    return model / floor


def test_bad_settings_and_tiny_tables_are_config_errors(small_population):
    with pytest.raises(ConfigError, match="splits must be at least 1"):
        validate(small_population, splits=0)
    with pytest.raises(ConfigError, match="unknown metrics"):
        validate(small_population, metrics=("nonsense",))
    three_users = small_population[small_population["user"].isin(small_population["user"].unique()[:3])]
    with pytest.raises(ConfigError, match="at least 4 users"):
        validate(three_users)


def test_cli_prints_the_table_and_exits_3_above_the_limit(tmp_path, events_file):
    passed = run("fit", str(events_file), "--validate", "--splits", "1", "--multiple", "3", "--json")
    assert passed.returncode in (0, 3), passed.stderr
    document = json.loads(passed.stdout)
    assert document["verdict"] == ("pass" if passed.returncode == 0 else "fail")
    assert document["output"] is None
    assert [m["name"] for m in document["metrics"]] == list(METRICS)
    assert all(m["ratio"] > 0 for m in document["metrics"])
    assert len(document["splits"]) == 1 and document["splits"][0]["users_b"] == 300

    model = tmp_path / "model.json"
    strict = run("fit", str(events_file), "--validate", "--splits", "1", "--limit", "0.01", "-o", str(model))
    assert strict.returncode == 3, strict.stderr
    lines = strict.stdout.splitlines()
    assert any("floor A vs B" in line for line in lines)
    assert any(line.startswith("verdict: FAIL") for line in lines)
    # Not a terminal: rows are not wrapped, one metric per line.
    assert sum("think time (KS)" in line for line in lines) == 1
    assert model.exists()                                  # -o still writes the model fitted on all users
    assert tracereplay.load_model(model).source["users"] == 600


def test_cli_errors_are_one_line(tmp_path, events_file):
    no_output = run("fit", str(events_file))
    assert no_output.returncode == 1 and "--validate" in no_output.stderr
    assert no_output.stderr.strip().count("\n") == 0 and "Traceback" not in no_output.stderr
    zero = run("fit", str(events_file), "--validate", "--splits", "0")
    assert zero.returncode == 2 and "--splits" in zero.stderr
