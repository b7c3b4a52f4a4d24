"""The report package's public surface: what a notebook imports, and that it stays light to import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import tracereplay
import tracereplay.report as report

from .conftest import random_workers


def test_public_names_are_exported_and_sorted() -> None:
    assert report.__all__ == sorted(report.__all__)
    for name in report.__all__:
        assert getattr(report, name) is not None


def test_top_level_load_run_gives_requests_and_summary(make_run) -> None:
    run = tracereplay.load_run(make_run(random_workers(np.random.default_rng(8), n=200)))
    assert len(run.requests) == 400 and run.requests["ts"].is_monotonic_increasing
    assert run.summary.total["count"] == 400
    assert tracereplay.summarize(run).total == run.summary.total


def test_importing_the_package_does_not_load_matplotlib_or_scipy() -> None:
    code = "import sys, tracereplay.report; print([m for m in ('matplotlib', 'scipy') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
