"""Run-to-run comparison: noise is not a regression, a clearly slower run is."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tracereplay.report import load_run, summarize
from tracereplay.report.compare import CompareSettings, compare_runs

from .conftest import random_workers, requests_frame


def summary_of(make_run, seed: int, *, scale: float = 1.0, n: int = 3000):
    return summarize(load_run(make_run(random_workers(np.random.default_rng(seed), n=n, scale=scale))))


def test_identical_runs_flag_nothing(make_run) -> None:
    base = summary_of(make_run, 1)
    comparison = compare_runs(base, base)
    assert comparison.changes == []
    assert (comparison.table["delta"].dropna() == 0).all()


def test_runs_from_the_same_distribution_flag_nothing(make_run) -> None:
    base = summary_of(make_run, 1)
    for seed in (2, 3, 4):
        assert compare_runs(summary_of(make_run, seed), base).changes == []


def test_a_clearly_slower_run_is_flagged_per_action_and_in_total(make_run) -> None:
    base, slow = summary_of(make_run, 1), summary_of(make_run, 2, scale=1.5)
    comparison = compare_runs(slow, base)
    flagged = {(c.action, c.metric) for c in comparison.regressions}
    for action in ("GET /api/a", "POST /api/b", "GET /api/c/{id}", "TOTAL"):
        assert (action, "p50_ms") in flagged and (action, "p95_ms") in flagged
    assert comparison.improvements == []
    # the other way round it is an improvement, never a regression
    reverse = compare_runs(base, slow)
    assert reverse.regressions == [] and reverse.improvements


def test_a_real_but_immaterial_change_is_not_flagged(make_run) -> None:
    # 3 % slower over many samples: statistically detectable, but below the 10 % minimum effect
    base, slightly = summary_of(make_run, 1, n=20000), summary_of(make_run, 2, n=20000, scale=1.03)
    assert compare_runs(slightly, base).regressions == []
    strict = compare_runs(slightly, base, CompareSettings(min_change=0.0, min_change_ms=0.0))
    assert all(c.regression for c in strict.changes)


def test_error_rate_regression_needs_significance_and_size(make_run) -> None:
    def run_with_errors(errors: int, n: int = 1000):
        kinds = ["http_5xx"] * errors + [None] * (n - errors)
        frame = requests_frame(
            actions=["GET /e"] * n,
            latency_ms=np.full(n, 5.0),
            offsets_s=np.linspace(0, 9, n),
            error_kind=kinds,
        )
        return summarize(load_run(make_run([frame])))

    base = run_with_errors(10)
    assert compare_runs(run_with_errors(14), base).changes == []  # 1.0 % → 1.4 %: noise
    flagged = compare_runs(run_with_errors(60), base).regressions  # 1 % → 6 %
    assert [(c.action, c.metric) for c in flagged if c.action == "GET /e"] == [("GET /e", "error_rate")]
    assert flagged[0].candidate == pytest.approx(0.06)


def run_cli(*args) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracereplay", "report", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_exit_4_on_regression_only_with_fail_on_regression(make_run) -> None:
    base = make_run(random_workers(np.random.default_rng(1), n=2000))
    slow = make_run(random_workers(np.random.default_rng(2), n=2000, scale=1.6))
    same = make_run(random_workers(np.random.default_rng(3), n=2000))
    shown = run_cli(slow, "--baseline", base)
    assert shown.returncode == 0 and "regression" in shown.stdout
    gated = run_cli(slow, "--baseline", base, "--fail-on-regression", "--json")
    assert gated.returncode == 4
    assert json.loads(gated.stdout)["comparison"]["regressions"]
    assert run_cli(same, "--baseline", base, "--fail-on-regression").returncode == 0
    # a failed threshold wins over a regression
    assert (
        run_cli(slow, "--baseline", base, "--fail-on-regression", "--threshold", "p50_ms<1").returncode == 3
    )
    assert run_cli(slow, "--fail-on-regression").returncode == 2
