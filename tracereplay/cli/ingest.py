"""``tracereplay ingest``: dumps → the event table. Registered by :mod:`tracereplay.cli`."""

from __future__ import annotations

import json

import click

from tracereplay.ingest.options import FORMATS as FORMAT_CHOICES


def register(cli: click.Group) -> None:
    """Add this module's verbs to ``cli``."""
    cli.add_command(ingest_command)


@click.command("ingest")
@click.argument("dumps", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Event table to write (Parquet), exactly this path.")
@click.option("--format", "format_name", type=click.Choice(FORMAT_CHOICES), default="auto", show_default=True,
              help="Dump format; auto tells it from the content.")
@click.option("--user-key", "user_keys", multiple=True, metavar="ATTR",
              help="Attribute naming the user; repeat for a lookup order (first present wins).")
@click.option("--session-key", "session_keys", multiple=True, metavar="ATTR",
              help="Attribute holding an explicit session id (default session.id, session_id).")
@click.option("--session-gap", default="30m", show_default=True,
              help="Inactivity that starts a new session when there is no session id.")
@click.option("--service", "services", multiple=True, metavar="NAME",
              help="Keep spans of this service (repeatable); default: the entry services.")
@click.option("--span-kind", "span_kinds", multiple=True, metavar="KIND",
              help="Span kinds to keep: server (default), client, internal, producer, consumer, any.")
@click.option("--span-name", metavar="REGEX",
              help="Keep only spans whose name matches this regular expression.")
@click.option("--keep-user-ids", is_flag=True, help="Write raw user ids instead of salted-hash pseudonyms.")
@click.option("--columns", metavar="MAP",
              help="CSV/Parquet column mapping, e.g. user=uid,ts=time,action=event.")
@click.option("--log-format", metavar="FORMAT",
              help="Access logs in a custom layout: an nginx log_format or Apache LogFormat string.")
@click.option("--exclude-bots", is_flag=True,
              help="Access logs and HAR: drop requests from well-known crawlers (see docs/formats.md).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--progress/--no-progress", default=True, help="Progress line on a terminal (default on).")
def ingest_command(dumps: tuple[str, ...], output: str, format_name: str, user_keys: tuple[str, ...],
                   session_keys: tuple[str, ...], session_gap: str, services: tuple[str, ...],
                   span_kinds: tuple[str, ...], span_name: str | None, keep_user_ids: bool,
                   columns: str | None, log_format: str | None, exclude_bots: bool, as_json: bool,
                   progress: bool) -> None:
    """Turn trace or analytics dumps into the event table (one row per user action).

    Formats are told from the content: OTLP protobuf (one message or length-delimited, gzip/zstd), OTLP/JSON,
    Jaeger, Zipkin v2, Segment/RudderStack, Mixpanel, Snowplow, web access logs (Common/Combined Log Format,
    or any nginx/Apache layout with --log-format), HAR, CSV/Parquet (with --columns).
    Users are pseudonymised with a keyed hash; the key is kept in OUTPUT.salt, never in the output.

    \b
    Examples:
      tracereplay ingest traces.pb -o events.parquet
      tracereplay ingest export-*.jsonl.zst --service frontend --session-gap 20m -o events.parquet
      tracereplay ingest clicks.csv --columns user=uid,ts=time,action=event -o events.parquet --json
      tracereplay ingest access.log access.log.1.gz --exclude-bots -o events.parquet
      tracereplay ingest app.log -o e.parquet \\
        --log-format '$remote_addr [$time_local] "$request" $status $request_time'
    """
    from tracereplay.ingest import ingest

    options: dict[str, object] = {
        "format": format_name, "session_gap": session_gap, "services": services,
        "span_name": span_name, "keep_user_ids": keep_user_ids, "progress": progress and not as_json,
        "log_format": log_format, "exclude_bots": exclude_bots,
    }
    if user_keys:
        options["user_keys"] = user_keys
    if session_keys:
        options["session_keys"] = session_keys
    if span_kinds:
        options["span_kinds"] = span_kinds
    if columns:
        options["columns"] = columns
    summary = ingest(list(dumps), output, **options)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        _print_summary(summary)


def _print_summary(summary) -> None:
    from rich.table import Table

    from tracereplay.terminal import make_console

    console = make_console(highlight=False)
    rate = f"{summary.spans_per_second:,.0f} spans/s"
    console.print(f"ingested {len(summary.files)} file(s) in {summary.seconds:.2f}s ({rate})"
                  f" → {summary.output}")
    counts = Table(show_header=False, box=None, pad_edge=False)
    counts.add_row("spans read", f"{summary.spans_read:,}")
    counts.add_row("kept", f"{summary.spans_kept:,}")
    first_lines = _first_lines(summary)
    for reason, count in sorted(summary.dropped.items(), key=lambda item: -item[1]):
        counts.add_row(f"dropped: {reason}", f"{count:,}{first_lines.get(reason, '')}")
    counts.add_row("users", f"{summary.users:,}")
    counts.add_row("sessions", f"{summary.sessions:,}")
    counts.add_row("actions", f"{summary.actions:,}")
    if summary.first is not None:
        span = f"{summary.first:%Y-%m-%d %H:%M:%S} → {summary.last:%Y-%m-%d %H:%M:%S} UTC"
        counts.add_row("time range", span)
    for key, count in summary.identity.items():
        counts.add_row(f"user from {key}", f"{count:,}")
    if summary.pseudonymised:
        where = summary.salt_file or "the salt given"
        counts.add_row("identity", f"pseudonymised (key in {where})")
    else:
        counts.add_row("identity", "raw ids kept (--keep-user-ids)")
    console.print(counts)
    for file in summary.files:
        console.print(f"  {file.path}: {file.format}, {file.spans:,} spans")


def _first_lines(summary) -> dict[str, str]:
    """reason → " (first: FILE line N)" for the readers that count lines."""
    out: dict[str, str] = {}
    for file in summary.files:
        for reason, line in file.first_line.items():
            out.setdefault(reason, f" (first: {file.path} line {line})")
    return out
