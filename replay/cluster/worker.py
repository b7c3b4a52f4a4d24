"""The one worker-side runner: a share of a run's users, in whichever process or machine it runs.

:func:`run_share` is what a local worker process (``local.py``) and a Dask worker (``dask.py``) both run:
it loads its share (:func:`~tracereplay.replay.runner.prepare_worker`), says it is ready, waits for the
parent's common start, runs the same :class:`~tracereplay.replay.loadtester.LoadTester` as an in-process
run, obeys commands within a second, and reports once a second: its live interval and the Arrow stream
bytes its recorder wrote in that second (:class:`~tracereplay.rundir.StreamBytes`). The parent writes
those bytes into the run directory, so the worker needs no disk the parent can see, and a lost worker
loses what it had not shipped yet: at most the last second or so.

Files the run names (model, trace, action pack, CA certificate) come in the job's ``files`` when the
worker may not see the parent's disk; they are written to a temporary folder for the worker's life.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from tracereplay import errors
from tracereplay.replay.cluster.base import (
    ADD,
    APPLIED,
    CLOSE,
    DONE,
    ERROR,
    GO,
    INTERVAL,
    RATE,
    READY,
    REMOVE,
    SCALE,
    STARTED,
    STOP,
    Channel,
    ChannelClosed,
    Command,
    WorkerJob,
    outcome_to_wire,
)
from tracereplay.replay.live import Interval, interval_to_wire
from tracereplay.replay.loadtester import LoadTester
from tracereplay.replay.metrics import RunMetrics
from tracereplay.replay.runner import prepare_worker, run_loop, start_tester
from tracereplay.replay.sources import starting_at
from tracereplay.rundir import StreamBytes

#: How long a worker waits for a command before looking again whether it should still listen.
LISTEN_S = 0.5
#: The files a job may carry, by role: where each sits in the job.
FILE_ROLES = ("model", "trace", "actions", "ca_cert")


def run_share(job: WorkerJob, channel: Channel) -> None:
    """Run one worker's share of the run to its end (blocking: its own event loop in this thread).

    Every outcome goes through ``channel``: a failure is an "error" report, never an exception."""
    try:
        with materialized(job) as local:
            run_loop(_share(local, channel), local.config.uvloop)
    except errors.TracereplayError as exc:
        channel.report({"kind": ERROR, "worker": job.worker, "type": type(exc).__name__, "text": str(exc)})
    except Exception as exc:  # reported, so the parent can say what happened in one line
        text = f"worker {job.worker}: {type(exc).__name__}: {exc}"
        channel.report({"kind": ERROR, "worker": job.worker, "type": "TracereplayError", "text": text})
    finally:
        channel.close()


def job_files(spec: object, trace: object, actions: str | None, ca_cert: str | None) -> dict[str, bytes]:
    """The contents of the files a run names, by role, for a job going where the parent's disk is not."""
    named = {"model": spec, "trace": trace, "actions": actions, "ca_cert": ca_cert}
    files: dict[str, bytes] = {}
    for role, value in named.items():
        if isinstance(value, str | Path) and Path(value).is_file():
            files[role] = Path(value).read_bytes()
    return files


@contextlib.contextmanager
def materialized(job: WorkerJob) -> Iterator[WorkerJob]:
    """``job`` with the files it carries written to a temporary folder and its paths pointing there."""
    if not job.files:
        yield job
        return
    with tempfile.TemporaryDirectory(prefix="tracereplay-worker-") as folder:
        config = job.config
        places = {"model": job.spec, "trace": job.trace, "actions": config.actions, "ca_cert": config.ca_cert}
        local: dict[str, str] = {}
        for role, data in job.files.items():
            place = places.get(role)
            if role not in FILE_ROLES or not isinstance(place, str | Path):
                continue
            path = Path(folder) / role / Path(place).name
            path.parent.mkdir()
            path.write_bytes(data)
            local[role] = str(path)
        config = dataclasses.replace(
            config, actions=local.get("actions", config.actions), ca_cert=local.get("ca_cert", config.ca_cert)
        )
        yield dataclasses.replace(
            job, spec=local.get("model", job.spec), trace=local.get("trace", job.trace), config=config
        )


class ShippedStreams:
    """The recorders' streams (requests, users, websockets) kept in memory and taken once a second, to
    travel with the reports."""

    def __init__(self) -> None:
        self._streams: dict[str, StreamBytes] = {}
        self._lock = threading.Lock()  # a stream may open in a flush thread while the loop takes

    def open(self, kind: str, worker: int, schema: pa.Schema) -> StreamBytes:
        with self._lock:
            stream = self._streams[kind] = StreamBytes(schema)
        return stream

    def take(self) -> dict[str, bytes]:
        with self._lock:
            streams = list(self._streams.items())
        return {kind: stream.take() for kind, stream in streams}


async def _share(job: WorkerJob, channel: Channel) -> None:
    worker = job.worker
    share, source, table = prepare_worker(
        job.spec, job.config, trace=job.trace, worker=worker, workers=job.workers
    )
    channel.report({"kind": READY, "worker": worker})
    go = await asyncio.to_thread(_await_go, channel)
    if go is None:
        return  # stopped before the load started
    launched, start = go
    source = starting_at(
        source, share, datetime.fromtimestamp(launched, UTC), wall=datetime.fromtimestamp(start, UTC)
    )
    await asyncio.sleep(max(0.0, start - time.time()))
    parts = ShippedStreams()
    metrics = RunMetrics() if job.metrics else None

    def figures() -> dict[str, object]:
        """The worker's cumulative Prometheus figures, for the parent's /metrics (if it serves one)."""
        if metrics is None:
            return {}
        metrics.set_arrival_rate(tester.workload.arrival_rate)
        return {"metrics": metrics.to_wire()}

    def each_second(interval: Interval) -> None:
        wire = interval_to_wire(interval)
        message = {"kind": INTERVAL, "worker": worker, "interval": wire, "parts": parts.take(), **figures()}
        channel.report(message)

    tester = await start_tester(
        share, source, table, worker=worker, on_interval=each_second, clock_start=start, streams=parts.open,
        listeners=[metrics.on_request] if metrics is not None else (),
    )
    channel.report({"kind": STARTED, "worker": worker, "facts": source.describe, "source": source.kind})

    def abandon() -> None:  # user code held the loop past the stop's grace: ship what we have, then exit
        outcome = outcome_to_wire(tester.outcome_so_far())
        channel.report(
            {"kind": DONE, "worker": worker, "outcome": outcome, "parts": parts.take(), **figures()}
        )

    tester.watchdog.on_expire = abandon
    loop = asyncio.get_running_loop()
    if threading.current_thread() is threading.main_thread():  # a Dask worker runs us in a thread
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, tester.stop)
    finished = threading.Event()
    listener = threading.Thread(
        target=_listen, args=(channel, loop, tester, worker, finished), daemon=True, name="commands"
    )
    listener.start()
    try:
        outcome = await tester.wait()
    finally:
        finished.set()
    wire = outcome_to_wire(outcome)
    channel.report({"kind": DONE, "worker": worker, "outcome": wire, "parts": parts.take(), **figures()})


def _await_go(channel: Channel) -> tuple[float, float] | None:
    """When the run was launched and its workers' common start (epoch seconds), or None if told to stop
    first or the parent is gone."""
    while True:
        try:
            command = channel.command(LISTEN_S)
        except ChannelClosed:
            return None
        if command is None:
            continue
        if command[0] == GO:
            return command[1], command[2]
        if command[0] in (STOP, CLOSE):
            return None


def _listen(
    channel: Channel,
    loop: asyncio.AbstractEventLoop,
    tester: LoadTester,
    worker: int,
    finished: threading.Event,
) -> None:
    """Pass the parent's commands to the event loop until the load ends (or the parent is gone: stop)."""
    while not finished.is_set():
        try:
            command = channel.command(LISTEN_S)
        except ChannelClosed:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(tester.stop)
            return
        if command is None:
            continue
        if command[0] == CLOSE:
            return
        try:
            loop.call_soon_threadsafe(_obey, tester, command, channel, worker)
        except RuntimeError:
            return  # the loop closed: the load is over


def _obey(tester: LoadTester, command: Command, channel: Channel, worker: int) -> None:
    name, *args = command
    try:
        if name == STOP:
            tester.stop()
        elif name == ADD:
            tester.add_users(args[0])
        elif name == REMOVE:
            tester.remove_users(args[0])
        elif name == RATE:
            tester.set_arrival_rate(args[0])
        elif name == SCALE:
            tester.scale_arrivals(args[0])
        else:
            return
    except ValueError:
        return  # a control that does not apply to this workload
    sent = args[-1] if args else None
    channel.report({"kind": APPLIED, "worker": worker, "command": name, "sent": sent, "applied": time.time()})
