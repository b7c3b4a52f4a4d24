"""The ``tracereplay report`` verb. Registered by :mod:`tracereplay.cli`.

Heavy imports (pandas, numpy, matplotlib) happen inside the command so ``tracereplay --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from tracereplay.cli.params import Duration
from tracereplay.files import atomic_path

EXIT_THRESHOLD = 3
EXIT_REGRESSION = 4
_NICE_BUCKETS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


def register(cli: click.Group) -> None:
    """Add ``report`` to ``cli``."""
    cli.add_command(report)


def _thresholds(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[Any]:
    from tracereplay.errors import ConfigError
    from tracereplay.report.thresholds import parse_thresholds

    try:
        return parse_thresholds(values)
    except ConfigError as exc:
        raise click.BadParameter("; ".join(exc.problems)) from None


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--json", "as_json", is_flag=True, help="Print the report as JSON (shape in docs/reporting.md)."
)
@click.option(
    "--csv", "as_csv", is_flag=True, help="Print the per-action table as CSV (over time with --bucket)."
)
@click.option(
    "--markdown", "as_markdown", is_flag=True, help="Print the report as Markdown (CI job summaries)."
)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Write the printed output to exactly this file."
)
@click.option("--bucket", type=Duration(minimum=0.001), help="Add the over-time table (e.g. 5s).")
@click.option(
    "--latency",
    type=click.Choice(["corrected", "measured"]),
    default="corrected",
    show_default=True,
    help="Headline latency: from the intended start (wrk2's rule) or from the actual start.",
)
@click.option(
    "--include-long-polls",
    is_flag=True,
    help="Count long-poll requests in the headline figures and thresholds (default: their own section).",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Also write one self-contained HTML page with plots to exactly FILE.",
)
@click.option(
    "--baseline",
    type=click.Path(path_type=Path),
    metavar="OTHER_RUN",
    help="Compare with another run directory, action by action.",
)
@click.option(
    "--fail-on-regression", is_flag=True, help=f"Exit {EXIT_REGRESSION} when --baseline flags a regression."
)
@click.option(
    "--min-change",
    type=click.FloatRange(min=0),
    default=0.10,
    show_default=True,
    help="Smallest relative latency change --baseline may flag.",
)
@click.option(
    "--min-change-ms",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Smallest absolute latency change (ms) --baseline may flag.",
)
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    callback=_thresholds,
    metavar="EXPR",
    help=f"[ACTION:]METRIC OP NUMBER, e.g. p99_ms<500; repeatable; exit {EXIT_THRESHOLD} if any fails.",
)
@click.option(
    "--against",
    type=click.Path(path_type=Path),
    metavar="EVENTS",
    help="Compare the run's traffic with these source events (model fidelity).",
)
def report(
    run_dir: Path,
    as_json: bool,
    as_csv: bool,
    as_markdown: bool,
    output: Path | None,
    bucket: float | None,
    latency: str,
    include_long_polls: bool,
    html_path: Path | None,
    baseline: Path | None,
    fail_on_regression: bool,
    min_change: float,
    min_change_ms: float,
    thresholds: list[Any],
    against: Path | None,
) -> None:
    """Summarise a run: per action count, errors, rps and latency percentiles; compare and gate.

    \b
    Examples:
      tracereplay report runs/1
      tracereplay report runs/1 --bucket 5s --html report.html
      tracereplay report runs/2 --baseline runs/1 --fail-on-regression
      tracereplay report runs/1 --threshold 'p99_ms<500' --threshold 'POST /api/v4/posts:error_rate<0.01'
      tracereplay report runs/1 --json -o summary.json
      tracereplay report runs/1 --markdown >> "$GITHUB_STEP_SUMMARY"

    \b
    Exit status: 0 ok, 1 error (e.g. an unreadable run), 2 usage (e.g. a malformed --threshold),
    3 a threshold failed or the --against verdict is FAIL, 4 a regression was flagged with
    --fail-on-regression (3 wins if both).
    """
    if sum((as_json, as_csv, as_markdown)) > 1:
        raise click.UsageError("choose one of --json, --csv, --markdown")
    if fail_on_regression and baseline is None:
        raise click.UsageError("--fail-on-regression needs --baseline")
    from tracereplay.report import load_run, summarize
    from tracereplay.report.compare import CompareSettings, compare_runs
    from tracereplay.report.thresholds import check_thresholds

    run = load_run(run_dir)
    baseline_run = load_run(baseline) if baseline is not None else None
    summary = summarize(
        run,
        latency=latency,
        bucket=bucket or (_auto_bucket(run) if html_path else None),
        include_long_polls=include_long_polls,
    )
    comparison = None
    if baseline_run is not None:
        settings = CompareSettings(min_change=min_change, min_change_ms=min_change_ms)
        other = summarize(baseline_run, latency=latency, include_long_polls=include_long_polls)
        comparison = compare_runs(summary, other, settings)
    results = check_thresholds(summary, thresholds) if thresholds else []
    fidelity_report, fidelity = None, None
    if against is not None:
        from tracereplay.report.fidelity import fidelity as run_fidelity

        fidelity_report = run_fidelity(run, against)
        fidelity = fidelity_report.to_dict()
    if html_path is not None:
        from tracereplay.report.html import write_html

        write_html(
            summary,
            html_path,
            comparison=comparison,
            baseline_dir=str(baseline),
            thresholds=results,
            fidelity=fidelity,
        )
    show_over_time = bucket is not None
    if as_json:
        document = summary.to_dict()
        if not show_over_time:
            document.pop("over_time", None)
        if comparison is not None:
            document["comparison"] = {"baseline": str(baseline), **comparison.to_dict()}
        if thresholds:
            document["thresholds"] = [r.to_dict() for r in results]
        if fidelity is not None:
            document["fidelity"] = fidelity
        _emit(json.dumps(document, indent=2, default=str) + "\n", output)
    elif as_csv:
        from tracereplay.report.render import SUMMARY_COLUMNS, summary_rows, to_csv
        from tracereplay.report.timeseries import OVER_TIME_COLUMNS

        if show_over_time and summary.over_time is not None:
            _emit(to_csv(summary.over_time.to_dict("records"), OVER_TIME_COLUMNS), output)
        else:
            _emit(to_csv(summary_rows(summary), SUMMARY_COLUMNS), output)
    elif as_markdown:
        from tracereplay.report import render

        parts = [render.summary_markdown(summary, over_time=show_over_time)]
        if comparison is not None:
            parts.append(render.comparison_markdown(comparison, str(baseline)))
        if thresholds:
            parts.append(render.thresholds_markdown(results))
        if fidelity is not None:
            parts.append(render.fidelity_markdown(fidelity))
        _emit("\n\n".join(parts) + "\n", output)
    else:
        _print_tables(
            summary,
            output,
            show_over_time=show_over_time,
            comparison=comparison,
            baseline=str(baseline),
            results=results,
            fidelity=fidelity_report,
        )
    failed_fidelity = fidelity_report is not None and not fidelity_report.passed
    if any(not r.passed for r in results) or failed_fidelity:
        sys.exit(EXIT_THRESHOLD)  # a failed --against verdict gates as `compare` does
    if fail_on_regression and comparison is not None and comparison.regressions:
        sys.exit(EXIT_REGRESSION)


def _auto_bucket(run: Any) -> float:
    """A bucket giving about 120 points over the run (5 s when the run's length is unknown)."""
    started, ended = run.started, run.ended
    if started is None or ended is None:
        return 5.0
    wanted = (ended - started).total_seconds() / 120
    return float(next((b for b in _NICE_BUCKETS_S if b >= wanted), _NICE_BUCKETS_S[-1]))


def _console(file: Any = None) -> Any:
    from tracereplay.terminal import make_console

    return make_console(file=file)


def _print_tables(summary: Any, output: Path | None, **parts: Any) -> None:
    if output is None:
        _render_all(summary, _console(), **parts)
        return

    with atomic_path(output) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        _render_all(summary, _console(handle), **parts)


def _render_all(
    summary: Any,
    console: Any,
    *,
    show_over_time: bool,
    comparison: Any,
    baseline: str,
    results: list[Any],
    fidelity: Any,
) -> None:
    from tracereplay.report import render

    render.render_summary(summary, console, over_time=show_over_time)
    if comparison is not None:
        render.render_comparison(comparison, console, baseline)
    if results:
        render.render_thresholds(results, console)
    if fidelity is not None:
        console.print("[bold]Fidelity of the run against the source events[/bold]")
        fidelity.render(console)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return

    with atomic_path(output) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
