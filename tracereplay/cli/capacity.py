"""``tracereplay capacity``: the largest load a target takes while every SLO holds (docs/service.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from tracereplay.cli.params import DURATION, FRACTION

EXIT_NO_CAPACITY = 3  # even the first step breached: the same status as a failed report threshold


@click.command("capacity")
@click.argument("model", metavar="MODEL")
@click.option("--target", required=True, metavar="URL", help="Base URL of the service under test.")
@click.option("--slo", "slos", multiple=True, metavar="EXPR",
              help="Client-side SLO, as report --threshold: p99_ms<500, error_rate<0.01, "
                   "'ACTION:p95_ms<200'. Repeatable.")
@click.option("--promql-url", metavar="URL", help="Prometheus to ask for the --promql-slo figures.")
@click.option("--promql-slo", "promql_slos", multiple=True, metavar="EXPR",
              help="Server-side SLO 'PROMQL OP NUMBER', evaluated at the end of each step (one series).")
@click.option("--rate", is_flag=True, help="Vary the arrival rate (open workload, sessions/s), not users.")
@click.option("--start", type=click.FloatRange(min=0, min_open=True), default=8, show_default=True,
              help="First load (users, or sessions/s with --rate).")
@click.option("--max", "limit", type=click.FloatRange(min=0, min_open=True), default=10_000,
              show_default=True, help="Never go above this load.")
@click.option("--factor", type=click.FloatRange(min=1, min_open=True), default=2.0, show_default=True,
              help="While every SLO holds, multiply the load by this.")
@click.option("--precision", type=FRACTION, default="5%", show_default=True,
              help="Stop bisecting when the bracket is this narrow (a fraction of the load; users: ≥ 1).")
@click.option("--hold", type=DURATION, default="10s", show_default=True, help="How long each step runs.")
@click.option("--actions", metavar="PACK", help="Action pack: module name or .py file.")
@click.option("--think-scale", type=float, default=1.0, show_default=True, help="Multiplies every wait.")
@click.option("--seed", type=int, default=None, help="Seed: the same seed makes the same choices.")
@click.option("--timeout", type=DURATION, default="10s", show_default=True, help="Per-request timeout.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes per step.")
@click.option("--cluster", metavar="ADDRESS", default=None,
              help="Run each step on a Dask cluster: its scheduler (tcp://HOST:8786), or local:N (a "
                   "LocalCluster started for each step); --workers is then ignored.")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for capacity.json, capacity.png and steps/NN-LOAD (each step's run).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def capacity_command(model: str, target: str, slos: tuple[str, ...], promql_url: str | None,
                     promql_slos: tuple[str, ...], rate: bool, start: float, limit: float, factor: float,
                     precision: float, hold: float, actions: str | None, think_scale: float, seed: int | None,
                     timeout: float, workers: int, cluster: str | None, out: Path, as_json: bool) -> None:
    """Find the largest load on MODEL's users that meets every SLO.

    Steps the load up (×factor) while every SLO holds, backs off on a breach and bisects down to
    --precision. Prints the capacity with its bracket, and writes each step's run directory and a plot.

    \b
    Examples:
      tracereplay capacity model.json --target http://127.0.0.1:8065 --slo 'p99_ms<500' \\
          --slo 'error_rate<0.01' --actions tracereplay.demo.actions -o capacity
      tracereplay capacity model.json --target http://staging:8065 --rate --start 5 --hold 30s \\
          --slo 'p99_ms<300' --promql-url http://127.0.0.1:9090 \\
          --promql-slo 'max(rate(http_errors_total[20s])) < 1' -o capacity-rate
    """
    from tracereplay.report.thresholds import parse_thresholds
    from tracereplay.service.capacity import CapacitySearch, StepSettings, parse_promql_slo

    if not slos and not promql_slos:
        raise click.UsageError("give at least one --slo (or --promql-slo)")
    if promql_slos and not promql_url:
        raise click.UsageError("--promql-slo needs --promql-url")
    parse_thresholds(slos)  # a malformed SLO: one line, before any load
    settings = StepSettings(
        model=model, target=target, out=out, slos=slos, hold=hold, rate=rate, promql_url=promql_url,
        promql_slos=tuple(parse_promql_slo(s) for s in promql_slos),
        run_settings={"actions": actions, "think_scale": think_scale, "seed": seed, "timeout": timeout,
                      "workers": workers, "cluster": cluster},
    )
    plan = CapacitySearch(start=start, limit=limit, factor=factor, precision=precision, integer=not rate)
    # here, not at the top: a search runs the runtime (aiohttp, numpy, pandas), which `--help` does not need
    from tracereplay.service.capacity import capacity

    result = capacity(settings, plan, notify=None if as_json else _show_step)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(result.describe())
        click.echo(f"→ {out / 'capacity.json'}, plot {result.plot}, steps in {out / 'steps'}")
    if result.capacity is None:
        sys.exit(EXIT_NO_CAPACITY)


def _show_step(step: Any) -> None:
    failed = [f"{v.slo} ({'no data' if v.actual is None else f'{v.actual:g}'})" for v in step.verdicts
              if not v.passed]
    verdict = "held" if step.passed else "breached " + ", ".join(failed)
    figures = step.figures
    p99 = figures.get("p99_ms")
    click.echo(
        f"step {step.index + 1}: {step.load:g} → {figures.get('rps') or 0:,.0f} req/s, "
        f"p99 {'–' if p99 is None else f'{p99:.1f}'} ms: {verdict}",
        err=True,
    )


def register(cli: click.Group) -> None:
    """Add ``capacity`` to ``cli``."""
    cli.add_command(capacity_command)
