"""``tracereplay run`` (a model or a script against a target) and ``tracereplay replay`` (a recorded trace).

Heavy imports (pandas, numpy, aiohttp) stay inside the commands so ``tracereplay --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
from collections.abc import Callable
from typing import Any

import click

from tracereplay.cli.params import DURATION, FRACTION
from tracereplay.durations import format_duration
from tracereplay.replay.config import REPLAY, RUN, Arrivals, RunConfig, choice_values, default_workers

#: Where a verb's option differs from the setting's own declaration (RunConfig is the API's contract).
OVERRIDES: dict[str, dict[str, dict[str, Any]]] = {
    RUN: {
        "out": {"required": True},
        "target": {"required": True},
        "workers": {"default": None},
        "max_gap": {
            "help": "Cap the gap between a model user's sessions (closed runs: 30s unless set; "
            "a long one such as 24h keeps the fitted gaps)."
        },
    },
    REPLAY: {
        "out": {"required": True},
        "target": {"required": True},
        "workers": {"default": None},
        "duration": {"default": None, "help": "Stop after this long (default: when the trace ends)."},
    },
}


def _setting_option(setting: dataclasses.Field, command: str) -> click.Option:
    """The click option of one RunConfig field, from its metadata (help, kind) and default."""
    meta = setting.metadata
    default = None if setting.default is dataclasses.MISSING else setting.default
    changes = OVERRIDES[command].get(setting.name, {})
    default = changes.get("default", default)
    kind = meta["kind"] or {bool: "flag", int: "int", float: "float"}.get(type(default), "str")
    names = [*([meta["short"]] if meta["short"] else []), "--" + setting.name.replace("_", "-")]
    required = changes.get("required", False)
    kwargs: dict[str, Any] = {"help": changes.get("help", meta["help"]), "required": required}
    if kind == "flag":
        kwargs.update(is_flag=True, default=bool(default))
    else:
        if kind == "duration":
            kwargs["type"], default = DURATION, None if default is None else format_duration(default)
        elif kind == "fraction":
            kwargs["type"], default = FRACTION, None if default is None else f"{default:.0%}"
        elif kind == "choice":
            kwargs["type"] = click.Choice(choice_values(meta["choices"], default))
            default = default.value if isinstance(default, enum.Enum) else default
        elif kind in ("int", "float"):
            kwargs["type"] = int if kind == "int" else float
        kwargs.update(show_default=default is not None and not required, metavar=meta["metavar"])
        if default is not None and not required:
            # Click 8.3 takes an explicit default=None as a value: a required option would then be missing
            # silently (`run` without -o crashed on a None run directory)
            kwargs["default"] = default
    return click.Option(names, **kwargs)


def _run_options(command: str) -> Callable:
    """Add every RunConfig setting the verb offers, in declaration order, then the CLI's own options."""
    offered = [f for f in dataclasses.fields(RunConfig) if command in f.metadata.get("commands", ())]

    def decorate(function):
        cli_only = [
            click.Option(
                ["--step"],
                type=int,
                default=None,
                help="Users added/removed per + / - key or SIGUSR1 / SIGUSR2 (default 10%, at least 1).",
            ),
            click.Option(["--quiet", "-q"], is_flag=True, help="No live progress line."),
            click.Option(
                ["--metrics-port"],
                type=click.IntRange(0, 65535),
                default=None,
                help="Serve Prometheus /metrics of the run on this port (0: any free port, printed).",
            ),
            click.Option(
                ["--metrics-host"],
                default="127.0.0.1",
                show_default=True,
                help="Address for /metrics and the dashboard; anything but loopback needs --token.",
            ),
            click.Option(
                ["--dashboard"],
                is_flag=True,
                help="Serve a live dashboard of the run (charts, add/remove users, stop) on --metrics-port.",
            ),
            click.Option(
                ["--token"],
                envvar="TRACEREPLAY_TOKEN",
                default=None,
                help="With --metrics-port/--dashboard: require 'Authorization: Bearer TOKEN'.",
            ),
            click.Option(["--json", "as_json"], is_flag=True, help="Print the result as JSON."),
        ]
        function.__click_params__ = [
            *reversed(cli_only),
            *reversed([_setting_option(f, command) for f in offered]),
            *getattr(function, "__click_params__", []),
        ]
        return function

    return decorate


@click.command("run")
@click.argument("model", metavar="MODEL")
@_run_options(RUN)
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
    settings = _settings(RUN, options)
    if options["arrival_scale"] is not None:
        _announce_profile(model, options["target"], settings, quiet=options["quiet"])
    _execute(model, None, settings, options)


def _announce_profile(model: str, target: str, settings: dict[str, Any], *, quiet: bool) -> None:
    """One line on the profile window the run covers, and a warning if it would start no session."""
    from datetime import UTC, datetime

    # here, not at the top: loading a model imports numpy and pandas, which `--help` does not need
    from tracereplay.replay.sources import is_script, load_model_file, model_profile

    config = RunConfig(target=target, **settings).validate()  # bad settings: the usual one-line error
    if is_script(model):
        return  # a script has no profile: the run says so
    window = model_profile(load_model_file(model), config, now=datetime.now(UTC)).window(config.duration or 0)
    if not quiet:
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
@_run_options(REPLAY)
def replay_command(events: str, **options: Any) -> None:
    """Replay the recorded users of an EVENTS table with their original timing.

    \b
    Examples:
      tracereplay replay events.parquet --target http://127.0.0.1:8065 -o runs/replay
      tracereplay replay events.parquet --target http://127.0.0.1:8065 --speed 4 --max-gap 30s \\
          --sample 10% --actions tracereplay.demo.actions -o runs/fast
      tracereplay replay events.parquet --target http://127.0.0.1:8065 --loop --duration 10m -o runs/soak
    """
    _execute(None, events, _settings(REPLAY, options), options)


def _settings(command: str, options: dict[str, Any]) -> dict[str, Any]:
    """RunConfig's keyword arguments from the parsed options (the target goes separately)."""
    names = [f.name for f in dataclasses.fields(RunConfig) if command in f.metadata.get("commands", ())]
    settings = {name: options[name] for name in names if name != "target"}
    if "arrivals" in settings:
        settings["arrivals"] = Arrivals(settings["arrivals"])
    # a Dask cluster gives one worker per Dask worker; else one local process per core
    settings["workers"] = settings["workers"] or (1 if settings.get("cluster") else default_workers())
    return settings


def _served(options: dict[str, Any]) -> bool:
    return options.get("metrics_port") is not None or bool(options.get("dashboard"))


def _execute(
    model: str | None, events: str | None, settings: dict[str, Any], options: dict[str, Any]
) -> None:
    import json

    # here, not at the top: the runtime imports aiohttp, numpy and pandas, which `--help` does not need
    from tracereplay.replay.cli_live import drive
    from tracereplay.replay.runner import run_loop

    if _served(options):
        from tracereplay.cli.serve import check_bind

        check_bind(options["metrics_host"], options["token"], option="--metrics-host")
        # here, not at the top: the live server imports aiohttp's server and prometheus-client
        from tracereplay.service.live import drive_served

        driving = drive_served(
            model,
            events,
            target=options["target"],
            settings=settings,
            host=options["metrics_host"],
            port=options["metrics_port"] or 0,
            token=options["token"],
            dashboard=options["dashboard"],
            quiet=options["quiet"],
            step=options["step"],
        )
    else:
        driving = drive(
            model,
            events,
            target=options["target"],
            settings=settings,
            quiet=options["quiet"],
            step=options["step"],
        )
    result = run_loop(driving, use_uvloop=True)
    if options["as_json"]:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        from tracereplay.replay.cli_live import print_result  # rich: only when there is a result to show

        print_result(result)
    if result.exit_reason == "interrupted":
        sys.exit(130)


def register(cli: click.Group) -> None:
    """Add ``run`` and ``replay`` to ``cli``."""
    cli.add_command(run_command)
    cli.add_command(replay_command)
    cli.add_command(try_command)


@click.command("try")
@click.argument("spec", metavar="PACK_OR_MODEL")
@click.option("--target", required=True, metavar="URL", help="Base URL of the service under test.")
@click.option("--actions", metavar="PACK", help="The action pack, when PACK_OR_MODEL is a model or script.")
@click.option("--seed", type=int, default=None, help="Seed: the same session again.")
@click.option("--timeout", type=DURATION, default="10s", show_default=True, help="Per-request timeout.")
@click.option("--http", type=click.Choice(["fast", "aiohttp"]), default="fast", show_default=True,
              help="HTTP client.")  # fmt: skip
def try_command(
    spec: str, target: str, actions: str | None, seed: int | None, timeout: float, http: str
) -> None:
    """One user plays one session, printing every request, answer and store change.

    PACK_OR_MODEL is a model, script or behaviour file (with --actions PACK), or a pack alone (its
    actions in ACTIONS order). No waits, nothing written; exit 0 when no request was an error, else 3.

    \b
    Examples:
      tracereplay try docs/examples/chat_pack.py --target http://127.0.0.1:8008
      tracereplay try chat.toml --actions docs/examples/chat_pack.py --target http://127.0.0.1:8008
      tracereplay try model.json --actions tracereplay.demo.actions --target http://127.0.0.1:8065 --seed 3
    """
    import asyncio

    # here, not at the top: the runtime imports aiohttp and numpy, which `--help` does not need
    from tracereplay.replay.trial import try_session

    result = asyncio.run(
        try_session(
            spec, target=target, actions=actions, say=click.echo, seed=seed, timeout=timeout, http=http
        )
    )
    if result.errors:
        sys.exit(3)
