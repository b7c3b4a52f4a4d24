"""Show a :class:`~tracereplay.report.summary.Summary` as rich tables, CSV or Markdown.

Numbers are shown with enough digits to be read, never rounded to two significant figures: latencies
to 0.01 ms below 100 ms and 0.1 ms above; rates to four decimals.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from tracereplay.report.summary import COUNT_KEYS, LATENCY_KEYS, TOTAL, Summary
from tracereplay.report.timeseries import OVER_TIME_COLUMNS
from tracereplay.report.websocket import WebSocketSummary
from tracereplay.terminal import make_console

if TYPE_CHECKING:
    from tracereplay.report.compare import Comparison
    from tracereplay.report.thresholds import ThresholdResult

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
    "type": "event type",
    "origins": "origins",
    "fanout": "fan-out",
    "fanout_max": "fan-out max",
}
#: The websocket tables (report/websocket.py).
DELIVERY_COLUMNS = (
    "type", "count", "origins", "fanout", "fanout_max", "p50_ms", "p95_ms", "p99_ms", "max_ms"
)
MESSAGE_COLUMNS = ("direction", "type", "count", "failed", "bytes")
SUMMARY_COLUMNS = ("action", *COUNT_KEYS, *LATENCY_KEYS)
_TEXT_COLUMNS = ("action", "error_kind", "threshold", "flag", "metric", "type", "direction")


def format_value(key: str, value: Any) -> str:
    """One cell as text (``-`` for missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "-"
    if key == "error_rate":
        return f"{100 * value:.2f}"
    if key in ("count", "errors", "expected", "requests", "origins", "failed", "bytes", "fanout_max"):
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
    rows = summary.actions.loc[:, list(SUMMARY_COLUMNS)].to_dict("records")
    rows.append({"action": TOTAL, **{k: summary.total.get(k) for k in SUMMARY_COLUMNS[1:]}})
    return rows


#: The title of the long-poll section, in every format.
LONG_POLL_TITLE = "Long-polls (held open on purpose; not in the headline figures or thresholds)"


def long_poll_rows(summary: Summary) -> list[dict[str, Any]]:
    """The long-poll actions' rows then their total (empty when the run had none)."""
    if summary.long_polls is None:
        return []
    rows = summary.long_polls.loc[:, list(SUMMARY_COLUMNS)].to_dict("records")
    total = summary.long_poll_total or {}
    rows.append({"action": TOTAL, **{k: total.get(k) for k in SUMMARY_COLUMNS[1:]}})
    return rows


def _table(
    title: str, columns: Iterable[str], rows: list[dict[str, Any]], *, total_last: bool = False
) -> Table:
    columns = list(columns)
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        text = column in _TEXT_COLUMNS
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


def render_summary(summary: Summary, console: Console | None = None, *, over_time: bool = True) -> None:
    """Print the run's summary tables: actions, errors by kind, sessions and (if computed) over time."""
    console = console or make_console()
    info = summary.run
    console.print(
        f"[bold]run[/bold] {info['dir']}  target {info.get('target') or '-'}  "
        f"duration {format_value('d', info.get('duration_s'))} s"
        f"  exit reason {info.get('exit_reason') or '-'}  "
        f"latency {info['latency']}"
    )
    console.print(_table("Requests per action", SUMMARY_COLUMNS, summary_rows(summary), total_last=True))
    if summary.long_polls is not None:
        console.print(_table(LONG_POLL_TITLE, SUMMARY_COLUMNS, long_poll_rows(summary), total_last=True))
    if len(summary.errors):
        console.print(
            _table("Errors by kind", ("action", "error_kind", "count"), summary.errors.to_dict("records"))
        )
    console.print(_sessions_line(summary.sessions))
    if summary.websocket is not None:
        render_websocket(summary.websocket, console)
    if over_time and summary.over_time is not None:
        render_over_time(summary.over_time, console)


def render_websocket(ws: WebSocketSummary, console: Console) -> None:
    """Delivery latency per event type, messages per type, and a line on connections and disconnects."""
    if len(ws.deliveries):
        rows = ws.deliveries.to_dict("records")
        console.print(_table("WebSocket delivery latency", DELIVERY_COLUMNS, rows, total_last=True))
    if len(ws.messages):
        console.print(_table("WebSocket messages", MESSAGE_COLUMNS, ws.messages.to_dict("records")))
    console.print(websocket_line(ws))


def websocket_line(ws: WebSocketSummary) -> str:
    """Connections (set-up time, failures) and disconnects by reason, in one line."""
    c = ws.connections
    failed = ", ".join(f"{k} {v:,}" for k, v in c.get("failed", {}).items()) or "none"
    drops = ", ".join(f"{k} {v:,}" for k, v in ws.disconnects.items()) or "none"
    p50, p99 = format_value("p50_ms", c.get("setup_p50_ms")), format_value("p99_ms", c.get("setup_p99_ms"))
    text = (
        f"[bold]websockets[/bold] {c.get('users', 0):,} users  connections {c.get('ok', 0):,} of "
        f"{c.get('attempts', 0):,} (failed: {failed})  set-up p50 {p50} p99 {p99} ms  disconnects: {drops}"
    )
    if ws.clock_skewed:
        text += f"  ({ws.clock_skewed:,} deliveries stamped before their origin: counted as 0 ms)"
    return text


def render_over_time(frame: pd.DataFrame, console: Console) -> None:
    console.print(_table("Over time", OVER_TIME_COLUMNS, frame.to_dict("records")))


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
        "|" + "|".join("---" if c in _TEXT_COLUMNS else "---:" for c in columns) + "|",
    ]
    for row in rows:
        cells = [
            (row.get(c) if isinstance(row.get(c), str) else format_value(c, row.get(c))) or ""
            for c in columns
        ]
        cells = [cell.replace("|", "\\|") for cell in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_markdown(summary: Summary, *, over_time: bool = True) -> str:
    """The summary as GitHub-flavoured Markdown (for CI job summaries)."""
    info = summary.run
    parts = [
        f"## tracereplay run `{info['dir']}`",
        f"target `{info.get('target') or '-'}` · duration {format_value('d', info.get('duration_s'))} s · "
        f"exit {info.get('exit_reason') or '-'} · latency {info['latency']}",
        "### Requests per action",
        markdown_table(SUMMARY_COLUMNS, summary_rows(summary)),
    ]
    if summary.long_polls is not None:
        parts += [f"### {LONG_POLL_TITLE}", markdown_table(SUMMARY_COLUMNS, long_poll_rows(summary))]
    if len(summary.errors):
        parts += [
            "### Errors by kind",
            markdown_table(("action", "error_kind", "count"), summary.errors.to_dict("records")),
        ]
    parts += [
        "### Sessions",
        _sessions_line(summary.sessions).replace("[bold]", "**").replace("[/bold]", "**"),
    ]
    ws = summary.websocket
    if ws is not None:
        parts += ["### WebSockets", websocket_line(ws).replace("[bold]", "**").replace("[/bold]", "**")]
        if len(ws.deliveries):
            parts.append(markdown_table(DELIVERY_COLUMNS, ws.deliveries.to_dict("records")))
    if over_time and summary.over_time is not None:
        parts += ["### Over time", markdown_table(OVER_TIME_COLUMNS, summary.over_time.to_dict("records"))]
    return "\n\n".join(parts) + "\n"


COMPARED = ("count", "error_rate", "p50_ms", "p95_ms", "p99_ms", "p999_ms")


def comparison_rows(comparison: Comparison) -> list[dict[str, str]]:
    """One row per action: ``baseline → candidate (Δ%)`` per compared metric, with a flag marker."""
    rows: dict[str, dict[str, str]] = {}
    for record in comparison.table.to_dict("records"):
        if record["metric"] not in COMPARED:
            continue
        row = rows.setdefault(record["action"], {"action": record["action"], "flag": ""})
        metric = record["metric"]
        cell = f"{format_value(metric, record['baseline'])} → {format_value(metric, record['candidate'])}"
        if record["delta_pct"] is not None and not math.isnan(record["delta_pct"]):
            pct = record["delta_pct"]
            cell += f" {pct:+.1f}%" if abs(pct) < 10 else f" {pct:+.0f}%"
        if record["flag"] == "regression":
            cell, row["flag"] = f"▲ {cell}", "regression"
        elif record["flag"] == "improvement":
            cell = f"▼ {cell}"
            row["flag"] = row["flag"] or "improvement"
        row[record["metric"]] = cell
    return list(rows.values())


def render_comparison(comparison: Comparison, console: Console, baseline_dir: str) -> None:
    table = Table(title=f"Compared with baseline {baseline_dir}", title_justify="left", header_style="bold")
    for column in ("action", *COMPARED):
        table.add_column(HEADERS.get(column, column), justify="left" if column == "action" else "right")
    for row in comparison_rows(comparison):
        style = {"regression": "red", "improvement": "green"}.get(row["flag"])
        table.add_row(*(row.get(c, "-") for c in ("action", *COMPARED)), style=style)
    console.print(table)
    for change in comparison.changes:
        word = "[red]regression[/red]" if change.regression else "[green]improvement[/green]"
        console.print(
            f"{word} {change.action} {change.metric}: {format_value(change.metric, change.baseline)} → "
            f"{format_value(change.metric, change.candidate)} ({change.evidence})"
        )
    if not comparison.changes:
        console.print("no material, statistically real change against the baseline")


def render_thresholds(results: list[ThresholdResult], console: Console) -> None:
    table = Table(title="Thresholds", title_justify="left", header_style="bold")
    for column in ("threshold", "actual", "result"):
        table.add_column(column, justify="left" if column == "threshold" else "right")
    for result in results:
        metric = result.threshold.metric
        verdict = "[green]pass[/green]" if result.passed else f"[red]FAIL[/red] {result.note}".strip()
        table.add_row(result.threshold.expression, format_value(metric, result.actual), verdict)
    console.print(table)


def comparison_markdown(comparison: Comparison, baseline_dir: str) -> str:
    parts = [
        f"### Compared with baseline `{baseline_dir}`",
        markdown_table(("action", *COMPARED, "flag"), comparison_rows(comparison)),
    ]
    return "\n\n".join(parts)


def thresholds_markdown(results: list[ThresholdResult]) -> str:
    rows = [
        {
            "threshold": r.threshold.expression,
            "actual": format_value(r.threshold.metric, r.actual),
            "result": "pass" if r.passed else f"FAIL {r.note}".strip(),
        }
        for r in results
    ]
    return "### Thresholds\n\n" + markdown_table(("threshold", "actual", "result"), rows)


def fidelity_markdown(fidelity: dict[str, Any]) -> str:
    """``model.compare``'s report (its ``to_dict()``) as a Markdown table."""
    rows = [
        {
            "metric": m.get("description") or m.get("name"),
            "value": "-" if m.get("value") is None else f"{m['value']:.4f}",
            "threshold": "-" if m.get("threshold") is None else f"≤ {m['threshold']:g}",
            "result": {True: "pass", False: "FAIL", None: "-"}[m.get("passed")],
        }
        for m in fidelity.get("metrics", [])
    ]
    title = "### Fidelity of the run against the source events"
    table = markdown_table(("metric", "value", "threshold", "result"), rows)
    return f"{title}\n\nverdict: **{fidelity.get('verdict')}**\n\n{table}"
