"""Live view of a run: per-second intervals from every worker merged into one line of numbers.

Workers report an :class:`~tracereplay.replay.recorder.Interval` once a second (in process, or over a queue
from worker processes as :func:`interval_to_wire` dicts). :class:`LiveStats` keeps the latest of each
worker and answers :meth:`LiveStats.snapshot`: requests/s, errors, p50/p99 of the corrected latency over the
last second, active users, sessions started, dropped and late. ``progress`` callbacks receive that dict.
"""

from __future__ import annotations

import time
from typing import Any

from tracereplay.histogram import LatencyHistogram
from tracereplay.replay.recorder import Interval, UserCounts


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
