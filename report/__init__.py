"""Report stage: read a run directory, summarise it, compare runs, check thresholds, write pages.

run = load_run("runs/1")                 # Run: .requests DataFrame, .users, .meta, .summary
summary = summarize(run, bucket="5s")    # Summary: .actions, .total, .errors, .sessions, .over_time
render_summary(summary, console)         # rich tables in the terminal
summary.to_dict()                        # the --json document (docs/reporting.md)
"""

from __future__ import annotations

from tracereplay.report.load import Run, load_run
from tracereplay.report.render import render_summary
from tracereplay.report.summary import Latency, Summary, summarize

__all__ = ["Latency", "Run", "Summary", "load_run", "render_summary", "summarize"]
