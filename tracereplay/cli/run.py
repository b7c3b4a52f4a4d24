"""``tracereplay run`` (a model or a script against a target) and ``tracereplay replay`` (a recorded trace).

Heavy imports (pandas, numpy, aiohttp) stay inside the commands so ``tracereplay --help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from tracereplay.durations import parse_duration


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    from tracereplay.errors import ConfigError

    try:
        return parse_duration(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


def _fraction(ctx: click.Context, param: click.Parameter, value: str) -> float:
    text = value.strip()
    try:
        number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a fraction like 10% or 0.1") from None
    if not 0 < number <= 1:
        raise click.BadParameter(f"{value!r} must be more than 0% and at most 100%")
    return number


def _common(function):
    """Options every run shares."""
    options = [
        click.option("--target", required=True, metavar="URL", help="Base URL of the service under test."),
        click.option("-o", "--out", required=True, metavar="RUN_DIR", help="Run directory to write."),
        click.option("--actions", metavar="PACK", help="Action pack: module name or .py file."),
        click.option(
            "--think-scale",
            type=float,
            default=1.0,
            show_default=True,
            help="Multiplies every wait (think times, gaps between sessions); 0 runs flat out.",
        ),
        click.option("--seed", type=int, help="Seed: the same seed makes the same choices."),
        click.option("--max-rps", type=float, help="Safety cap on requests per second (all workers)."),
        click.option(
            "--timeout", callback=_duration, default="10s", show_default=True, help="Per-request timeout."
        ),
        click.option(
            "--workers",
            type=int,
            default=None,
            help="Worker processes (default: one per core); users are split between them.",
        ),
        click.option(
            "--step",
            type=int,
            default=None,
            help="Users added/removed per + / - key or SIGUSR1 / SIGUSR2 (default 10%, at least 1).",
        ),
        click.option(
            "--http",
            type=click.Choice(["fast", "aiohttp"]),
            default="fast",
            show_default=True,
            help="HTTP client: our lean keep-alive HTTP/1.1 client, or aiohttp's.",
        ),
        click.option(
            "--ca-cert",
            metavar="FILE",
            help="https: also trust the CA certificates of this PEM file (a private or self-signed CA).",
        ),
        click.option(
            "--insecure",
            "-k",
            is_flag=True,
            help="https: do not verify the target's certificate at all (as curl -k).",
        ),
        click.option("--quiet", "-q", is_flag=True, help="No live progress line."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.command("run")
@click.argument("model", metavar="MODEL")
@click.option("--users", type=int, help="Closed workload: this many concurrent users, looping sessions.")
@click.option("--arrival-rate", type=float, help="Open workload: sessions per second.")
@click.option(
    "--arrival-scale",
    type=float,
    help="Open workload: this factor × the model's fitted arrival profile (hour of day or week).",
)
@click.option(
    "--profile-start",
    metavar="TIME",
    help="Open workload on a model: where on the profile's clock the run starts (14:00, or mon 14:00 "
    "for an hour-of-week profile); default: the current UTC time.",
)
@click.option(
    "--profile-speed",
    type=float,
    default=1.0,
    show_default=True,
    help="Open workload on a model: the profile's clock runs this × the wall clock (60: a day in 24 "
    "minutes); the rate stays F × the profile (the shape, not the day's volume).",
)
@click.option(
    "--max-users",
    type=int,
    default=10_000,
    show_default=True,
    help="Open workload: cap on concurrent users; arrivals beyond it wait (late) or are dropped.",
)
@click.option(
    "--max-late",
    callback=_duration,
    default="10s",
    show_default=True,
    help="Open workload: an arrival not started within this of its time is dropped.",
)
@click.option(
    "--arrivals",
    type=click.Choice(["uniform", "poisson"]),
    default="uniform",
    show_default=True,
    help="Open workload: evenly spaced or Poisson arrivals.",
)
@click.option(
    "--ramp-up",
    callback=_duration,
    default="0s",
    show_default=True,
    help="Closed workload: start users evenly over this time.",
)
@click.option("--duration", callback=_duration, default="1m", show_default=True, help="How long to run.")
@_common
def run_command(model: str, **options: Any) -> None:
    """Run users from a fitted MODEL (or a simple .toml script) against a target.

    \b
    Examples:
      tracereplay run model.json --target http://127.0.0.1:8065 --users 50 --duration 2m \\
          --actions tracereplay.demo.actions -o runs/closed
      tracereplay run model.json --target http://127.0.0.1:8065 --arrival-rate 20 --max-users 500 -o runs/open
      tracereplay run model.json --target http://staging:8065 --arrival-scale 2 --duration 1h -o runs/2x
      tracereplay run model.json --target http://staging:8065 --arrival-scale 1 --profile-start 14:00 \\
          --duration 10m -o runs/afternoon
      tracereplay run model.json --target http://staging:8065 --arrival-scale 60 --profile-speed 60 \\
          --profile-start 00:00 --duration 24m -o runs/day-in-24m
      tracereplay run script.toml --target http://127.0.0.1:8065 --users 10 -o runs/script
      tracereplay run model.json --target https://staging:8443 --users 20 --ca-cert ca.pem -o runs/tls

    \b
    While it runs: + / - (or SIGUSR1 / SIGUSR2) add / remove users (open workload: arrival rate ±10%),
    q or Ctrl-C stops gracefully (requests in flight finish; everything is written).
    """
    settings = _settings(options)
    settings.update(
        users=options["users"],
        arrival_rate=options["arrival_rate"],
        arrival_scale=options["arrival_scale"],
        profile_start=options["profile_start"],
        profile_speed=options["profile_speed"],
        max_users=options["max_users"],
        max_late=options["max_late"],
        ramp_up=options["ramp_up"],
        duration=options["duration"],
    )
    from tracereplay.replay.config import Arrivals

    settings["arrivals"] = Arrivals(options["arrivals"])
    if options["arrival_scale"] is not None:
        _announce_profile(model, options["target"], settings, quiet=options["quiet"])
    _execute(model, None, settings, options)


def _announce_profile(model: str, target: str, settings: dict[str, Any], *, quiet: bool) -> None:
    """One line on the profile window the run covers, and a warning if it would start no session."""
    from datetime import UTC, datetime

    from tracereplay.replay.config import RunConfig
    from tracereplay.replay.sources import is_script, load_model_file, model_profile

    config = RunConfig(target=target, **settings).validate()  # bad settings: the usual one-line error
    if is_script(model):
        return  # a script has no profile: the run says so
    window = model_profile(load_model_file(model), config, now=datetime.now(UTC)).window(config.duration or 0)
    if not quiet:
        from tracereplay.durations import format_duration

        w = window
        span = format_duration(w["profile_hours"] * 3600)
        rates = f"{w['rate_min']:.3g}" + (f"–{w['rate_max']:.3g}" if w["rate_max"] != w["rate_min"] else "")
        expected = w["expected_sessions"]
        count = f"{expected:,.0f}" if expected >= 10 else f"{expected:.2g}"
        click.echo(
            f"tracereplay: profile {w['start']} → {w['end']} ({span} of profile at {w['speed']:g}×) "
            f"× {w['scale']:g}: {rates} sessions/s, mean {w['rate_mean']:.3g}/s, ~{count} sessions",
            err=True,
        )
    if window["warning"]:
        click.echo(f"tracereplay: warning: {window['warning']}", err=True)


@click.command("replay")
@click.argument("events", metavar="EVENTS")
@click.option("--speed", type=float, default=1.0, show_default=True, help="Replay speed: 2 = twice as fast.")
@click.option("--max-gap", callback=_duration, help="Shorten idle gaps within a user to at most this.")
@click.option(
    "--sample",
    callback=_fraction,
    default="100%",
    show_default=True,
    help="Keep this share of the users (whole users, the same ones every run).",
)
@click.option("--loop", is_flag=True, help="Start over when the trace ends (needs --duration).")
@click.option("--duration", callback=_duration, help="Stop after this long (default: when the trace ends).")
@_common
def replay_command(events: str, **options: Any) -> None:
    """Replay the recorded users of an EVENTS table with their original timing.

    \b
    Examples:
      tracereplay replay events.parquet --target http://127.0.0.1:8065 -o runs/replay
      tracereplay replay events.parquet --target http://127.0.0.1:8065 --speed 4 --max-gap 30s \\
          --sample 10% --actions tracereplay.demo.actions -o runs/fast
      tracereplay replay events.parquet --target http://127.0.0.1:8065 --loop --duration 10m -o runs/soak
    """
    settings = _settings(options)
    settings.update(
        speed=options["speed"],
        max_gap=options["max_gap"],
        sample=options["sample"],
        loop=options["loop"],
        duration=options["duration"],
    )
    _execute(None, events, settings, options)


def _settings(options: dict[str, Any]) -> dict[str, Any]:
    from tracereplay.replay.config import default_workers

    return {
        "out": options["out"],
        "actions": options["actions"],
        "think_scale": options["think_scale"],
        "seed": options["seed"],
        "max_rps": options["max_rps"],
        "timeout": options["timeout"],
        "workers": options["workers"] or default_workers(),
        "http": options["http"],
        "ca_cert": options["ca_cert"],
        "insecure": options["insecure"],
    }


def _execute(
    model: str | None, events: str | None, settings: dict[str, Any], options: dict[str, Any]
) -> None:
    import json

    # here, not at the top: the runtime imports aiohttp, numpy and pandas, which `--help` does not need
    from tracereplay.replay.cli_live import drive
    from tracereplay.replay.runner import run_loop

    result = run_loop(
        drive(
            model,
            events,
            target=options["target"],
            settings=settings,
            quiet=options["quiet"],
            step=options["step"],
        ),
        use_uvloop=True,
    )
    if options["as_json"]:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        from tracereplay.replay.cli_live import print_result

        print_result(result)
    if result.exit_reason == "interrupted":
        sys.exit(130)


def register(cli: click.Group) -> None:
    """Add ``run`` and ``replay`` to ``cli``."""
    cli.add_command(run_command)
    cli.add_command(replay_command)
