"""The seam between a run's parent and its workers, whatever carries the messages.

The parent (``replay/workers.py``) starts one worker per :class:`WorkerJob` on a :class:`Cluster`, sends
each commands and receives reports; each worker runs :func:`~tracereplay.replay.cluster.worker.run_share`,
which talks through a :class:`Channel`. Messages are plain data (lists, dicts, numbers, strings, bytes)
so any carrier can take them: a multiprocessing queue, a Dask queue.

Commands (parent → one worker), lists whose first item is the name:
    ["go", launched, start]   start the load at ``start`` (epoch seconds); ``launched``: when the run began
    ["add", n, sent]          n more users (closed workload); ``sent``: the parent's clock, for latency
    ["remove", n, sent]       n fewer users
    ["rate", r, sent]         this worker's arrival rate, sessions/s (open workload)
    ["scale", f, sent]        this worker's arrivals × f (open workload: a lost worker's share taken over)
    ["stop", sent]            stop gracefully
    ["close"]                 the parent is done with this worker: stop listening

Reports (worker → parent), dicts with "kind" and "worker":
    ready                     the worker's share is loaded; it waits for "go"
    started                   the load started; "facts" (run.json's source facts), "source" (its kind)
    interval                  once a second: "interval" (``live.interval_to_wire``) and "parts"; with
                              ``WorkerJob.metrics``, "metrics" too (``RunMetrics.to_wire``, cumulative)
    applied                   a command was applied: "command", "sent", "applied" (epoch seconds)
    done                      the worker ended: "outcome" (``outcome_to_wire``), the last "parts" (and
                              "metrics")
    error                     the worker failed: "type" (an ``errors`` class name) and "text"

"parts" maps ``rundir.REQUESTS`` / ``rundir.USERS`` to the stream bytes written since the last report
(:class:`~tracereplay.rundir.StreamBytes`): results travel with the reports, no shared disk is assumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from tracereplay.histogram import LatencyHistogram
from tracereplay.replay.config import RunConfig
from tracereplay.replay.loadtester import ExitReason, WorkerOutcome
from tracereplay.replay.recorder import UserCounts

GO, ADD, REMOVE, RATE, SCALE, STOP, CLOSE = "go", "add", "remove", "rate", "scale", "stop", "close"
READY, STARTED, INTERVAL, APPLIED, DONE, ERROR = "ready", "started", "interval", "applied", "done", "error"

Command = list[Any]
Report = dict[str, Any]


class ChannelClosed(Exception):
    """The parent is gone (or closed the channel): the worker stops."""


@dataclass(frozen=True, kw_only=True)
class WorkerJob:
    """What one worker is asked to run: the whole run's spec and settings, and which share is its own.

    ``files`` carries the contents of the files the run names (model, trace, action pack, CA
    certificate) to workers that may not see the parent's disk, keyed by the role they play. ``metrics``:
    count Prometheus figures (``replay/metrics.py``) and ship them with each report (the parent serves
    ``/metrics``); off, the hot path does not pay for them."""

    spec: object
    trace: str | Path | pd.DataFrame | None
    config: RunConfig
    worker: int
    workers: int
    files: dict[str, bytes] = field(default_factory=dict)
    metrics: bool = False


class Channel(Protocol):
    """A worker's end: send reports, receive commands."""

    def report(self, message: Report) -> None:
        """Send a report; never blocks the caller for long (the worker's event loop calls it)."""
        ...

    def command(self, timeout: float) -> Command | None:
        """The next command, or None if none came within ``timeout`` seconds; ChannelClosed when the
        parent is gone."""
        ...

    def close(self) -> None:
        """Deliver every report sent so far; the worker is about to end."""
        ...


class Cluster(Protocol):
    """The parent's end: start workers somewhere, steer them, hear from them, tear down what it started.

    ``receive`` blocks and is called from one reader thread; the other methods from the event loop.
    ``shares_disk`` says whether workers see the parent's files (else jobs carry them)."""

    shares_disk: bool

    @property
    def size(self) -> int:
        """How many workers the run gets (one per process, or per Dask worker)."""
        ...

    def describe(self) -> str:
        """What it is, for messages: ``2 local processes``, ``Dask tcp://10.0.0.5:8786``."""
        ...

    def launch(self, jobs: list[WorkerJob]) -> None:
        """Start one worker per job (``job.worker`` is its index)."""
        ...

    def send(self, worker: int, command: Command) -> None: ...

    def receive(self, timeout: float) -> Report | None:
        """The next report from any worker, or None after ``timeout`` seconds."""
        ...

    def alive(self, worker: int) -> bool:
        """False once the worker is known to be gone (ended, killed, its node lost)."""
        ...

    def where(self, worker: int) -> str:
        """Where the worker runs, for messages (a pid, a Dask worker's address)."""
        ...

    def close(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for workers still running, then stop and release everything."""
        ...


def outcome_to_wire(o: WorkerOutcome) -> dict[str, Any]:
    c = o.counts
    return {
        "worker": o.worker,
        "exit_reason": o.exit_reason.value,
        "started": o.started,
        "ended": o.ended,
        "requests": o.requests,
        "errors": o.errors,
        "counts": [c.active_users, c.sessions_started, c.sessions_dropped, c.sessions_late],
        "measured": o.measured.to_wire() if o.measured is not None else None,
        "corrected": o.corrected.to_wire() if o.corrected is not None else None,
        "loop_blocked": o.loop_blocked,
        "ended_by": o.ended_by,
    }


def outcome_from_wire(d: dict[str, Any], requests_file: Path | None) -> WorkerOutcome:
    def histogram(wire: dict[str, Any] | None) -> LatencyHistogram | None:
        return LatencyHistogram.from_wire(wire) if wire is not None else None

    return WorkerOutcome(
        worker=d["worker"],
        exit_reason=ExitReason(d["exit_reason"]),
        started=d["started"],
        ended=d["ended"],
        requests=d["requests"],
        errors=d["errors"],
        counts=UserCounts(*d["counts"]),
        requests_file=requests_file,
        measured=histogram(d["measured"]),
        corrected=histogram(d["corrected"]),
        loop_blocked=d.get("loop_blocked"),
        ended_by=d.get("ended_by", "run"),
    )
