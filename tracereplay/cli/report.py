"""The ``tracereplay report`` verb. Registered by :mod:`tracereplay.cli`.

Heavy imports (pandas, numpy, matplotlib) happen inside the command so ``tracereplay --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

EXIT_THRESHOLD = 3
EXIT_REGRESSION = 4


def register(cli: click.Group) -> None:
    """Add ``report`` to ``cli``."""
    cli.add_command(report)


def _bucket(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    from tracereplay.durations import parse_duration
    from tracereplay.errors import ConfigError

    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None
    if seconds < 0.001:
        raise click.BadParameter(f"{value!r} is too small (at least 1ms)")
    return seconds


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--json", "as_json", is_flag=True, help="Print the summary as JSON (shape in docs/reporting.md)."
)
@click.option(
    "--csv",
    "as_csv",
    is_flag=True,
    help="Print the per-action table as CSV (the over-time table with --bucket).",
)
@click.option(
    "--markdown",
    "as_markdown",
    is_flag=True,
    help="Print the report as Markdown (e.g. for a CI job summary).",
)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Write the printed output to exactly this file."
)
@click.option(
    "--bucket",
    callback=_bucket,
    metavar="DURATION",
    help="Add the over-time table with this bucket (e.g. 5s).",
)
@click.option(
    "--latency",
    type=click.Choice(["corrected", "measured"]),
    default="corrected",
    show_default=True,
    help="Headline latency: from the intended start (corrected, wrk2's rule) or the actual start.",
)
def report(
    run_dir: Path,
    as_json: bool,
    as_csv: bool,
    as_markdown: bool,
    output: Path | None,
    bucket: float | None,
    latency: str,
) -> None:
    """Summarise a run: per action count, errors, rps and latency percentiles.

    \b
    Examples:
      tracereplay report runs/1
      tracereplay report runs/1 --bucket 5s
      tracereplay report runs/1 --json -o summary.json
      tracereplay report runs/1 --markdown >> "$GITHUB_STEP_SUMMARY"

    \b
    Exit status: 0 ok, 1 error (unreadable run), 2 usage.
    """
    if sum((as_json, as_csv, as_markdown)) > 1:
        raise click.UsageError("choose one of --json, --csv, --markdown")
    from tracereplay.report import load_run, summarize

    run = load_run(run_dir)
    summary = summarize(run, latency=latency, bucket=bucket)
    if as_json:
        _emit(json.dumps(summary.to_dict(), indent=2) + "\n", output)
    elif as_csv:
        from tracereplay.report.render import SUMMARY_COLUMNS, summary_rows, to_csv
        from tracereplay.report.timeseries import OVER_TIME_COLUMNS

        if summary.over_time is not None:
            _emit(to_csv(summary.over_time.to_dict("records"), OVER_TIME_COLUMNS), output)
        else:
            _emit(to_csv(summary_rows(summary), SUMMARY_COLUMNS), output)
    elif as_markdown:
        from tracereplay.report.render import summary_markdown

        _emit(summary_markdown(summary), output)
    else:
        _print_tables(summary, output)


def _console(file=None):
    from rich.console import Console

    if file is not None:
        return Console(file=file, width=160, color_system=None)
    console = Console()
    return console if console.is_terminal else Console(width=max(console.width, 160))


def _print_tables(summary, output: Path | None) -> None:
    from tracereplay.report.render import render_summary

    if output is None:
        render_summary(summary, _console())
        return
    from tracereplay.ingest.events import atomic_path

    with atomic_path(output) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        render_summary(summary, _console(handle))


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    from tracereplay.ingest.events import atomic_path

    with atomic_path(output) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
