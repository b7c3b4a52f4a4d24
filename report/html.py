"""One self-contained HTML page for a run: summary tables and plots, no network needed to open it.

Plots are PNGs embedded as ``data:`` URIs; the style sheet is inline; there are no scripts and no
external references, so the page can be attached to a CI job, mailed, or opened offline.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tracereplay.files import atomic_path
from tracereplay.report.render import (
    COMPARED,
    DELIVERY_COLUMNS,
    HEADERS,
    LONG_POLL_TITLE,
    MESSAGE_COLUMNS,
    SUMMARY_COLUMNS,
    comparison_rows,
    format_value,
    long_poll_rows,
    summary_rows,
    websocket_line,
)
from tracereplay.report.summary import Summary
from tracereplay.report.timeseries import OVER_TIME_COLUMNS

if TYPE_CHECKING:
    from tracereplay.report.compare import Comparison
    from tracereplay.report.thresholds import ThresholdResult

NO_CHANGE = "No material, statistically real change against the baseline"
_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5em 0; font-variant-numeric: tabular-nums; }
th, td { padding: .25em .6em; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th { background: #f6f6f6; } td.text, th.text { text-align: left; }
tr.total td { font-weight: bold; border-top: 2px solid #999; }
.pass, .improvement { color: #1a7f37; } .fail, .regression { color: #c62828; font-weight: bold; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; } dt { color: #666; }
"""


def write_html(
    summary: Summary,
    path: str | Path,
    *,
    comparison: Comparison | None = None,
    baseline_dir: str | None = None,
    thresholds: list[ThresholdResult] | None = None,
    fidelity: dict[str, Any] | None = None,
) -> Path:
    """Write the page to exactly ``path`` (atomically). ``summary`` should have its over-time table."""
    target = Path(path)
    page = render_html(
        summary, comparison=comparison, baseline_dir=baseline_dir, thresholds=thresholds, fidelity=fidelity
    )
    with atomic_path(target) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return target


def render_html(
    summary: Summary,
    *,
    comparison: Comparison | None = None,
    baseline_dir: str | None = None,
    thresholds: list[ThresholdResult] | None = None,
    fidelity: dict[str, Any] | None = None,
) -> str:
    """The page as a string."""
    from tracereplay.report import plots

    info = summary.run
    parts = [f"<h1>tracereplay run <code>{escape(str(info['dir']))}</code></h1>", _run_facts(info)]
    if thresholds:
        parts += ["<h2>Thresholds</h2>", _thresholds(thresholds)]
    if comparison is not None:
        parts += [
            f"<h2>Compared with baseline <code>{escape(baseline_dir or '')}</code></h2>",
            _comparison(comparison),
        ]
    parts += ["<h2>Requests per action</h2>", _table(SUMMARY_COLUMNS, summary_rows(summary), total_last=True)]
    if summary.long_polls is not None:
        parts += [
            f"<h2>{escape(LONG_POLL_TITLE)}</h2>",
            _table(SUMMARY_COLUMNS, long_poll_rows(summary), total_last=True),
        ]
    over_time = summary.over_time
    parts.append("<h2>Over time</h2>")
    if over_time is not None and len(over_time):
        parts.append(_figure(plots.throughput_over_time(over_time), "throughput", "Throughput over time"))
        parts.append(
            _figure(
                plots.latency_over_time(over_time, info["latency"]), "latency-over-time", "Latency over time"
            )
        )
    else:
        parts.append("<p>No over-time data.</p>")
    parts += [
        "<h2>Latency distribution</h2>",
        _figure(
            plots.latency_distribution(summary), "latency-distribution", "Latency distribution per action"
        ),
    ]
    parts.append("<h2>Errors</h2>")
    if len(summary.errors):
        parts.append(_figure(plots.errors_by_action(summary), "errors", "Errors by action and kind"))
        parts.append(_table(("action", "error_kind", "count"), summary.errors.to_dict("records")))
    else:
        parts.append("<p>No errors.</p>")
    parts += ["<h2>Sessions</h2>", _sessions(summary.sessions)]
    if summary.websocket is not None:
        parts += ["<h2>WebSockets</h2>", _websocket(summary)]
    if over_time is not None and len(over_time):
        parts += [
            "<details><summary>Over-time table</summary>",
            _table(OVER_TIME_COLUMNS, over_time.to_dict("records")),
            "</details>",
        ]
    if fidelity is not None:
        parts += ["<h2>Fidelity of the run against the source events</h2>", _fidelity(fidelity)]
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>tracereplay report: {escape(str(info['dir']))}</title><style>{_STYLE}</style></head>\n"
        f"<body>\n{body}\n<footer><p>percentiles: {escape(str(info.get('percentiles')))}</p></footer>\n"
        "</body></html>\n"
    )


def _figure(figure: Any, ident: str, caption: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<figure id="plot-{ident}"><img class="plot" alt="{escape(caption)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{escape(caption)}</figcaption></figure>'
    )


def _cell(column: str, value: Any) -> str:
    text = value if isinstance(value, str) else format_value(column, value)
    if isinstance(value, pd.Timestamp):
        text = value.strftime("%H:%M:%S")
    return escape(text)


def _table(columns: Iterable[str], rows: list[dict[str, Any]], *, total_last: bool = False) -> str:
    columns = list(columns)
    text = {"action", "error_kind", "threshold", "flag", "metric", "type", "direction"}
    head = "".join(
        f'<th class="{"text" if c in text else "num"}">{escape(HEADERS.get(c, c))}</th>' for c in columns
    )
    lines = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for position, row in enumerate(rows):
        css = row.get("_class") or ("total" if total_last and position == len(rows) - 1 else "")
        cells = "".join(
            f'<td class="{"text" if c in text else "num"}">{_cell(c, row.get(c))}</td>' for c in columns
        )
        lines.append(f'<tr class="{css}">{cells}</tr>')
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _run_facts(info: dict[str, Any]) -> str:
    keys = ("target", "started", "ended", "duration_s", "exit_reason", "workers", "latency")
    return (
        "<dl>"
        + "".join(f"<dt>{escape(k)}</dt><dd>{escape(format_value(k, info.get(k)))}</dd>" for k in keys)
        + "</dl>"
    )


def _thresholds(results: list[ThresholdResult]) -> str:
    rows = [
        {
            "threshold": r.threshold.expression,
            "actual": format_value(r.threshold.metric, r.actual),
            "result": "pass" if r.passed else f"FAIL {r.note}".strip(),
            "_class": "pass" if r.passed else "fail",
        }
        for r in results
    ]
    return _table(("threshold", "actual", "result"), rows)


def _comparison(comparison: Comparison) -> str:
    rows = [{**row, "_class": row["flag"]} for row in comparison_rows(comparison)]
    table = _table(("action", *COMPARED, "flag"), rows)
    if not comparison.changes:
        return table + f"<p>{NO_CHANGE}.</p>"
    items = "".join(
        f'<li class="{"regression" if c.regression else "improvement"}">'
        f"{escape(c.action)} {escape(c.metric)}: "
        f"{escape(format_value(c.metric, c.baseline))} → {escape(format_value(c.metric, c.candidate))} "
        f"({escape(c.evidence)})</li>"
        for c in comparison.changes
    )
    return table + f"<ul>{items}</ul>"


def _fidelity(fidelity: dict[str, Any]) -> str:
    verdict = escape(str(fidelity.get("verdict", "-")))
    rows = [
        {
            "metric": m.get("description") or m.get("name"),
            "value": _number(m.get("value")),
            "threshold": _number(m.get("threshold")),
            "result": {True: "pass", False: "FAIL", None: "-"}[m.get("passed")],
            "_class": {True: "pass", False: "fail", None: ""}[m.get("passed")],
        }
        for m in fidelity.get("metrics", [])
    ]
    facts = _mapping({"reference": fidelity.get("reference"), "candidate": fidelity.get("candidate")})
    return (
        f"<p>verdict: <b>{verdict}</b></p>" + facts + _table(("metric", "value", "threshold", "result"), rows)
    )


def _websocket(summary: Summary) -> str:
    ws = summary.websocket
    assert ws is not None
    line = websocket_line(ws).replace("[bold]", "").replace("[/bold]", "")
    parts = [f"<p>{escape(line)}</p>", '<h3 id="delivery-latency">Delivery latency per event type</h3>']
    if len(ws.deliveries):
        parts.append(_table(DELIVERY_COLUMNS, ws.deliveries.to_dict("records"), total_last=True))
    else:
        parts.append("<p>No correlated deliveries (the pack tagged no sends, or none arrived).</p>")
    if len(ws.messages):
        parts += ["<h3>Messages per type</h3>", _table(MESSAGE_COLUMNS, ws.messages.to_dict("records"))]
    return "\n".join(parts)


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def _sessions(sessions: dict[str, Any]) -> str:
    return _mapping(sessions)


def _mapping(values: dict[str, Any]) -> str:
    def show(value: Any) -> str:
        if isinstance(value, dict):
            return ", ".join(f"{k} {show(v)}" for k, v in value.items())
        if isinstance(value, list):
            return ", ".join(show(v) for v in value)
        return format_value("x", value)

    return (
        "<dl>"
        + "".join(f"<dt>{escape(str(k))}</dt><dd>{escape(show(v))}</dd>" for k, v in values.items())
        + "</dl>"
    )
