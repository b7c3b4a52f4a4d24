"""Threshold expressions: parsing, evaluation against known data, and the CLI's exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tracereplay.errors import ConfigError
from tracereplay.report import load_run, summarize
from tracereplay.report.thresholds import check_thresholds, parse_threshold, parse_thresholds

from .conftest import requests_frame


@pytest.fixture
def known_run(make_run):
    # GET /a: 1..100 ms, 5 errors; POST /b: 10 requests of 300 ms; 110 requests over 10 s
    latency = np.concatenate([np.arange(1, 101, dtype=float), np.full(10, 300.0)])
    actions = ["GET /a"] * 100 + ["POST /api/v4/posts"] * 10
    kinds = [None] * 95 + ["http_5xx"] * 5 + [None] * 10
    frame = requests_frame(
        actions=actions, latency_ms=latency, offsets_s=np.linspace(0, 9, 110), error_kind=kinds
    )
    return make_run([frame], duration_s=10.0)


def test_parse_the_issue_examples() -> None:
    assert parse_threshold("p99_ms<500").metric == "p99_ms"
    assert parse_threshold("error_rate<0.01").limit == 0.01
    assert parse_threshold("rps>100").op == ">"
    posts = parse_threshold("POST /api/v4/posts:p95_ms<200")
    assert (posts.action, posts.metric, posts.op, posts.limit) == ("POST /api/v4/posts", "p95_ms", "<", 200.0)
    assert parse_threshold("page:view:count >= 3").action == "page:view"


@pytest.mark.parametrize("expression", ["p99<5", "p99_ms<<5", "p99_ms<abc", "", "p99_ms", "GET /a:"])
def test_malformed_expressions_name_themselves(expression: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_threshold(expression)
    assert repr(expression) in str(caught.value)


def test_every_malformed_expression_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_thresholds(["p1<2", "ok_ms>", "p99_ms<5"])
    assert len(caught.value.problems) == 2


def test_evaluation_on_known_data(known_run) -> None:
    summary = summarize(load_run(known_run))
    results = check_thresholds(
        summary,
        [
            "GET /a:p99_ms<=99",  # exactly 99: passes
            "GET /a:p99_ms<99",  # fails
            "GET /a:error_rate<0.06",  # 0.05
            "error_rate<0.04",  # total 5/110 = 0.045: fails
            "rps>10",  # 11 rps
            "POST /api/v4/posts:p95_ms<200",  # 300: fails
            "GET /missing:count>0",  # not in the run: fails
        ],
    )
    assert [r.passed for r in results] == [True, False, True, False, True, False, False]
    assert results[3].actual == pytest.approx(5 / 110)
    assert results[6].note == "action not in this run"


def run_cli(*args) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracereplay", "report", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_exit_status_3_when_any_fails_0_when_all_pass_2_when_malformed(known_run) -> None:
    passing = run_cli(known_run, "--threshold", "p99_ms<500", "--threshold", "GET /a:p50_ms<=50")
    assert passing.returncode == 0, passing.stderr
    failing = run_cli(
        known_run, "--threshold", "p99_ms<500", "--threshold", "POST /api/v4/posts:p95_ms<200", "--json"
    )
    assert failing.returncode == 3
    document = json.loads(failing.stdout)
    assert [t["passed"] for t in document["thresholds"]] == [True, False]
    assert document["thresholds"][1]["actual"] == 300.0
    malformed = run_cli(known_run, "--threshold", "p99_ms<<5")
    assert malformed.returncode == 2 and "'p99_ms<<5'" in malformed.stderr
