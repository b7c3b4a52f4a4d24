"""CLI verbs of the model stage: ``fit``, ``model show``, ``model edit``, ``simulate``, ``compare``.

Registered by :mod:`tracereplay.cli`. Heavy imports stay inside the commands so ``--help`` is fast.
"""

from __future__ import annotations

import json

import click

from tracereplay.cli.params import DURATION


def register(cli: click.Group) -> None:
    """Add this module's verbs to ``cli``."""
    cli.add_command(fit_command)
    cli.add_command(model_group)
    cli.add_command(simulate_command)
    cli.add_command(compare_command)


@click.command("fit")
@click.argument("events", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Model file to write (JSON), exactly this path (required unless --validate).")
@click.option("--classes", "fixed_classes", type=click.IntRange(min=1), default=None,
              help="Fix the number of user classes (default: chosen from the data by BIC).")
@click.option("--max-classes", type=click.IntRange(min=1), default=8, show_default=True,
              help="Upper bound for the number of classes chosen from the data.")
@click.option("--min-class-share", type=click.FloatRange(0, 0.5, max_open=True), default=0.01,
              show_default=True, help="Classes with a smaller share of users are merged away.")
@click.option("--min-action-count", type=click.IntRange(min=1), default=1, show_default=True,
              help="Drop actions seen fewer times than this before fitting (1 keeps every action).")
@click.option("--min-cell-samples", type=click.IntRange(min=2), default=30, show_default=True,
              help="Think samples a transition needs for its own law; fewer back off to coarser levels.")
@click.option("--session-gap", type=DURATION, default="30m", show_default=True,
              help="Gaps within a session longer than this are not think time.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the class search.")
@click.option("--validate", "run_validation", is_flag=True,
              help="Split-half test: fit on half the users, rate the model against the other half, "
                   "relative to the noise floor (exit 3 if a ratio is above --limit).")
@click.option("--splits", type=click.IntRange(min=1), default=3, show_default=True,
              help="With --validate: seeded splits of the users into halves A and B.")
@click.option("--multiple", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True,
              help="With --validate: simulate this many times as many users as B has.")
@click.option("--limit", type=click.FloatRange(min=0, min_open=True), default=1.5, show_default=True,
              help="With --validate: highest ratio of a metric to its noise floor that passes.")
@click.option("--json", "as_json", is_flag=True, help="Print the model summary (or validation) as JSON.")
def fit_command(events: str, output: str | None, fixed_classes: int | None, max_classes: int,
                min_class_share: float, min_action_count: int, min_cell_samples: int, session_gap: float,
                seed: int, run_validation: bool, splits: int, multiple: float, limit: float,
                as_json: bool) -> None:
    """Fit a behaviour model from an event table and write it to OUTPUT.

    The model holds user classes and their shares, a Markov chain of actions per class with think
    times per transition, sessions per user, the gap between sessions, arrivals per hour and
    per-action error rates and durations. No user key is kept.

    With --validate, the users are split into halves A and B (--splits seeded splits); a model fitted
    on A simulates --multiple × B's users, and each metric's distance to B is printed next to the
    distance A-vs-B (the noise floor: two samples of the same real users) and their ratio. The
    verdict fails (exit 3) when a ratio exceeds --limit. -o then also writes the model fitted on all.

    \b
    Examples:
      tracereplay fit events.parquet -o model.json
      tracereplay fit events.parquet --max-classes 4 --min-action-count 5 -o model.json
      tracereplay fit events.parquet --classes 2 -o two-classes.json --json
      tracereplay fit events.parquet --validate
      tracereplay fit events.parquet --validate --splits 6 --multiple 10 --limit 1.2 --json
    """
    from tracereplay.errors import ConfigError
    from tracereplay.ingest.events import read_events
    from tracereplay.model import fit

    if output is None and not run_validation:
        raise ConfigError("fit needs -o/--output MODEL (or --validate to rate the model only)")
    table = read_events(events)
    settings = {"classes": fixed_classes, "max_classes": max_classes, "min_class_share": min_class_share,
                "min_action_count": min_action_count, "min_cell_samples": min_cell_samples,
                "session_gap_s": session_gap, "seed": seed}
    if output is not None:
        model = fit(table, **settings)
        model.save(output)
        if not run_validation:
            _show(model, as_json=as_json, title=output)
            return
    _validate(table, settings, splits=splits, multiple=multiple, limit=limit, as_json=as_json, output=output)


def _validate(table, settings: dict, *, splits: int, multiple: float, limit: float, as_json: bool,
              output: str | None) -> None:
    from tracereplay.cli import EXIT_THRESHOLD
    from tracereplay.model.validate import validate

    seed = settings.pop("seed")
    report = validate(table, splits=splits, multiple=multiple, limit=limit, seed=seed, **settings)
    if as_json:
        click.echo(json.dumps(report.to_dict() | {"output": output}, indent=2))
    else:
        console = _console()
        report.render(console)
        if output is not None:
            console.print(f"wrote {output} (fitted on all the users)", soft_wrap=True)
    if not report.passed:
        raise SystemExit(EXIT_THRESHOLD)


@click.group("model")
def model_group() -> None:
    """Look at and edit behaviour model files."""


@model_group.command("show")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--top", type=click.IntRange(min=1), default=8, show_default=True,
              help="Transitions and actions listed per class.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def show_command(model_path: str, top: int, as_json: bool) -> None:
    """Print a model: classes and shares, top transitions, think times, arrival profile.

    \b
    Examples:
      tracereplay model show model.json
      tracereplay model show model.json --top 20
      tracereplay model show model.json --json | jq '.classes[].share'
    """
    from tracereplay.model import load_model

    _show(load_model(model_path), as_json=as_json, title=model_path, top=top)


@model_group.command("edit")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="New model file to write, exactly this path (may be MODEL itself).")
@click.option("--scale-arrivals", type=float, default=None, metavar="FACTOR",
              help="Multiply the session arrival rate (2 = twice the traffic).")
@click.option("--class-share", "class_shares", type=(str, float), multiple=True, metavar="CLASS SHARE",
              help="Set a class's share of users (name or index); the others fill the rest in proportion.")
@click.option("--drop-action", "drop", multiple=True, metavar="ACTION",
              help="Remove an action; paths through it are joined around it (repeatable).")
@click.option("--rename-action", "rename", type=(str, str), multiple=True, metavar="OLD NEW",
              help="Rename an action; onto an existing name merges the two (repeatable).")
@click.option("--rename-class", "rename_classes", type=(str, str), multiple=True, metavar="CLASS NAME",
              help="Rename a class (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the new model's summary as JSON.")
def edit_command(model_path: str, output: str, scale_arrivals: float | None,
                 class_shares: tuple[tuple[str, float], ...], drop: tuple[str, ...],
                 rename: tuple[tuple[str, str], ...], rename_classes: tuple[tuple[str, str], ...],
                 as_json: bool) -> None:
    """Write an edited copy of MODEL: more traffic, another class mix, fewer or renamed actions.

    Edits apply in this order: drop, rename actions, class shares, rename classes, arrivals;
    class names refer to MODEL's classes.

    \b
    Examples:
      tracereplay model edit model.json --scale-arrivals 2 -o double.json
      tracereplay model edit model.json --class-share class-2 0.5 -o more-posters.json
      tracereplay model edit model.json --drop-action "GET /api/admin/stats" -o no-admin.json
      tracereplay model edit model.json --rename-action "POST /api/v3/posts" "POST /api/v4/posts" -o v4.json
    """
    from tracereplay.model import edit, load_model

    edited = edit(load_model(model_path), arrival_scale=scale_arrivals, class_shares=dict(class_shares),
                  drop=drop, rename=dict(rename), rename_classes=dict(rename_classes))
    edited.save(output)
    if as_json:
        _show(edited, as_json=True, title=output)
    else:
        edits = edited.source.get("edits", [])
        click.echo(f"wrote {output}: " + ("; ".join(edits[-5:]) if edits else "no edit"))


def _show(model, *, as_json: bool, title: str, top: int = 8) -> None:
    from tracereplay.model.show import render, summary

    if as_json:
        click.echo(json.dumps(summary(model, top=top), indent=2))
        return
    render(model, _console(), top=top, title=title)


@click.command("simulate")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Event table to write (Parquet), exactly this path.")
@click.option("--users", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Simulated users (each with its class, sessions, gaps).")
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed gives the same table.")
@click.option("--start", metavar="TIME", default=None,
              help="When the first sessions may start (ISO time, UTC if no zone); default: the fitted start.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def simulate_command(model_path: str, output: str, users: int, seed: int, start: str | None,
                     as_json: bool) -> None:
    """Sample users, sessions and actions from MODEL offline into an event table.

    Think times, server durations (duration_ms), errors and session gaps are drawn from the model;
    compare the result with the source using `tracereplay compare`.

    \b
    Examples:
      tracereplay simulate model.json --users 5000 --seed 1 -o synthetic.parquet
      tracereplay simulate model.json --users 200 --start 2026-03-02T09:00:00Z -o monday.parquet
    """
    from tracereplay.checked import series, to_int
    from tracereplay.ingest.events import write_events
    from tracereplay.model import load_model, simulate

    table = simulate(load_model(model_path), users, seed=seed, start=start)
    write_events(table, output)
    result = {"output": output, "events": len(table), "sessions": to_int(series(table["session"]).nunique()),
              "users": users, "seed": seed,
              "start": table["ts"].min().isoformat() if len(table) else None,
              "end": table["ts"].max().isoformat() if len(table) else None}
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(f"wrote {output}: {result['events']} events, {result['sessions']} sessions, {users} users "
                   f"({result['start']} → {result['end']})")


@click.command("compare")
@click.argument("reference", type=click.Path(dir_okay=False))
@click.argument("candidate", type=click.Path(dir_okay=False))
@click.option("--threshold", "thresholds", multiple=True, metavar="NAME=VALUE",
              help="Override a metric's threshold (repeatable); VALUE 'off' makes it informational.")
@click.option("--session-gap", type=DURATION, default="30m", show_default=True,
              help="Gaps within a session longer than this are not think time.")
@click.option("--floor", "with_floor", is_flag=True,
              help="Also measure REFERENCE's noise floor (two halves of its users) and pass a metric within "
                   "--floor-limit × its floor: on small real data the default thresholds are out of reach.")
@click.option("--floor-limit", type=click.FloatRange(min=0, min_open=True), default=1.5, show_default=True,
              help="With --floor: how many times its noise floor a metric may be.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def compare_command(reference: str, candidate: str, thresholds: tuple[str, ...], session_gap: float,
                    with_floor: bool, floor_limit: float, as_json: bool) -> None:
    """Measure how alike two event tables are as traffic, with a verdict.

    Metrics: action-mix TVD, visit-weighted transition distance, KS of think time, session length,
    per-session median think and action shares, sessions per user, session gaps, hourly arrivals.
    Exit status 0 when every thresholded metric passes, 3 when one fails (like report thresholds).
    The default thresholds suit large populations; two halves of a day of a real web log are further
    apart than that (action mix TVD 0.12–0.3 against 0.02): use --floor there, and `fit --validate`
    to rate a model.

    \b
    Metric names for --threshold:
      action_mix_tvd transition_distance think_ks session_length_ks session_median_think_ks
      session_action_share_ks sessions_per_user_error sessions_per_user_ks session_gap_ks
      arrival_hourly_tvd

    \b
    Examples:
      tracereplay compare events.parquet synthetic.parquet
      tracereplay compare events.parquet synthetic.parquet --threshold think_ks=0.05 --json
      tracereplay compare events.parquet RUN/requests-0.parquet --threshold arrival_hourly_tvd=off
      tracereplay compare access-log.parquet synthetic.parquet --floor
    """
    from tracereplay.cli import EXIT_THRESHOLD
    from tracereplay.ingest.events import read_events
    from tracereplay.model import compare

    limits = _parse_thresholds(thresholds)
    # the thresholds are checked to be metric names (so none lands in a keyword such as seed or floor)
    report = compare(read_events(reference), read_events(candidate), seed=0,
                     session_gap_s=session_gap, floor=with_floor, floor_limit=floor_limit, **limits)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        report.render(_console())
    if not report.passed:
        raise SystemExit(EXIT_THRESHOLD)


def _parse_thresholds(items: tuple[str, ...]) -> dict[str, float | None]:
    from tracereplay.errors import ConfigError
    from tracereplay.model.fidelity import DEFAULT_THRESHOLDS

    limits: dict[str, float | None] = {}
    problems = []
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            problems.append(f"--threshold {item!r}: use NAME=VALUE")
            continue
        if name not in DEFAULT_THRESHOLDS:
            problems.append(f"unknown fidelity threshold {name!r} (known: {', '.join(DEFAULT_THRESHOLDS)})")
            continue
        if value.strip().lower() == "off":
            limits[name] = None
            continue
        try:
            limits[name] = float(value)
        except ValueError:
            problems.append(f"--threshold {item!r}: {value!r} is not a number or 'off'")
    if problems:
        raise ConfigError(problems)
    return limits


def _console():
    """A rich console: a terminal's width, or no wrapping when piped."""
    from tracereplay.terminal import make_console

    return make_console()
