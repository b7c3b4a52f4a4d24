"""The report's figures, drawn with matplotlib's Agg renderer (no display, no network).

Every function takes summary data and returns a :class:`matplotlib.figure.Figure` built without pyplot
(so no global figure state and no GUI backend); :mod:`.html` embeds them as PNG. Import this module
only where plots are needed: matplotlib is slow to import.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter

from tracereplay.report.summary import TOTAL, Summary

MAX_SERIES = 10  # more lines than this are unreadable; the busiest actions are drawn
_SIZE = (9.0, 3.6)


def throughput_over_time(over_time: pd.DataFrame) -> Figure:
    """Requests and errors per second per bucket, with active users on a second axis."""
    figure = Figure(figsize=_SIZE, layout="constrained")
    axes = figure.add_subplot()
    seconds = over_time["t_s"].to_numpy()
    ok_rps = over_time["rps"].to_numpy() * (1 - np.nan_to_num(over_time["error_rate"].to_numpy()))
    error_rps = over_time["rps"].to_numpy() - ok_rps
    axes.stackplot(
        seconds,
        ok_rps,
        error_rps,
        labels=["ok / s", "errors / s"],
        colors=["#4c78a8", "#e45756"],
        step="post",
        alpha=0.85,
    )
    axes.set_xlabel("time since start (s)")
    axes.set_ylabel("requests / s")
    axes.set_title("Throughput over time")
    if over_time["active_users"].notna().to_numpy().any():
        users = axes.twinx()
        users.plot(seconds, over_time["active_users"], color="#333333", linewidth=1.2, label="active users")
        users.set_ylabel("active users")
        users.set_ylim(bottom=0)
        users.legend(loc="upper right", fontsize="small")
    axes.legend(loc="upper left", fontsize="small")
    axes.set_ylim(bottom=0)
    return figure


def latency_over_time(over_time: pd.DataFrame, latency: str) -> Figure:
    """p50, p95 and p99 latency per bucket (log scale when they span more than a decade)."""
    figure = Figure(figsize=_SIZE, layout="constrained")
    axes = figure.add_subplot()
    for column, color in (("p50_ms", "#4c78a8"), ("p95_ms", "#f58518"), ("p99_ms", "#e45756")):
        axes.plot(
            over_time["t_s"],
            over_time[column],
            label=column.removesuffix("_ms"),
            color=color,
            drawstyle="steps-post",
            linewidth=1.4,
        )
    values = over_time[["p50_ms", "p99_ms"]].to_numpy(dtype=float)
    if np.isfinite(values).any() and np.nanmin(values) > 0 and np.nanmax(values) / np.nanmin(values) > 10:
        axes.set_yscale("log")
    axes.set_xlabel("time since start (s)")
    axes.set_ylabel(f"latency ({latency}), ms")
    axes.set_title("Latency over time")
    axes.legend(fontsize="small")
    return figure


def latency_distribution(summary: Summary) -> Figure:
    """Latency by percentile per action (HdrHistogram's percentile-spectrum plot, x in 'nines')."""
    figure = Figure(figsize=(9.0, 4.4), layout="constrained")
    axes = figure.add_subplot()
    busiest = summary.actions.sort_values("count", ascending=False)["action"].head(MAX_SERIES).tolist()
    for action in [*busiest, TOTAL]:
        counts, largest = summary.histogram(action)
        if counts.sum() == 0:
            continue
        present = counts > 0
        fraction = np.cumsum(counts[present]) / counts.sum()
        nines = 1.0 / np.maximum(1.0 - fraction, 1e-6)
        total = action == TOTAL
        axes.step(
            np.concatenate([[1.0], nines]),
            np.concatenate([largest[present][:1], largest[present]]),
            where="post",
            label=action,
            color="black" if total else None,  # None: the next colour of the cycle, as when left out
            linewidth=2.2 if total else 1.2,
        )
    axes.set_xscale("log")
    ticks = [1, 2, 10, 100, 1000, 10000, 100000, 1e6]
    axes.xaxis.set_major_locator(FixedLocator(ticks))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{100 * (1 - 1 / x):g}%"))
    axes.set_xlabel("percentile")
    axes.set_ylabel(f"latency ({summary.run['latency']}), ms")
    axes.set_title("Latency distribution per action")
    if axes.get_lines():
        axes.legend(fontsize="x-small", loc="upper left")
    else:
        axes.text(0.5, 0.5, "no latency samples", transform=axes.transAxes, ha="center")
    return figure


def errors_by_action(summary: Summary) -> Figure:
    """Errors per action, stacked by error kind."""
    table = summary.errors.pivot_table(
        index="action", columns="error_kind", values="count", aggfunc="sum", fill_value=0
    )
    figure = Figure(figsize=(9.0, max(2.0, 0.45 * len(table) + 1.2)), layout="constrained")
    axes = figure.add_subplot()
    left = np.zeros(len(table))
    for kind in table.columns:
        axes.barh(table.index, table[kind], left=left, label=str(kind))
        left += table[kind].to_numpy()
    axes.set_xlabel("errors")
    axes.set_title("Errors by action and kind")
    if len(table.columns):
        axes.legend(fontsize="small")
    axes.invert_yaxis()
    return figure
