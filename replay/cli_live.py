"""The terminal side of a run: live progress line, keyboard and signal control, the closing summary.

Keys (when stdin is a terminal): ``+`` adds users (open workload: arrival rate +10%), ``-`` removes users
(rate −10%), ``q`` stops gracefully. Signals: SIGUSR1 adds, SIGUSR2 removes, SIGINT/SIGTERM stop
gracefully (a second Ctrl-C interrupts hard). Every change shows on the live line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from typing import Any

from tracereplay.replay.api import open_run, stop_on_interrupt
from tracereplay.replay.live import format_line
from tracereplay.replay.runner import RunResult

#: A line a second on a terminal; in a log, one every this many seconds.
LOG_EVERY_S = 5.0


class LiveLine:
    """Redraws one status line on a terminal (rich), or logs it now and then elsewhere (stderr)."""

    def __init__(self, duration_s: float | None, *, quiet: bool) -> None:
        from tracereplay.terminal import make_console

        self.console = make_console(stderr=True)
        self.duration_s = duration_s
        self.quiet = quiet
        self.note = ""
        self._live: Any = None
        self._last_log = 0.0
        self._last: dict[str, Any] | None = None

    def __enter__(self) -> LiveLine:
        if not self.quiet and self.console.is_terminal:
            from rich.live import Live

            self._live = Live("starting…", console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def update(self, stats: dict[str, Any]) -> None:
        self._last = stats
        if self.quiet:
            return
        line = format_line(stats, duration_s=self.duration_s, extra=self.note)
        if self._live is not None:
            self._live.update(line)
        elif time.monotonic() - self._last_log >= LOG_EVERY_S:
            self._last_log = time.monotonic()
            print(f"tracereplay: {line}", file=sys.stderr, flush=True)

    def say(self, note: str) -> None:
        self.note = note
        if self._last is not None:
            self._last_log = 0.0
            self.update(self._last)


class Steering:
    """Maps keys and SIGUSR1/SIGUSR2 to runtime control of the run."""

    def __init__(self, handle: Any, line: LiveLine, step: int | None, users: int | None) -> None:
        self.handle = handle
        self.line = line
        self.step = step or max(1, (users or 0) // 10)
        self.open = getattr(handle, "arrival_rate", None) is not None
        self._tty: Any = None

    def more(self) -> None:
        if self.open:
            rate = self.handle.arrival_rate * 1.1
            self.handle.set_arrival_rate(rate)
            self.line.say(f"rate → {rate:.1f}/s")
        else:
            with contextlib.suppress(ValueError):
                self.handle.add_users(self.step)
                self.line.say(f"+{self.step} users")

    def fewer(self) -> None:
        if self.open:
            rate = self.handle.arrival_rate * 0.9
            self.handle.set_arrival_rate(rate)
            self.line.say(f"rate → {rate:.1f}/s")
        else:
            with contextlib.suppress(ValueError):
                self.handle.remove_users(self.step)
                self.line.say(f"−{self.step} users")

    def __enter__(self) -> Steering:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, self.more)
        loop.add_signal_handler(signal.SIGUSR2, self.fewer)
        if sys.stdin.isatty():
            import termios
            import tty

            fd = sys.stdin.fileno()
            self._tty = (fd, termios.tcgetattr(fd))
            tty.setcbreak(fd)
            loop.add_reader(fd, self._key, fd)
        return self

    def _key(self, fd: int) -> None:
        key = os.read(fd, 1)
        if key in (b"+", b"="):
            self.more()
        elif key in (b"-", b"_"):
            self.fewer()
        elif key in (b"q", b"Q"):
            self.line.say("stopping…")
            self.handle.stop()

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_signal_handler(signal.SIGUSR1)
        loop.remove_signal_handler(signal.SIGUSR2)
        if self._tty is not None:
            import termios

            fd, saved = self._tty
            loop.remove_reader(fd)
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


async def drive(
    model: str | None,
    events: str | None,
    *,
    target: str,
    settings: dict[str, Any],
    quiet: bool = False,
    step: int | None = None,
) -> RunResult:
    """Start the run, show and steer it until it ends; return its result."""
    # the signals are watched from the start: one while worker processes start ends the run too
    with LiveLine(settings.get("duration"), quiet=quiet) as line, stop_on_interrupt() as guard:
        handle = await open_run(
            model, target=target, trace=events, progress=line.update, interrupted=guard.requested, **settings
        )
        guard.attach(handle)
        with Steering(handle, line, step, settings.get("users")):
            return await handle.wait()


def print_result(result: RunResult) -> None:
    """A short human summary of a finished run."""
    from rich.table import Table

    from tracereplay.terminal import make_console

    console = make_console()
    seconds = max(1e-9, (result.ended - result.started).total_seconds())
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("latency ms")
    for key in ("p50", "p90", "p99", "p99.9", "max"):
        table.add_column(key, justify="right")
    for name, values in (("measured", result.latency_ms), ("corrected", result.latency_corrected_ms)):
        table.add_row(
            name, *(f"{values[k]:.1f}" if k in values else "–" for k in ("p50", "p90", "p99", "p99.9", "max"))
        )
    console.print(
        f"[bold]run[/bold] {result.exit_reason} after {seconds:.1f}s: {result.requests:,} requests "
        f"({result.requests / seconds:,.0f}/s), {result.errors:,} errors, "
        f"{result.sessions_started:,} sessions started"
        + (
            f", {result.sessions_late:,} late, {result.sessions_dropped:,} dropped"
            if result.sessions_late or result.sessions_dropped
            else ""
        )
        + f", {result.workers} worker{'s' if result.workers != 1 else ''}"
    )
    console.print(table)
    console.print(f"→ {result.run_dir}   (tracereplay report {result.run_dir})")
