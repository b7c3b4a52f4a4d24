"""Writes every request of one worker to the run directory: a listener of the worker's ``RequestHook``.

The hot path (:meth:`Recorder.record`, subscribed to the hook) appends the :class:`RequestEvent` itself to a
list, nothing else. Once a second :meth:`Recorder.flush` turns the batch into Arrow columns and appends it to
the worker's ``requests-<worker>.arrows`` stream (handed to the kernel at once, so a crash loses at most the
last second), and appends a row of counters to ``users-<worker>.arrows``. :meth:`Recorder.close` converts
both streams into ``requests-<worker>.parquet`` and ``users-<worker>.parquet``. File names and the part rule:
:mod:`tracereplay.rundir`. The live numbers and latency histograms are not the recorder's: they are
:class:`~tracereplay.replay.live.LiveCounter`'s, another listener of the same hook.

Times come in as ``time.monotonic()`` seconds (the clock the schedule uses) and are written as UTC
timestamps via one offset taken at start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from tracereplay.replay.events import RequestEvent
from tracereplay.rundir import (
    REQUEST_SCHEMA,
    REQUESTS,
    USERS,
    USERS_SCHEMA,
    StreamOpener,
    StreamSink,
    StreamWriter,
)


@dataclass(slots=True)
class UserCounts:
    """The workload's counters, sampled once a second into ``users-<worker>.parquet``."""

    active_users: int = 0
    sessions_started: int = 0
    sessions_dropped: int = 0
    sessions_late: int = 0


class Recorder:
    """Collects request rows for one worker and writes them to ``run_dir`` in one-second batches."""

    def __init__(self, run_dir: str | Path, worker: int = 0, streams: StreamOpener | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.worker = worker
        self._rows: list[RequestEvent] = []
        #: The hook's listener: keeps an event for the next flush. The list's own ``append`` (hot path: no
        #: Python frame per request), so :meth:`take` empties this list rather than replacing it.
        self.record: Callable[[RequestEvent], None] = self._rows.append
        self._lock = threading.Lock()
        if streams is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        opener = streams or self._file_stream
        self._requests_out = opener(REQUESTS, worker, REQUEST_SCHEMA)
        self._users_out = opener(USERS, worker, USERS_SCHEMA)
        self._wall_offset_ns = time.time_ns() - int(time.monotonic() * 1e9)
        self._last_flush = time.monotonic()
        self.requests = 0  # written so far (the users table's cumulative counters)
        self.errors = 0

    @property
    def pending(self) -> int:
        return len(self._rows)

    def wall_ns(self, monotonic_s: float) -> int:
        """A ``time.monotonic()`` reading as UTC nanoseconds since the epoch."""
        return int(monotonic_s * 1e9) + self._wall_offset_ns

    def _file_stream(self, kind: str, worker: int, schema: pa.Schema) -> StreamSink:
        """The default opener: the worker's ``.arrows`` file in the run directory."""
        return StreamWriter(self.run_dir, kind, worker, schema)

    def take(self) -> list[RequestEvent]:
        """Hand over the rows recorded so far (call in the event loop's thread, then ``flush`` them)."""
        rows = self._rows.copy()
        self._rows.clear()
        return rows

    def flush(self, counts: UserCounts | None = None, rows: list[RequestEvent] | None = None) -> None:
        """Write ``rows`` (default: everything since the last flush) and a row of ``counts``.

        Safe to run in a worker thread with rows from :meth:`take`, so the event loop keeps its schedule
        while the batch is written; flushes never overlap.
        """
        with self._lock:
            rows = self.take() if rows is None else rows
            if rows:
                table, errors = self._to_table(rows)
                self._requests_out.write(table)
                self.requests += len(rows)
                self.errors += errors
            self._append_users_row(time.monotonic(), counts or UserCounts())

    def close(self, counts: UserCounts | None = None) -> Path | None:
        """Flush the rest, convert the streams into ``requests-<worker>.parquet`` and
        ``users-<worker>.parquet``; return the requests file's path (None: shipped elsewhere)."""
        self.flush(counts)
        with self._lock:
            self._users_out.finish()
            return self._requests_out.finish()

    def _to_table(self, rows: list[RequestEvent]) -> tuple[pa.Table, int]:
        """The rows as a table, and how many were errors."""
        # one transpose of the tuples; fields added to RequestEvent later (after these 15) are not written
        fields = list(zip(*rows, strict=True))
        user, session, action, method, route, path, status, intended, start, end, kind, nbytes, detail = (
            fields[:13]
        )
        expected, long_poll = fields[13:15]
        intended_s = np.fromiter(intended, np.float64, len(rows))
        start_s = np.fromiter(start, np.float64, len(rows))
        end_s = np.fromiter(end, np.float64, len(rows))
        latency_ms = (end_s - start_s) * 1e3
        corrected_ms = (end_s - np.minimum(intended_s, start_s)) * 1e3
        kinds = pa.array(kind, pa.string())
        error = kinds.is_valid()
        offset = self._wall_offset_ns
        columns = {
            "ts": _timestamps(start_s, offset),
            "user": pa.array(user, pa.string()),
            "session": pa.array(session, pa.string()),
            "action": pa.array(action, pa.string()),
            "method": pa.array(method, pa.string()),
            "route": pa.array(route, pa.string()),
            "path": pa.array(path, pa.string()),
            "status": pa.array(status, pa.int32()),
            "duration_ms": pa.array(latency_ms),
            "error": error,
            "source": pa.array(np.full(len(rows), "run", dtype=object), pa.string()),
            "intended": _timestamps(intended_s, offset),
            "latency_ms": pa.array(latency_ms),
            "latency_corrected_ms": pa.array(corrected_ms),
            "error_kind": kinds,
            "error_detail": pa.array(detail, pa.string()),
            "expected": pa.array(expected, pa.bool_()),
            "long_poll": pa.array(long_poll, pa.bool_()),
            "bytes": pa.array(nbytes, pa.int64()),
            "worker": pa.array(np.full(len(rows), self.worker, dtype=np.int32)),
        }
        table = pa.Table.from_pydict(columns, schema=REQUEST_SCHEMA)
        return table, len(rows) - kinds.null_count

    def _append_users_row(self, now: float, c: UserCounts) -> None:
        row = (
            self.wall_ns(now),
            self.worker,
            c.active_users,
            c.sessions_started,
            c.sessions_dropped,
            c.sessions_late,
            self.requests,
            self.errors,
        )
        arrays = [pa.array([value], type=f.type) for value, f in zip(row, USERS_SCHEMA, strict=True)]
        self._users_out.write(pa.Table.from_arrays(arrays, schema=USERS_SCHEMA))


def _timestamps(seconds: np.ndarray, offset_ns: int) -> pa.Array:
    ns = (seconds * 1e9).astype(np.int64) + offset_ns
    return pa.array(ns, pa.timestamp("ns", tz="UTC"))
