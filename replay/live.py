"""Live numbers of a run: each worker counts its requests, and the workers' seconds merge into one line.

In each worker, :class:`LiveCounter` listens to the worker's ``RequestHook`` (beside the recorder) and, once
a second, turns the requests it heard into an :class:`Interval`: requests, errors and the corrected-latency
histogram of that second; it also keeps the worker's whole-run histograms (measured and corrected) that end
in ``run.json``. Workers report their intervals (in process, or over a queue from worker processes as
:func:`interval_to_wire` dicts); :class:`LiveStats` keeps the latest of each worker and answers
:meth:`LiveStats.snapshot`: requests/s, errors, p50/p95/p99 of the corrected latency over the last second,
active users, sessions started, dropped and late. ``progress`` callbacks receive that dict.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np

from tracereplay.histogram import LatencyHistogram, index_ms
from tracereplay.replay.events import RequestEvent
from tracereplay.replay.recorder import UserCounts

_INTENDED, _START, _END, _ERROR_KIND, _LONG_POLL = (
    RequestEvent._fields.index(name) for name in ("intended", "start", "end", "error_kind", "long_poll")
)


@dataclass(slots=True)
class Interval:
    """What one second of a worker saw: the live display's input (and what a worker sends to the parent)."""

    worker: int
    seconds: float
    requests: int
    errors: int
    histogram: LatencyHistogram  # corrected latency of this interval
    counts: UserCounts = field(default_factory=UserCounts)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


class LiveCounter:
    """One worker's live numbers, as a ``RequestHook`` listener.

    :attr:`record` (the listener) only appends the event; :meth:`take` hands the second's events over in the
    event loop's thread, and :meth:`interval` does the arithmetic vectorised, safe in a worker thread.
    """

    def __init__(self, worker: int = 0) -> None:
        self.worker = worker
        self._events: list[RequestEvent] = []
        #: The hook's listener: the list's own ``append`` (hot path: no Python frame per request), so
        #: :meth:`take` empties this list rather than replacing it.
        self.record: Callable[[RequestEvent], None] = self._events.append
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self.requests = 0
        self.errors = 0
        self.measured = LatencyHistogram.empty()  # whole run, from the actual start
        self.corrected = LatencyHistogram.empty()  # whole run, from the intended start

    def take(self) -> list[RequestEvent]:
        events = self._events.copy()
        self._events.clear()
        return events

    def interval(self, events: list[RequestEvent], counts: UserCounts | None = None) -> Interval:
        """Count ``events`` (from :meth:`take`) into the run's histograms; return them as an interval."""
        with self._lock:
            now = time.monotonic()
            seconds, self._last = now - self._last, now
            n = len(events)
            histogram = LatencyHistogram.empty()
            errors = 0
            if n:
                intended = np.fromiter(map(itemgetter(_INTENDED), events), np.float64, n)
                start = np.fromiter(map(itemgetter(_START), events), np.float64, n)
                end = np.fromiter(map(itemgetter(_END), events), np.float64, n)
                # long-polls are held open on purpose: counted, but kept out of the latency figures, as the
                # report keeps them out of its headline (one set of figures for the run)
                headline = ~np.fromiter(map(itemgetter(_LONG_POLL), events), np.bool_, n)
                intended, start, end = intended[headline], start[headline], end[headline]
                measured_ms = (end - start) * 1e3
                corrected_ms = (end - np.minimum(intended, start)) * 1e3
                corrected_index = index_ms(corrected_ms)
                histogram.record(corrected_ms, corrected_index)
                self.corrected.record(corrected_ms, corrected_index)
                self.measured.record(measured_ms)
                errors = n - list(map(itemgetter(_ERROR_KIND), events)).count(None)
                self.requests += n
                self.errors += errors
            return Interval(self.worker, seconds, n, errors, histogram, counts or UserCounts())


def interval_to_wire(interval: Interval) -> dict[str, Any]:
    """An interval as plain data for a process boundary."""
    c = interval.counts
    return {
        "worker": interval.worker,
        "seconds": interval.seconds,
        "requests": interval.requests,
        "errors": interval.errors,
        "histogram": interval.histogram.to_wire(),
        "counts": [c.active_users, c.sessions_started, c.sessions_dropped, c.sessions_late],
    }


def interval_from_wire(data: dict[str, Any]) -> Interval:
    return Interval(
        data["worker"],
        data["seconds"],
        data["requests"],
        data["errors"],
        LatencyHistogram.from_wire(data["histogram"]),
        UserCounts(*data["counts"]),
    )


class LiveStats:
    """Merges the workers' latest intervals into the numbers the live display shows."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.latest: dict[int, Interval] = {}
        self.requests = 0
        self.errors = 0

    def add(self, interval: Interval) -> None:
        self.latest[interval.worker] = interval
        self.requests += interval.requests
        self.errors += interval.errors

    def forget(self, worker: int) -> None:
        """A worker is gone: its last interval no longer counts in the live numbers."""
        self.latest.pop(worker, None)

    def snapshot(self) -> dict[str, Any]:
        merged = LatencyHistogram.empty()
        rps = 0.0
        counts = UserCounts()
        for interval in self.latest.values():
            merged.add(interval.histogram)
            rps += interval.rps
            c = interval.counts
            counts.active_users += c.active_users
            counts.sessions_started += c.sessions_started
            counts.sessions_dropped += c.sessions_dropped
            counts.sessions_late += c.sessions_late
        return {
            "elapsed_s": time.monotonic() - self.started,
            "requests": self.requests,
            "errors": self.errors,
            "rps": rps,
            "p50_ms": merged.percentile_ms(50),
            "p95_ms": merged.percentile_ms(95),
            "p99_ms": merged.percentile_ms(99),
            "active_users": counts.active_users,
            "sessions_started": counts.sessions_started,
            "sessions_dropped": counts.sessions_dropped,
            "sessions_late": counts.sessions_late,
            "workers": len(self.latest),
        }


def format_line(stats: dict[str, Any], *, duration_s: float | None = None, extra: str = "") -> str:
    """One human line: ``12s/30s  4,210 req/s  3 errors  p50 2.1 ms  p99 9.8 ms  50 users``."""
    elapsed = stats["elapsed_s"]
    clock = f"{elapsed:4.0f}s" + (f"/{duration_s:.0f}s" if duration_s else "")
    p50 = f"{stats['p50_ms']:.1f}" if stats["p50_ms"] is not None else "–"
    p99 = f"{stats['p99_ms']:.1f}" if stats["p99_ms"] is not None else "–"
    parts = [
        clock,
        f"{stats['rps']:8,.0f} req/s",
        f"{stats['requests']:,} requests",
        f"{stats['errors']:,} errors",
        f"p50 {p50} ms",
        f"p99 {p99} ms",
        f"{stats['active_users']:,} users",
    ]
    if stats["sessions_dropped"] or stats["sessions_late"]:
        parts.append(f"{stats['sessions_late']:,} late {stats['sessions_dropped']:,} dropped")
    if extra:
        parts.append(extra)
    return "  ".join(parts)
