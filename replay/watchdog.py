"""A thread that watches a worker's event loop: blocked loops are recorded, and a stop still ends the run.

Everything in a worker runs on one event loop, and user code runs on it too: an action pack that calls
``time.sleep``, spins in a loop or parses a huge answer holds every user of the worker, and while the loop
is held no signal handler, timer or graceful stop can run. :class:`LoopWatchdog` watches from a thread:

- a heartbeat task on the loop stamps the time every ``BEAT_S``; the thread sees the stamp age. A loop held
  longer than ``threshold_s`` (0.5 s, as asyncio's slow-callback warning but always on) is logged once it is
  over, with the action that held it (read from the loop thread's stack by ``locate``) and counted in
  :meth:`LoopWatchdog.summary`, which ``run.json``'s ``totals.loop_blocked`` holds;
- SIGTERM / SIGINT are noted by a chained Python-level handler (it runs between bytecodes even while user
  code holds the loop; the loop's own handler still gets the signal through its wake-up fd). When the run
  was asked to stop ``grace_s`` ago and the loop is still held, the watchdog calls ``on_expire`` (which
  finalises ``run.json`` as ``interrupted``, ``totals.ended_by`` "watchdog") and ends the process with
  :data:`EXIT_STATUS`. A loop that turns is left to stop on its own, however long its graceful end takes.

The handler is re-chained whenever someone replaces it (``loop.add_signal_handler`` after the watchdog
started), from the loop thread, the only one allowed to set handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

#: How often the loop stamps its heartbeat, and the thread looks at it (seconds).
BEAT_S = 0.05
#: A loop held longer than this is a block (seconds).
THRESHOLD_S = 0.5
#: At most this many blocks are kept with their details (all are counted).
KEEP_BLOCKS = 20
#: The process's exit status when the watchdog ends a run (the CLI's status for an interrupted run).
EXIT_STATUS = 130
WATCHED = (signal.SIGTERM, signal.SIGINT)

#: Reads the loop thread's innermost frame: the action running there, or None.
Locate = Callable[[FrameType], str | None]


@dataclass(frozen=True, slots=True)
class Block:
    """One time the loop was held: when it began (UTC), how long, by which action, at which line."""

    at: datetime
    seconds: float
    action: str | None
    where: str

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "seconds": round(self.seconds, 3), "action": self.action,
                "where": self.where}


class LoopWatchdog:
    """Watches the running loop of the thread that calls :meth:`start` (see the module docstring)."""

    def __init__(
        self,
        *,
        grace_s: float,
        threshold_s: float = THRESHOLD_S,
        locate: Locate | None = None,
        on_expire: Callable[[], object] | None = None,
    ) -> None:
        self.grace_s = grace_s
        self.threshold_s = threshold_s
        self.locate = locate
        self.on_expire = on_expire
        self.blocks: list[Block] = []
        self.count = 0
        self.seconds = 0.0
        self.longest = 0.0
        self.stop_asked: float | None = None  # monotonic time of the first stop signal
        self.deadline: float | None = None  # monotonic time the run is due to end (its duration), if any
        self.signal: int | None = None
        self.expired = False
        self._beat = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = threading.get_ident()
        self._heart: asyncio.Task | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._chained: dict[int, Any] = {}  # signal → the handler ours calls on

    # ------------------------------------------------------------------ the loop side
    def start(self) -> None:
        """Start the heartbeat (in the running loop) and the watching thread."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._beat = time.monotonic()
        self._heart = self._loop.create_task(self._heartbeat())
        self._chain_signals()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="loop-watchdog")
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (the run ended on its own); the chained handlers are put back."""
        self._done.set()
        if self._heart is not None:
            self._heart.cancel()
        if threading.current_thread() is threading.main_thread():
            for signum, previous in self._chained.items():
                if signal.getsignal(signum) == self._on_signal:
                    signal.signal(signum, previous)
        self._chained.clear()

    def stopping(self) -> None:
        """The run was asked to stop another way (``stop()``, its duration): the grace starts now."""
        if self.stop_asked is None:
            self.stop_asked = time.monotonic()

    def summary(self) -> dict[str, Any]:
        """``totals.loop_blocked``: how often and how long the loop was held, the first blocks' details."""
        return {
            "count": self.count,
            "seconds": round(self.seconds, 3),
            "longest_s": round(self.longest, 3),
            "threshold_s": self.threshold_s,
            "blocks": [b.to_dict() for b in self.blocks],
        }

    async def _heartbeat(self) -> None:
        while True:
            self._beat = time.monotonic()
            await asyncio.sleep(BEAT_S)

    def _chain_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers (a Dask worker runs us in another)
        for signum in WATCHED:
            current = signal.getsignal(signum)
            if current != self._on_signal:  # (a bound method is made anew at each access: ==, not is)
                self._chained[signum] = current
                signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # runs in the main thread between bytecodes, even while user code holds the loop
        if self.stop_asked is None:
            self.stop_asked = time.monotonic()
            self.signal = signum
        previous = self._chained.get(signum)
        if callable(previous):
            previous(signum, frame)  # the loop's own (no-op) handler, or Python's KeyboardInterrupt
        elif previous == signal.SIG_DFL:  # nobody handles it: what it would have done without us
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    # ------------------------------------------------------------------ the watching thread
    def _watch(self) -> None:
        held_since: float | None = None
        action: str | None = None
        where = ""
        while not self._done.wait(BEAT_S):
            now = time.monotonic()
            age = now - self._beat
            if age > self.threshold_s:
                if held_since is None:
                    held_since = self._beat
                    action, where = self._holder()
                asked = self.stop_asked
                if asked is None and self.deadline is not None and now > self.deadline:
                    asked = self.deadline  # the duration's timer cannot fire while the loop is held
                if asked is not None and now - asked > self.grace_s:
                    self._record(held_since, now - held_since, action, where)
                    self._expire()
                    return
            elif held_since is not None:
                self._record(held_since, self._beat - held_since, action, where)
                held_since = None
            elif self._chained and self._loop is not None and self._replaced():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    self._loop.call_soon_threadsafe(self._chain_signals)

    def _replaced(self) -> bool:
        return any(signal.getsignal(s) != self._on_signal for s in self._chained)

    def _holder(self) -> tuple[str | None, str]:
        frame = sys._current_frames().get(self._loop_thread)
        if frame is None:
            return None, ""
        where = f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        return (self.locate(frame) if self.locate is not None else None), where

    def _record(self, held_since: float, seconds: float, action: str | None, where: str) -> None:
        self.count += 1
        self.seconds += seconds
        self.longest = max(self.longest, seconds)
        at = datetime.now(UTC).timestamp() - (time.monotonic() - held_since)
        if len(self.blocks) < KEEP_BLOCKS:
            self.blocks.append(Block(datetime.fromtimestamp(at, UTC), seconds, action, where))
        log.warning(
            "the event loop was held %.2fs by action %r at %s: every user of this worker waited",
            seconds, action, where,
        )

    def _expire(self) -> None:
        self.expired = True
        print(
            f"tracereplay: the event loop is still held {self.grace_s:g}s after the stop was asked "
            f"(by action {self.blocks[-1].action if self.blocks else None!r}); ending the run",
            file=sys.stderr,
            flush=True,
        )
        try:
            if self.on_expire is not None:
                self.on_expire()
        except Exception:  # finalising is best effort: the process must end regardless
            log.exception("finalising the run after the watchdog's stop failed")
        finally:
            os._exit(EXIT_STATUS)
