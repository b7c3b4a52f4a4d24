"""``tracereplay demo``: the whole pipeline end to end on the bundled demo, or the demo target by itself."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from tracereplay.cli.params import DURATION
from tracereplay.durations import format_duration


def register(cli: click.Group) -> None:
    """Add ``demo`` to ``cli``."""
    cli.add_command(demo)


@click.command()
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("tracereplay-demo"), show_default=True,
              help="Directory for events.parquet, model.json and the run directory.")
@click.option("--duration", type=DURATION, default="20s", show_default=True,
              help="How long to run the load (e.g. 20s, 1m).")
@click.option("--users", type=click.IntRange(min=1), default=60, show_default=True,
              help="Concurrent simulated users.")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True,
              help="Seed for the users' choices and the target; the same seed replays the same decisions.")
@click.option("--latency-scale", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Multiplies the demo target's response times (0 = as fast as it can).")
@click.option("--serve", is_flag=True, help="Only serve the demo target (foreground, until Ctrl-C).")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve: address to bind.")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8065, show_default=True,
              help="With --serve: port to bind (0 = any free port).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (paths, ingest, report).")
def demo(out: Path, duration: float, users: int, seed: int, latency_scale: float, serve: bool, host: str,
         port: int, as_json: bool) -> None:
    """Run the whole pipeline on the bundled demo in under a minute.

    Starts the demo chat service on a free port on 127.0.0.1, ingests the bundled OTLP sample traces,
    fits a behaviour model, runs the model's users against the service with a live progress line, and
    prints the per-action report and where the files are.

    \b
    Examples:
      tracereplay demo                                  # ~20 s of load, files in ./tracereplay-demo/
      tracereplay demo --duration 1m --users 200 --out /tmp/demo
      tracereplay demo --serve --port 8065              # just the chat service, for your own runs:
      tracereplay run tracereplay-demo/model.json --target http://127.0.0.1:8065 \\
          --users 50 --actions tracereplay.demo.actions -o runs/1

    \b
    Exit status: 0 ok, 1 error, 2 usage, 130 interrupted (Ctrl-C stops the load gracefully; the report
    of what ran is still printed).
    """
    if serve:
        _serve(host, port, latency_scale, seed)
        return
    from tracereplay.demo.pipeline import DemoSettings, run_demo

    seconds = duration
    settings = DemoSettings(out=out, duration=seconds, users=users, seed=seed, latency_scale=latency_scale)
    settings.validate()
    started = time.monotonic()
    if as_json:
        result = run_demo(settings)
        click.echo(_json({**result.to_dict(), "seconds": round(time.monotonic() - started, 2)}))
        if result.run.meta.get("exit_reason") == "interrupted":
            raise SystemExit(130)
        return

    from tracereplay.terminal import make_console

    console = make_console(highlight=False)
    with _LiveRun(console, seconds) as live:
        result = run_demo(settings, notify=live.notify, progress=live.progress)
    from tracereplay.report import render_summary

    render_summary(result.summary, console)
    console.print()
    console.print("[bold]files[/bold]")
    console.print(f"  sample traces  {result.dump}")
    console.print(f"  events         {result.events_path}")
    console.print(f"  model          {result.model_path}   (tracereplay model show {result.model_path})")
    console.print(f"  run            {result.run_dir}   (tracereplay report {result.run_dir})")
    console.print(f"done in {format_duration(time.monotonic() - started)}")
    if result.run.meta.get("exit_reason") == "interrupted":  # reported in full, but say it was cut short
        raise SystemExit(130)


def _serve(host: str, port: int, latency_scale: float, seed: int) -> None:
    import asyncio

    from tracereplay.demo.target import serve
    from tracereplay.errors import TargetError

    try:
        asyncio.run(serve(host, port, latency_scale=latency_scale, seed=seed))
    except OSError as exc:
        raise TargetError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


class _LiveRun:
    """Stage lines as each stage finishes, and a live progress line while the load runs."""

    def __init__(self, console: Any, duration_s: float) -> None:
        self.console = console
        self.duration_s = duration_s
        self.live: Any = None
        self.run_started = 0.0
        self.stats: dict[str, Any] = {}

    def __enter__(self) -> _LiveRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_live()

    def notify(self, stage: str, facts: dict[str, Any]) -> None:
        say = self.console.print
        if stage == "ingest":
            s = facts["summary"]
            say(f"[bold]ingest[/bold]  {s.spans_read:,} spans → {s.spans_kept:,} events, {s.users} users, "
                f"{s.sessions} sessions, {s.actions} actions → {facts['path']}")
        elif stage == "fit":
            model = facts["model"]
            classes = getattr(model, "classes", None)
            shape = f"{len(classes)} user classes, " if classes is not None else ""
            say(f"[bold]fit[/bold]     {shape}{len(model.actions)} actions → {facts['path']}")
        elif stage == "target":
            say(f"[bold]target[/bold]  demo chat service at {facts['url']}")
            self._start_live()
        elif stage == "run":
            self._stop_live()
            say(f"[bold]run[/bold]     → {facts['path']}")
        self.console.file.flush()  # each stage line as it happens, even into a pipe

    def progress(self, stats: dict[str, Any]) -> None:
        """Called by the replay stage with its live counters."""
        self.stats = dict(stats)
        if self.live is not None:
            self.live.update(self._line())

    def _line(self) -> Any:
        from rich.text import Text

        elapsed = time.monotonic() - self.run_started
        done = min(1.0, elapsed / self.duration_s) if self.duration_s else 1.0
        width = 24
        bar = "█" * round(done * width) + "·" * (width - round(done * width))
        parts = [f"run     {bar} {format_duration(elapsed)}/{format_duration(self.duration_s)}"]
        s = self.stats
        if "requests" in s:
            parts.append(f"{s['requests']:,} requests")
        if "errors" in s:
            parts.append(f"{s['errors']:,} errors")
        if "rps" in s:
            parts.append(f"{s['rps']:.0f} req/s")
        if s.get("p99_ms") is not None:
            parts.append(f"p99 {s['p99_ms']:.1f} ms")
        if "active_users" in s:
            parts.append(f"{s['active_users']} users")
        return Text("  ".join(parts))

    def _start_live(self) -> None:
        from rich.live import Live

        self.run_started = time.monotonic()
        if not self.console.is_terminal:
            return
        self.live = Live(get_renderable=self._line, console=self.console, refresh_per_second=4,
                         transient=True)
        self.live.start()

    def _stop_live(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def _json(document: dict[str, Any]) -> str:
    import json

    return json.dumps(document, indent=2, default=str)
