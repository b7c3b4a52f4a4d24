"""Show a :class:`~tracereplay.report.summary.Summary` as rich tables, CSV or Markdown.

Numbers are shown with enough digits to be read, never rounded to two significant figures: latencies
to 0.01 ms below 100 ms and 0.1 ms above; rates to four decimals.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table
from tracereplay.report.summary import COUNT_KEYS, LATENCY_KEYS, TOTAL, Summary

HEADERS = {
    "action": "action",
    "count": "count",
    "errors": "errors",
    "error_rate": "err %",
    "rps": "rps",
    "p50_ms": "p50 ms",
    "p90_ms": "p90 ms",
    "p95_ms": "p95 ms",
    "p99_ms": "p99 ms",
    "p999_ms": "p99.9 ms",
    "max_ms": "max ms",
    "mean_ms": "mean ms",
    "start": "start",
    "t_s": "t (s)",
    "requests": "requests",
    "active_users": "users",
}
SUMMARY_COLUMNS = ("action", *COUNT_KEYS, *LATENCY_KEYS)


def format_value(key: str, value: Any) -> str:
    """One cell as text (``-`` for missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "-"
    if key == "error_rate":
        return f"{100 * value:.2f}"
    if key in ("count", "errors", "requests"):
        return f"{int(value):,}"
    if key.endswith("_ms"):
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.1f}"
    if key == "start" and isinstance(value, pd.Timestamp):
        return value.strftime("%H:%M:%S")
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def summary_rows(summary: Summary) -> list[dict[str, Any]]:
    """Per-action rows then the total row, with :data:`SUMMARY_COLUMNS`."""
    rows = summary.actions[list(SUMMARY_COLUMNS)].to_dict("records")
    rows.append({"action": TOTAL, **{k: summary.total.get(k) for k in SUMMARY_COLUMNS[1:]}})
    return rows


def _table(
    title: str, columns: Iterable[str], rows: list[dict[str, Any]], *, total_last: bool = False
) -> Table:
    columns = list(columns)
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        text = column in ("action", "error_kind")
        table.add_column(
            HEADERS.get(column, column),
            justify="left" if text else "right",
            no_wrap=not text,
            overflow="fold",
        )
    for position, row in enumerate(rows):
        last = total_last and position == len(rows) - 1
        table.add_row(
            *(format_value(c, row.get(c)) for c in columns),
            style="bold" if last else None,
            end_section=position == len(rows) - 2 and total_last,
        )
    return table


def render_summary(summary: Summary, console: Console | None = None) -> None:
    """Print the run's summary tables: actions, errors by kind, sessions and (if computed) over time."""
    console = console or Console()
    info = summary.run
    console.print(
        f"[bold]run[/bold] {info['dir']}  target {info.get('target') or '-'}  "
        f"duration {format_value('d', info.get('duration_s'))} s"
        f"  exit reason {info.get('exit_reason') or '-'}  "
        f"latency {info['latency']}"
    )
    console.print(_table("Requests per action", SUMMARY_COLUMNS, summary_rows(summary), total_last=True))
    if len(summary.errors):
        console.print(
            _table("Errors by kind", ("action", "error_kind", "count"), summary.errors.to_dict("records"))
        )
    console.print(_sessions_line(summary.sessions))
    if summary.over_time is not None:
        render_over_time(summary.over_time, console)


def render_over_time(frame: pd.DataFrame, console: Console) -> None:
    columns = (
        "start",
        "t_s",
        "requests",
        "rps",
        "errors",
        "error_rate",
        "active_users",
        "p50_ms",
        "p95_ms",
        "p99_ms",
    )
    console.print(_table("Over time", columns, frame.to_dict("records")))


def _sessions_line(sessions: dict[str, Any]) -> str:
    def spread(stats: dict[str, Any]) -> str:
        return " ".join(f"{k} {format_value('x', stats.get(k))}" for k in ("mean", "p50", "p90", "max"))

    text = (
        f"[bold]sessions[/bold] {sessions.get('sessions', 0):,}"
        f"  actions/session {spread(sessions.get('actions_per_session') or {})}"
        f"  duration s {spread(sessions.get('session_duration_s') or {})}"
    )
    counted = ("sessions_started", "sessions_dropped", "peak_active_users")
    extras = [f"{k.replace('_', ' ')} {v:,}" for k, v in sessions.items() if k in counted]
    return text + ("  " + "  ".join(extras) if extras else "")


def to_csv(frame_rows: list[dict[str, Any]], columns: Iterable[str]) -> str:
    """Rows as CSV text (full precision, empty cells for missing values)."""
    buffer = io.StringIO()
    pd.DataFrame(frame_rows, columns=list(columns)).to_csv(buffer, index=False)
    return buffer.getvalue()


def markdown_table(columns: Iterable[str], rows: list[dict[str, Any]]) -> str:
    columns = list(columns)
    lines = [
        "| " + " | ".join(HEADERS.get(c, c) for c in columns) + " |",
        "|" + "|".join("---" if c in ("action", "error_kind") else "---:" for c in columns) + "|",
    ]
    for row in rows:
        cells = [format_value(c, row.get(c)).replace("|", "\\|") for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_markdown(summary: Summary) -> str:
    """The summary as GitHub-flavoured Markdown (for CI job summaries)."""
    info = summary.run
    parts = [
        f"## tracereplay run `{info['dir']}`",
        f"target `{info.get('target') or '-'}` · duration {format_value('d', info.get('duration_s'))} s · "
        f"exit {info.get('exit_reason') or '-'} · latency {info['latency']}",
        "### Requests per action",
        markdown_table(SUMMARY_COLUMNS, summary_rows(summary)),
    ]
    if len(summary.errors):
        parts += [
            "### Errors by kind",
            markdown_table(("action", "error_kind", "count"), summary.errors.to_dict("records")),
        ]
    parts += [
        "### Sessions",
        _sessions_line(summary.sessions).replace("[bold]", "**").replace("[/bold]", "**"),
    ]
    if summary.over_time is not None:
        columns = (
            "start",
            "t_s",
            "requests",
            "rps",
            "errors",
            "error_rate",
            "active_users",
            "p50_ms",
            "p95_ms",
            "p99_ms",
        )
        parts += ["### Over time", markdown_table(columns, summary.over_time.to_dict("records"))]
    return "\n\n".join(parts) + "\n"
