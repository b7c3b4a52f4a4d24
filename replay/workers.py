"""Several workers for one run, on any :class:`~tracereplay.replay.cluster.base.Cluster`: users split, no
shared state, one run directory written by the parent.

The workers are processes on this machine (``--workers N``, ``replay/cluster/local.py``) or the workers
of a Dask cluster (``--cluster``, ``replay/cluster/dask.py``); each runs the same worker-side runner
(``replay/cluster/worker.py``) with its share of the users or arrival rate (``RunConfig.for_worker``).
This module is the one parent side for both: it splits the users, releases every worker at one start,
steers them (add/remove users, arrival rate, stop), and merges what they report: once a second a live
interval (the progress line covers every worker) and the Arrow stream bytes of their requests and
counters, which it appends to ``requests-<w>.arrows`` / ``users-<w>.arrows`` in the run directory
(:class:`~tracereplay.rundir.ReceivedStream`) and converts to Parquet at the end.

The workers start their load together: each loads its model (or trace) and says it is ready; once all are,
the parent picks one wall-clock start a little ahead (``RELEASE_AHEAD_S``) and sends it to every worker,
which starts its load, and its profile clock, at that moment. So the workers cover one profile window,
whatever their start-up times.

A worker lost mid-run (its process killed, its node gone) is reported on stderr and in ``run.json``'s
``lost_workers`` (its users, when, and the run time they lost); what it shipped before stays in the run
directory, and the run goes on with the others.

With a :class:`~tracereplay.replay.metrics.RunMetrics` (``start_pool(metrics=…)``: ``run --metrics-port``,
``--dashboard``), each worker also counts Prometheus figures and ships a cumulative snapshot with each
report; the parent keeps the latest of each, so its ``/metrics`` covers every worker, and a lost worker's
counts stay in the sums.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from tracereplay import errors
from tracereplay.histogram import LatencyHistogram
from tracereplay.replay.actions.pack import check_actions, load_pack
from tracereplay.replay.cluster.base import (
    ADD,
    APPLIED,
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
    Cluster,
    Report,
    WorkerJob,
    outcome_from_wire,
)
from tracereplay.replay.cluster.local import ProcessCluster
from tracereplay.replay.cluster.worker import job_files
from tracereplay.replay.config import RunConfig, Workload
from tracereplay.replay.live import LiveStats, interval_from_wire
from tracereplay.replay.loadtester import ExitReason, WorkerOutcome
from tracereplay.replay.metrics import RunMetrics
from tracereplay.replay.recorder import UserCounts
from tracereplay.replay.runner import RunResult, describe_spec, finish_run, write_start
from tracereplay.replay.sources import ProfileRate, run_window, small_spec_actions, spec_profile
from tracereplay.rundir import (
    REQUEST_SCHEMA,
    REQUESTS,
    USERS,
    USERS_SCHEMA,
    WS,
    WS_SCHEMA,
    ReceivedStream,
)

log = logging.getLogger(__name__)

#: The streams a worker ships, by kind: what the parent writes them into the run directory as.
SCHEMAS = {REQUESTS: REQUEST_SCHEMA, USERS: USERS_SCHEMA, WS: WS_SCHEMA}
#: How far ahead of the release the common start is: time for the "go" to reach every worker.
RELEASE_AHEAD_S = 0.25
#: Seconds workers interrupted before the load started get to end on their own before they are ended.
ABORT_CLOSE_S = 1.0
#: A worker found gone this many times in a row (checked each second) without its "done" is lost: its
#: last reports may still be on their way when its process ends.
LOST_AFTER_CHECKS = 2


class WorkerLost(RuntimeWarning):
    """A worker ended mid-run without finishing; the run goes on with the others."""


class PoolHandle:
    """A run across a cluster's workers; the same controls as ``RunHandle``."""

    def __init__(
        self,
        config: RunConfig,
        cluster: Cluster,
        jobs: list[WorkerJob],
        progress: Callable[[dict[str, Any]], None] | None = None,
        *,
        facts: dict[str, Any] | None = None,
        profile: ProfileRate | None = None,
        launched: float | None = None,
        interrupted: asyncio.Event | None = None,
        metrics: RunMetrics | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics  # the whole run's Prometheus figures, from the workers' snapshots
        self.cluster = cluster
        self._interrupted = interrupted or asyncio.Event()  # a stop signal while the workers start
        self._aborted: RunResult | None = None  # the run, finalised, if its start-up was interrupted
        self.workers = config.workers
        # epoch seconds; a profile clock without profile_start shows this moment's time at its start
        self.launched = launched or time.time()
        self.start_at: float | None = None  # the workers' common start (epoch seconds), once released
        self._first_facts = facts or {}  # what run.json says before the workers report
        self._profile = profile  # worker 0's profile clock, for run.json's window at the release
        self._jobs = jobs
        self.stats = LiveStats()
        self._progress = progress
        self.control_latency_s: list[float] = []  # command sent → applied by a worker, each time
        # each worker's streams, opened as their first bytes arrive
        self._streams: dict[tuple[str, int], ReceivedStream] = {}
        self._outcomes: dict[int, WorkerOutcome] = {}
        self._failures: dict[int, tuple[str, str]] = {}
        self._lost: dict[int, dict[str, Any]] = {}
        self._received: dict[int, WorkerOutcome] = {}  # what each worker's intervals added up to
        self._gone_checks = [0] * self.workers
        self._facts: dict[str, Any] = {}
        self._kind = "model"
        shares = [config.for_worker(w) for w in range(self.workers)]
        self._users = [s.users or 0 for s in shares]  # each worker's users, as split and steered
        self._rate: float | None = config.arrival_rate
        self._changed = asyncio.Event()
        self._ready: set[int] = set()
        self._started: set[int] = set()
        self._closing = threading.Event()
        self._stopping = False

    # runtime control -----------------------------------------------------------------------------------
    @property
    def active_users(self) -> int:
        return self.stats.snapshot()["active_users"]

    @property
    def arrival_rate(self) -> float | None:
        return self._rate

    def add_users(self, n: int) -> None:
        """n more users, each to the running worker with the fewest."""
        live = self._running()
        if self.config.workload is not Workload.CLOSED:
            raise ValueError("add_users applies to the closed workload (use set_arrival_rate for open)")
        for worker, count in self._rebalance(n, live, fewest=True).items():
            self._users[worker] += count
            self.cluster.send(worker, [ADD, count, time.time()])

    def remove_users(self, n: int) -> int:
        """n fewer users, each from the running worker with the most; returns how many."""
        if self.config.workload is not Workload.CLOSED:
            raise ValueError("remove_users applies to the closed workload (use set_arrival_rate for open)")
        live = self._running()
        n = min(n, sum(self._users[w] for w in live))
        for worker, count in self._rebalance(n, live, fewest=False).items():
            self._users[worker] -= count
            self.cluster.send(worker, [REMOVE, count, time.time()])
        return n

    def set_arrival_rate(self, rate: float) -> None:
        """The whole run's arrival rate, split evenly over the running workers."""
        live = self._running()
        self._rate = rate
        for worker in live:
            self.cluster.send(worker, [RATE, rate / max(1, len(live)), time.time()])

    def stop(self) -> None:
        self._stopping = True
        for worker in self._running():
            self.cluster.send(worker, [STOP, time.time()])

    def _running(self) -> list[int]:
        return [w for w in range(self.workers) if w not in self._lost and w not in self._outcomes]

    def _rebalance(self, n: int, live: list[int], *, fewest: bool) -> dict[int, int]:
        """Which workers take (or give up) ``n`` users, one at a time, keeping their shares level."""
        users = {w: self._users[w] for w in live}
        moves: dict[int, int] = {}
        for _ in range(n if live else 0):
            worker = min(users, key=users.get) if fewest else max(users, key=users.get)  # type: ignore[arg-type]
            users[worker] += 1 if fewest else -1
            moves[worker] = moves.get(worker, 0) + 1
        return moves

    # lifecycle -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.cluster.launch, self._jobs)
        threading.Thread(target=self._pump, args=(loop,), daemon=True, name="reports").start()
        self._tick = loop.create_task(self._each_second())
        if not await self._until(lambda: len(self._ready) == self.workers):
            return
        self._release()
        if not await self._until(lambda: len(self._started) == self.workers):
            return
        # the live clock starts with the load, not with the spawning
        self.stats.started = time.monotonic() + (self.start_at or time.time()) - time.time()

    async def _until(self, condition: Callable[[], bool]) -> bool:
        """Wait until ``condition()``; a worker failing or lost before the load starts fails the run; a stop
        signal meanwhile ends the start-up (False), the run finalised as interrupted."""
        while not condition() and not self._failures and not self._lost and not self._interrupted.is_set():
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.5)
        if self._interrupted.is_set() and not condition() and not self._failures:
            await self._abort()
            return False
        if self._failures or self._lost:
            self.stop()
            await self._shutdown()
            if self._failures:
                self._raise_first_failure()
            raise errors.TracereplayError(
                f"worker {min(self._lost)} ({self._lost[min(self._lost)]['where']}) ended before the load "
                f"started ({self.cluster.describe()})"
            )
        return True

    async def _abort(self) -> None:
        """Stop the workers mid-start and finalise ``run.json``: interrupted, nothing sent."""
        self.stop()
        # nothing was sent yet, so nothing is lost by not waiting: a worker still importing or loading its
        # model hears the stop only when that ends (seconds), and the signal must end the run well within
        # its grace
        await self._shutdown(ABORT_CLOSE_S)
        now = time.time()
        outcomes = [
            WorkerOutcome(
                worker=w, exit_reason=ExitReason.INTERRUPTED, started=self.start_at or now, ended=now,
                requests=0, errors=0, counts=UserCounts(), requests_file=None,
            )
            for w in range(self.workers)
        ]
        facts = {**self._first_facts, "source": self._kind}
        self._aborted = finish_run(self.config, facts, outcomes)

    def _release(self) -> None:
        """Pick the one start of every worker's load and profile clock; run.json's window starts there."""
        self.start_at = time.time() + RELEASE_AHEAD_S
        start = datetime.fromtimestamp(self.start_at, UTC)
        if self._profile is not None:  # the same window, from this moment on
            window = run_window(self._profile, self.config.for_worker(0), start)
            self._first_facts = {**self._first_facts, "profile": window}
        write_start(self.config, self._first_facts, started=start)
        for worker in range(self.workers):
            self.cluster.send(worker, [GO, self.launched, self.start_at])

    async def wait(self) -> RunResult:
        if self._aborted is not None:
            return self._aborted
        while len(self._outcomes) + len(self._lost) < self.workers:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.5)
        await self._shutdown()
        files = await asyncio.gather(*(asyncio.to_thread(s.finish) for s in self._streams.values()))
        requests_files = {w: f for (kind, w), f in zip(self._streams, files, strict=True) if kind == REQUESTS}
        outcomes = [
            self._with_file(self._outcomes.get(w) or self._received_outcome(w), requests_files.get(w))
            for w in range(self.workers)
        ]
        if not self._outcomes and self._failures:
            self._raise_first_failure()
        facts = {**self._facts, "source": self._kind, "model": self._first_facts.get("model")}
        lost = [self._lost[w] for w in sorted(self._lost)]
        return finish_run(self.config, facts, outcomes, lost_workers=lost)

    async def _shutdown(self, timeout: float | None = None) -> None:
        """Close the workers: they get ``timeout`` seconds (default: the grace and 5 s to ship their
        parts) to end on their own, then are ended."""
        self._tick.cancel()
        await asyncio.to_thread(self.cluster.close, self.config.grace + 5 if timeout is None else timeout)
        self._closing.set()
        # reports read before the close are merged; the reader stops within its poll
        await asyncio.sleep(0)

    @staticmethod
    def _with_file(outcome: WorkerOutcome, path: Path | None) -> WorkerOutcome:
        return dataclasses.replace(outcome, requests_file=path)

    def _received_outcome(self, worker: int) -> WorkerOutcome:
        """A lost worker's outcome: what its intervals shipped before it was lost."""
        now = time.time()
        return self._received.get(worker) or WorkerOutcome(
            worker=worker,
            exit_reason=ExitReason.ERROR,
            started=self.start_at or now,
            ended=now,
            requests=0,
            errors=0,
            counts=UserCounts(),
            requests_file=None,
        )

    def _pump(self, loop: asyncio.AbstractEventLoop) -> None:
        while not self._closing.is_set():
            message = self.cluster.receive(0.5)
            if message is None:
                continue
            try:
                loop.call_soon_threadsafe(self._on_report, message)
            except RuntimeError:  # the loop closed meanwhile
                return

    def _on_report(self, message: Report) -> None:
        kind, worker = message["kind"], message["worker"]
        for part, data in (message.get("parts") or {}).items():
            if part in SCHEMAS:  # a kind this version does not know is not written
                self._stream(part, worker).append(data)
        if kind == INTERVAL:
            interval = interval_from_wire(message["interval"])
            if worker not in self._lost:
                self.stats.add(interval)
                if self.metrics is not None:
                    self.metrics.on_interval(interval)
            self._count_received(worker, interval)
        elif kind == READY:
            self._ready.add(worker)
        elif kind == STARTED:
            self._started.add(worker)
            self._facts, self._kind = message["facts"], message["source"]
        elif kind == APPLIED:
            if message.get("sent") is not None:
                self.control_latency_s.append(message["applied"] - message["sent"])
        elif kind == DONE:
            self._outcomes[worker] = outcome_from_wire(message["outcome"], None)
        elif kind == ERROR:
            self._failures[worker] = (message["type"], message["text"])
            if worker in self._started:
                self._mark_lost(worker, f"failed: {message['text']}")
        if self.metrics is not None:
            _count_metrics(self.metrics, worker, message)
        self._changed.set()

    def _stream(self, kind: str, worker: int) -> ReceivedStream:
        key = (kind, worker)
        if key not in self._streams:
            self._streams[key] = ReceivedStream(self.config.out, kind, worker, SCHEMAS[kind])
        return self._streams[key]

    def _count_received(self, worker: int, interval: Any) -> None:
        before = self._received.get(worker)
        corrected = before.corrected if before is not None and before.corrected else LatencyHistogram.empty()
        corrected.add(interval.histogram)
        self._received[worker] = WorkerOutcome(
            worker=worker,
            exit_reason=ExitReason.ERROR,
            started=before.started if before is not None else (self.start_at or time.time()),
            ended=time.time(),
            requests=(before.requests if before is not None else 0) + interval.requests,
            errors=(before.errors if before is not None else 0) + interval.errors,
            counts=interval.counts,
            requests_file=None,
            corrected=corrected,
        )

    async def _each_second(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._watch()
            if self._progress is not None and len(self._started) == self.workers:
                self._progress(self.stats.snapshot())

    def _watch(self) -> None:
        """Find workers gone without their "done": lost (reported, the run goes on)."""
        for worker in self._running():
            gone = not self.cluster.alive(worker)
            self._gone_checks[worker] = self._gone_checks[worker] + 1 if gone else 0
            if self._gone_checks[worker] >= LOST_AFTER_CHECKS:
                self._mark_lost(worker, "gone")

    def _mark_lost(self, worker: int, why: str) -> None:
        if worker in self._lost or worker in self._outcomes:
            return
        running_before = len(self._running())
        at_s = time.time() - self.start_at if self.start_at is not None else 0.0
        duration = self.config.duration
        entry: dict[str, Any] = {
            "worker": worker,
            "where": self.cluster.where(worker),
            "why": why,
            "at_s": round(at_s, 3),
            "lost_s": round(max(0.0, duration - at_s), 3) if duration is not None else None,
            "users": self._users[worker] if self.config.workload is Workload.CLOSED else None,
            "arrival_rate": (
                self._rate / max(1, len(self._running())) if self._rate is not None else None
            ),
        }
        self._lost[worker] = entry
        self.stats.forget(worker)
        if self.metrics is not None:
            self.metrics.retire(worker)
        self._changed.set()
        if worker not in self._started:
            return  # before the load: start() fails the run
        entry["moved"] = self._move_share(entry, running_before)
        left = len(self._running())
        warnings.warn(
            f"worker {worker} ({entry['where']}) lost {at_s:.1f}s into the run ({why}): "
            f"{_fate(entry, left)}; the run goes on with {left} worker{'s' if left != 1 else ''}",
            WorkerLost,
            stacklevel=1,
        )

    def _move_share(self, entry: dict[str, Any], running_before: int) -> str | None:
        """Give a lost worker's load to the running ones, so the run keeps the load it was asked for (as
        Locust's master rebalances): its users (closed), or its arrivals (open: each survivor's × before /
        after). A trace replay's recorded users stay with their worker (moving them would replay some twice),
        and nothing moves once the run is stopping. Returns what moved: "users", "arrivals" or None."""
        live = self._running()
        if self._stopping or not live or self._kind == "trace":
            return None
        if self.config.workload is Workload.CLOSED:
            if not entry["users"]:
                return None
            self.add_users(entry["users"])
            return "users"
        factor = running_before / len(live)
        for worker in live:
            self.cluster.send(worker, [SCALE, factor, time.time()])
        return "arrivals"

    def _raise_first_failure(self) -> None:
        name, text = self._failures[min(self._failures)]
        error_type = getattr(errors, name, errors.TracereplayError)
        if error_type is errors.ConfigError:
            raise errors.ConfigError(text)
        if issubclass(error_type, errors.InputError):
            raise errors.TracereplayError(text)
        raise error_type(text)


def _fate(entry: dict[str, Any], left: int) -> str:
    """What became of a lost worker's load, for its warning."""
    others = f"the other {left} worker{'s' if left != 1 else ''}"
    lost_time = f", {entry['lost_s']:.0f}s of their load lost" if entry["lost_s"] is not None else ""
    if entry["moved"] == "users":
        return f"its {entry['users']:,} users move to {others}"
    if entry["moved"] == "arrivals":
        return f"its arrivals move to {others}"
    if entry["users"] is not None:
        return f"its {entry['users']:,} users stop{lost_time}"
    return f"its arrivals stop{lost_time}"


def _count_metrics(metrics: RunMetrics, worker: int, message: Report) -> None:
    """The worker's cumulative Prometheus snapshot into the run's sums; an ended worker's users and
    arrival rate leave the gauges. After the run's own bookkeeping: a snapshot it cannot read is
    logged and skipped, never the report's "done" lost with it."""
    try:
        if "metrics" in message:
            metrics.add_worker(worker, message["metrics"])
        if message["kind"] == DONE:
            metrics.retire(worker)
    except (KeyError, TypeError, ValueError, IndexError):
        log.warning("worker %d sent a metrics snapshot that does not read; skipped", worker)


async def start_pool(
    model: object,
    *,
    target: str,
    trace: str | Path | pd.DataFrame | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    on: Cluster | None = None,
    interrupted: asyncio.Event | None = None,
    metrics: RunMetrics | None = None,
    **settings: Any,
) -> PoolHandle:
    """Validate, write ``run.json``, start the workers (``workers`` local processes, or one per worker of
    the Dask cluster ``cluster`` names, or of ``on``); returns once they all run. ``metrics``: the workers
    count Prometheus figures too, and it shows their sum."""
    config = RunConfig(target=target, **settings).validate(trace=trace is not None)
    pack = load_pack(config.actions)  # a bad pack is one clear error here, not one per worker
    for spec in (model, trace):
        if isinstance(spec, str | Path) and not Path(spec).exists():
            raise errors.InputError(spec, "no such file")
    # the model is read off the event loop: a served run's /metrics and dashboard answer while it loads
    actions = await asyncio.to_thread(small_spec_actions, model) if trace is None else None
    if actions is not None:  # a script or a behaviour: checked before run.json is written
        check_actions(pack, actions, source=f"{describe_spec(model, None) or 'script'}")
    cluster = on or await asyncio.to_thread(_open_cluster, config)  # a LocalCluster takes seconds
    try:
        if cluster.size != config.workers:
            config = RunConfig(target=target, **{**settings, "workers": cluster.size}).validate(
                trace=trace is not None
            )
        # run.json says from the start what the run is meant to do: the profile window (its wall_start is set
        # once the workers are up and released: PoolHandle._release)
        launched = time.time()
        now = datetime.fromtimestamp(launched, UTC)
        first = config.for_worker(0)
        profile = await asyncio.to_thread(spec_profile, model, first, now=now) if trace is None else None
        facts: dict[str, Any] = {"model": describe_spec(model, trace)}
        if profile is not None:
            facts["profile"] = run_window(profile, config.for_worker(0), now)
        write_start(config, facts, started=now)
        files = {} if cluster.shares_disk else job_files(model, trace, config.actions, config.ca_cert)
        jobs = [
            WorkerJob(
                spec=model, trace=trace, config=config, worker=w, workers=config.workers, files=files,
                metrics=metrics is not None,
            )
            for w in range(config.workers)
        ]
    except BaseException:
        await asyncio.to_thread(cluster.close, 0)
        raise
    handle = PoolHandle(
        config, cluster, jobs, progress, facts=facts, profile=profile, launched=launched,
        interrupted=interrupted, metrics=metrics,
    )
    await handle.start()
    return handle


def _open_cluster(config: RunConfig) -> Cluster:
    """The cluster ``config`` asks for: a Dask cluster (``cluster``), else ``workers`` local processes."""
    if config.cluster is None:
        return ProcessCluster(config.workers)
    # here, not at the top: distributed takes a second to import, and only --cluster runs need it
    from tracereplay.replay.cluster.dask import DaskCluster

    return DaskCluster(config.cluster)
