"""Several worker processes for one run: users sharded, no shared state, one run directory.

Each worker is a separate process (``spawn``) running its own event loop and ``LoadTester`` with its share
of the users or arrival rate (``RunConfig.for_worker``), writing its ``requests-<w>`` and ``users-<w>``
files into the same run directory (:mod:`tracereplay.rundir`). The parent only passes messages: commands
to each worker (add/remove users, set the arrival rate, stop) and, from the workers, one interval a second
(for the live view) and a final outcome (merged into ``run.json``). A worker that dies leaves its Arrow
streams, which stay readable up to its last second.

The workers start their load together: each loads its model (or trace) and says it is ready; once all are,
the parent picks one wall-clock start a little ahead (``RELEASE_AHEAD_S``) and sends it to every worker,
which starts its load, and its profile clock, at that moment. So the workers cover one profile window,
whatever their spawn times.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import queue
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tracereplay import errors
from tracereplay.histogram import LatencyHistogram
from tracereplay.replay.actions.pack import check_actions, load_pack
from tracereplay.replay.config import RunConfig
from tracereplay.replay.live import LiveStats, interval_from_wire, interval_to_wire
from tracereplay.replay.loadtester import ExitReason, WorkerOutcome
from tracereplay.replay.recorder import UserCounts
from tracereplay.replay.runner import (
    RunResult,
    describe_spec,
    finish_run,
    prepare_worker,
    run_loop,
    start_tester,
    write_start,
)
from tracereplay.replay.sources import ProfileRate, run_window, small_spec_actions, spec_profile, starting_at

STOP, ADD, REMOVE, RATE, GO = "stop", "add", "remove", "rate", "go"
#: How far ahead of the release the common start is: time for the "go" to reach every worker.
RELEASE_AHEAD_S = 0.25


# ------------------------------------------------------------------------------------------- the worker side
def worker_main(
    spec: object,
    trace: object,
    config: RunConfig,
    worker: int,
    workers: int,
    commands: mp.Queue,
    reports: mp.Queue,
) -> None:
    """Entry point of a worker process."""
    coroutine = _worker(spec, trace, config, worker, workers, commands, reports)
    try:
        run_loop(coroutine, config.uvloop)
    except errors.TracereplayError as exc:
        reports.put(("error", worker, type(exc).__name__, str(exc)))
    except BaseException as exc:  # report, so the parent can say what happened in one line
        reports.put(("error", worker, "TracereplayError", f"worker {worker}: {type(exc).__name__}: {exc}"))


async def _worker(spec, trace, config, worker, workers, commands, reports) -> None:
    loop = asyncio.get_running_loop()
    share, source, table = prepare_worker(spec, config, trace=trace, worker=worker, workers=workers)
    reports.put(("ready", worker))
    go = await asyncio.to_thread(_await_go, commands)
    if go is None:
        return  # stopped before the load started
    launched, start = go
    when = datetime.fromtimestamp(start, UTC)
    source = starting_at(source, share, datetime.fromtimestamp(launched, UTC), wall=when)
    await asyncio.sleep(max(0.0, start - time.time()))
    tester = await start_tester(
        share,
        source,
        table,
        worker=worker,
        on_interval=lambda interval: reports.put(("interval", interval_to_wire(interval))),
        clock_start=start,
    )
    reports.put(("started", worker, source.describe, source.kind))
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, tester.stop)

    def obey(command: tuple) -> None:
        name, *args = command
        try:
            if name == STOP:
                tester.stop()
            elif name == ADD:
                tester.add_users(*args)
            elif name == REMOVE:
                tester.remove_users(*args)
            elif name == RATE:
                tester.set_arrival_rate(*args)
        except ValueError:
            pass  # a control that does not apply to this workload

    def listen() -> None:
        while True:
            command = commands.get()
            if command is None:
                return
            loop.call_soon_threadsafe(obey, command)

    threading.Thread(target=listen, daemon=True, name="commands").start()
    outcome = await tester.wait()
    reports.put(("done", worker, _outcome_to_wire(outcome)))


def _await_go(commands: mp.Queue) -> tuple[float, float] | None:
    """When the pool was launched and its workers' common start (epoch seconds), or None if told to stop
    first or the parent is gone."""
    parent = mp.parent_process()
    while parent is None or parent.is_alive():
        try:
            command = commands.get(timeout=0.5)
        except queue.Empty:
            continue
        if command is not None and command[0] == GO:
            return command[1], command[2]
        if command is None or command[0] == STOP:
            return None
    return None


def _outcome_to_wire(o: WorkerOutcome) -> dict[str, Any]:
    c = o.counts
    return {
        "worker": o.worker,
        "exit_reason": o.exit_reason.value,
        "started": o.started,
        "ended": o.ended,
        "requests": o.requests,
        "errors": o.errors,
        "counts": [c.active_users, c.sessions_started, c.sessions_dropped, c.sessions_late],
        "requests_file": str(o.requests_file) if o.requests_file else None,
        "measured": o.measured.to_wire() if o.measured is not None else None,
        "corrected": o.corrected.to_wire() if o.corrected is not None else None,
    }


def _outcome_from_wire(d: dict[str, Any]) -> WorkerOutcome:
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
        requests_file=Path(d["requests_file"]) if d["requests_file"] else None,
        measured=histogram(d["measured"]),
        corrected=histogram(d["corrected"]),
    )


# ------------------------------------------------------------------------------------------- the parent side
class PoolHandle:
    """A run across worker processes; the same controls as ``RunHandle``."""

    def __init__(
        self,
        config: RunConfig,
        spec: object,
        trace: object,
        progress=None,
        *,
        facts: dict[str, Any] | None = None,
        profile: ProfileRate | None = None,
        launched: float | None = None,
    ) -> None:
        self.config = config
        # epoch seconds; a profile clock without profile_start shows this moment's time at its start
        self.launched = launched or time.time()
        self.start_at: float | None = None  # the workers' common start (epoch seconds), once released
        self._first_facts = facts or {}  # what run.json says before the workers report
        self._profile = profile  # worker 0's profile clock, for run.json's window at the release
        self.workers = config.workers
        self.stats = LiveStats()
        self._progress = progress
        self._spec, self._trace = spec, trace
        context = mp.get_context("spawn")
        self._reports: mp.Queue = context.Queue()
        self._commands: list[mp.Queue] = [context.Queue() for _ in range(self.workers)]
        self._processes = [
            context.Process(
                target=worker_main,
                name=f"tracereplay-worker-{i}",
                daemon=True,
                args=(spec, trace, config, i, self.workers, self._commands[i], self._reports),
            )
            for i in range(self.workers)
        ]
        self._outcomes: dict[int, WorkerOutcome] = {}
        self._failures: list[tuple[str, str]] = []
        self._facts: dict[str, Any] = {}
        self._kind = "model"
        self._rate: float | None = config.arrival_rate
        self._next = 0  # round robin for add/remove
        self._changed = asyncio.Event()
        self._ready_count = 0
        self._started_count = 0

    # runtime control -----------------------------------------------------------------------------------
    @property
    def active_users(self) -> int:
        return self.stats.snapshot()["active_users"]

    @property
    def arrival_rate(self) -> float | None:
        return self._rate

    def add_users(self, n: int) -> None:
        for worker, share in self._split(n):
            self._commands[worker].put((ADD, share))

    def remove_users(self, n: int) -> int:
        for worker, share in self._split(n):
            self._commands[worker].put((REMOVE, share))
        return n

    def set_arrival_rate(self, rate: float) -> None:
        self._rate = rate
        for q in self._commands:
            q.put((RATE, rate / self.workers))

    def stop(self) -> None:
        for q in self._commands:
            q.put((STOP,))

    def _split(self, n: int) -> list[tuple[int, int]]:
        shares = [0] * self.workers
        for _ in range(n):
            shares[self._next] += 1
            self._next = (self._next + 1) % self.workers
        return [(w, s) for w, s in enumerate(shares) if s]

    # lifecycle -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for process in self._processes:
            process.start()
        threading.Thread(target=self._pump, args=(loop,), daemon=True, name="reports").start()
        self._tick = loop.create_task(self._each_second())
        await self._until(lambda: self._ready_count == self.workers)
        self._release()
        await self._until(lambda: self._started_count == self.workers)
        # the live clock starts with the load, not with the spawning
        self.stats.started = time.monotonic() + (self.start_at or time.time()) - time.time()

    async def _until(self, condition) -> None:
        """Wait until ``condition()``; a worker's failure stops the others and raises it."""
        while not condition() and not self._failures and self._any_alive():
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.5)
        if self._failures:
            self.stop()
            await self._join()
            self._raise_first_failure()
        if not condition() and self._ready_count < self.workers:  # died unheard (after the release: wait())
            self.stop()
            await self._join()
            raise errors.TracereplayError("the worker processes ended before their load started")

    def _release(self) -> None:
        """Pick the one start of every worker's load and profile clock; run.json's window starts there."""
        self.start_at = time.time() + RELEASE_AHEAD_S
        start = datetime.fromtimestamp(self.start_at, UTC)
        if self._profile is not None:  # the same window, from this moment on
            window = run_window(self._profile, self.config.for_worker(0), start)
            self._first_facts = {**self._first_facts, "profile": window}
        write_start(self.config, self._first_facts, started=start)
        for q in self._commands:
            q.put((GO, self.launched, self.start_at))

    async def wait(self) -> RunResult:
        while len(self._outcomes) + len(self._failures) < self.workers and self._any_alive():
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.5)
        await asyncio.sleep(0.05)  # the last reports in flight
        self._tick.cancel()
        await self._join()
        outcomes = [self._outcomes.get(i) or self._lost(i) for i in range(self.workers)]
        if not self._outcomes and self._failures:
            self._raise_first_failure()
        return finish_run(self.config, {**self._facts, "source": self._kind}, outcomes)

    def _lost(self, worker: int) -> WorkerOutcome:
        now = time.time()
        return WorkerOutcome(
            worker=worker,
            exit_reason=ExitReason.ERROR,
            started=now,
            ended=now,
            requests=0,
            errors=0,
            counts=UserCounts(),
            requests_file=None,
        )

    def _any_alive(self) -> bool:
        return any(p.is_alive() for p in self._processes)

    async def _join(self) -> None:
        for q in self._commands:
            q.put(None)
        deadline = time.monotonic() + self.config.grace + 5
        while self._any_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for process in self._processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=1)

    def _pump(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            try:
                message = self._reports.get(timeout=0.5)
            except queue.Empty:
                if loop.is_closed() or (not self._any_alive() and self._reports.empty()):
                    return
                continue
            except (EOFError, OSError):
                return
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._on_report, message)

    def _on_report(self, message: tuple) -> None:
        kind = message[0]
        if kind == "interval":
            self.stats.add(interval_from_wire(message[1]))
        elif kind == "ready":
            self._ready_count += 1
        elif kind == "started":
            self._started_count += 1
            self._facts, self._kind = message[2], message[3]
        elif kind == "done":
            self._outcomes[message[1]] = _outcome_from_wire(message[2])
        elif kind == "error":
            self._failures.append((message[2], message[3]))
        self._changed.set()

    async def _each_second(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self._progress is not None and self._started_count == self.workers:
                self._progress(self.stats.snapshot())

    def _raise_first_failure(self) -> None:
        name, text = self._failures[0]
        error_type = getattr(errors, name, errors.TracereplayError)
        if error_type is errors.ConfigError:
            raise errors.ConfigError(text)
        if issubclass(error_type, errors.InputError):
            raise errors.TracereplayError(text)
        raise error_type(text)


async def start_pool(
    model: object, *, target: str, trace: object = None, progress=None, **settings: Any
) -> PoolHandle:
    """Validate, write ``run.json``, start ``workers`` processes; returns once they all run."""
    config = RunConfig(target=target, **settings).validate(trace=trace is not None)
    pack = load_pack(config.actions)  # a bad pack is one clear error here, not one per worker
    for spec in (model, trace):
        if isinstance(spec, str | Path) and not Path(spec).exists():
            raise errors.InputError(spec, "no such file")
    actions = small_spec_actions(model) if trace is None else None
    if actions is not None:  # a script or a behaviour: checked before run.json is written
        check_actions(pack, actions, source=f"{describe_spec(model, None) or 'script'}")
    # run.json says from the start what the run is meant to do: the profile window (its wall_start is set
    # once the workers are up and released: PoolHandle._release)
    launched = time.time()
    now = datetime.fromtimestamp(launched, UTC)
    profile = spec_profile(model, config.for_worker(0), now=now) if trace is None else None
    facts: dict[str, Any] = {"model": describe_spec(model, trace)}
    if profile is not None:
        facts["profile"] = run_window(profile, config.for_worker(0), now)
    write_start(config, facts, started=now)
    handle = PoolHandle(config, model, trace, progress, facts=facts, profile=profile, launched=launched)
    await handle.start()
    return handle
