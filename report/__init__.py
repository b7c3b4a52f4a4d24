"""Report stage: read a run directory, summarise it, compare runs, check thresholds, write pages.

    run = load_run("runs/1")                 # Run: .requests DataFrame, .users, .meta, .summary
    summary = summarize(run, bucket="5s")    # Summary: .actions, .total, .errors, .sessions, .over_time
    render_summary(summary, console)         # rich tables in the terminal
    summary.to_dict()                        # the --json document (docs/reporting.md)
    compare_runs(summary, baseline_summary)  # Comparison: .table, .regressions, .improvements
    check_thresholds(summary, ["p99_ms<500"])
    write_html(summary, "report.html")

Importing this package does not import matplotlib or scipy; they load when a page or a comparison is made.
"""

from __future__ import annotations

from tracereplay.report.compare import CompareSettings, Comparison, compare_runs
from tracereplay.report.html import write_html
from tracereplay.report.load import Run, load_run
from tracereplay.report.render import render_summary
from tracereplay.report.summary import Latency, Summary, summarize
from tracereplay.report.thresholds import ThresholdResult, check_thresholds

__all__ = [
    "CompareSettings",
    "Comparison",
    "Latency",
    "Run",
    "Summary",
    "ThresholdResult",
    "check_thresholds",
    "compare_runs",
    "load_run",
    "render_summary",
    "summarize",
    "write_html",
]
