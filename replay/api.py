"""The public face of the replay stage: ``run`` / ``run_async`` / ``start_run`` and ``replay`` for traces.

    result = tracereplay.replay.run("model.json", target="http://127.0.0.1:8065", users=50, duration=30,
                                    out="runs/1", actions="tracereplay.demo.actions")
    print(result.requests, result.exit_reason)

    handle = await start_run(model, target=url, users=10, duration=60, out="runs/2")
    handle.request_hook.add_listener(print)   # every request as a RequestEvent, as it completes
    handle.add_users(5)              # runtime control: add_users, remove_users, set_arrival_rate, stop
    result = await handle.wait()

One worker runs in this process; ``workers > 1`` starts that many processes (``replay/workers.py``), each
with its share of the users and no shared state, all writing into the same run directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from tracereplay.replay.config import RunConfig
from tracereplay.replay.events import RequestHook, RequestListener
from tracereplay.replay.live import Interval, LiveStats
from tracereplay.replay.loadtester import ExitReason, LoadTester
from tracereplay.replay.metrics import RunMetrics
from tracereplay.replay.runner import (
    RunResult,
    describe_spec,
    finish_run,
    prepare_worker,
    run_loop,
    start_tester,
    write_start,
)
from tracereplay.replay.sources import UserSource, starting_at
from tracereplay.replay.transports.base import Transport
from tracereplay.replay.workers import PoolHandle, start_pool

__all__ = [
    "RunHandle",
    "RunResult",
    "open_run",
    "replay",
    "run",
    "run_async",
    "start_run",
    "stop_on_interrupt",
]


class RunControls(Protocol):
    """Runtime control of a run in progress (one worker or several)."""

    @property
    def active_users(self) -> int: ...

    def add_users(self, n: int) -> None: ...

    def remove_users(self, n: int) -> int: ...

    def set_arrival_rate(self, rate: float) -> None: ...

    def stop(self) -> None: ...


class RunHandle:
    """A run in progress in this process: control it, then ``await wait()`` for its result."""

    def __init__(self, tester: LoadTester, config: RunConfig, source: UserSource, stats: LiveStats) -> None:
        self.tester = tester
        self.config = config
        self.source = source
        self.stats = stats  # the live numbers, updated once a second

    @property
    def request_hook(self) -> RequestHook:
        """Every request of the run, announced as a ``RequestEvent``: subscribe with ``add_listener``.

        Listeners run in the run's event loop on the hot path: keep them cheap (count, append)."""
        return self.tester.request_hook

    @property
    def arrival_rate(self) -> float | None:
        """The open workload's current rate (sessions/s), else None."""
        return self.tester.workload.arrival_rate

    @property
    def active_users(self) -> int:
        return self.tester.active_users

    def add_users(self, n: int) -> None:
        self.tester.add_users(n)

    def remove_users(self, n: int) -> int:
        return self.tester.remove_users(n)

    def set_arrival_rate(self, rate: float) -> None:
        self.tester.set_arrival_rate(rate)

    def stop(self) -> None:
        self.tester.stop(ExitReason.INTERRUPTED)

    async def wait(self) -> RunResult:
        outcome = await self.tester.wait()
        return finish_run(self.config, self.source, [outcome])

    def abandon(self) -> RunResult:
        """Finalise ``run.json`` from what the run did so far (``interrupted``, ``ended_by`` "watchdog"):
        the loop watchdog calls it from its thread while user code holds the loop."""
        return finish_run(self.config, self.source, [self.tester.outcome_so_far()])


async def start_run(
    model: object,
    *,
    target: str,
    progress: Callable[[dict[str, Any]], None] | None = None,
    on_interval: Callable[[Interval], None] | None = None,
    transport: Transport | None = None,
    trace: str | Path | pd.DataFrame | None = None,
    listeners: Sequence[RequestListener] = (),
    metrics: RunMetrics | None = None,
    **settings: Any,
) -> RunHandle:
    """Validate the settings, write ``run.json`` and start one in-process worker; see :class:`RunHandle`.

    ``model`` is a fitted model (object or file), a simple script (``Script`` or ``.toml`` file), or None
    with ``trace`` (an event table, path or DataFrame) for trace replay. ``progress`` is called once a
    second with the live numbers (:meth:`LiveStats.snapshot`: rps, requests, errors, p50_ms, p99_ms,
    active_users, sessions started/dropped/late). ``listeners`` hear every request event from the very
    first (``handle.request_hook.add_listener`` after the start may miss the first few). ``metrics``
    counts the run's Prometheus figures (``replay/metrics.py``): every request, and each second's users,
    sessions and arrival rate.
    """
    config = RunConfig(target=target, **settings).validate(trace=trace is not None)
    if config.workers != 1:
        raise ValueError("start_run runs one worker in this process; use run() for several workers")
    # loading a big model or event table takes seconds: in a thread, so the loop (an agent's HTTP server,
    # another run) keeps its schedule meanwhile
    share, source, table = await asyncio.to_thread(prepare_worker, model, config, trace=trace)
    # the clock starts with the load, once the model is loaded; run.json says from the start what it covers
    now = datetime.now(UTC)
    source = starting_at(source, share, now)
    write_start(config, {**source.describe, "model": describe_spec(model, trace)}, started=now)
    stats = LiveStats()

    def each_second(interval: Interval) -> None:
        stats.add(interval)
        if metrics is not None:
            metrics.on_interval(interval)
            metrics.set_arrival_rate(tester.workload.arrival_rate)
        if on_interval is not None:
            on_interval(interval)
        if progress is not None:
            progress(stats.snapshot())

    if metrics is not None:
        listeners = [*listeners, metrics.on_request]
    tester = await start_tester(
        share, source, table, on_interval=each_second, transport=transport, listeners=listeners
    )
    handle = RunHandle(tester, config, source, stats)
    # user code holding the loop past the stop's grace: the watchdog finalises run.json, then ends the process
    tester.watchdog.on_expire = handle.abandon
    return handle


async def open_run(
    model: object,
    *,
    target: str,
    trace: str | Path | pd.DataFrame | None = None,
    progress=None,
    interrupted: asyncio.Event | None = None,
    metrics: RunMetrics | None = None,
    **settings: Any,
) -> RunHandle | PoolHandle:
    """Start a run with one in-process worker, or ``workers`` processes, or on a Dask ``cluster``; the
    handles share their controls. ``interrupted`` set while worker processes start ends their start-up:
    the handle's ``wait()`` then gives the run, finalised as interrupted. ``metrics`` counts the whole
    run's Prometheus figures, however many workers it has."""
    if settings.get("workers", 1) > 1 or settings.get("cluster"):
        return await start_pool(
            model, target=target, trace=trace, progress=progress, interrupted=interrupted, metrics=metrics,
            **settings,
        )
    return await start_run(model, target=target, trace=trace, progress=progress, metrics=metrics, **settings)


async def run_async(model: object, *, target: str, **settings: Any) -> RunResult:
    """Run to the end in the running event loop; see :func:`run`. Ctrl-C (SIGINT) stops gracefully, also
    while the run starts."""
    with stop_on_interrupt() as guard:
        handle = await open_run(model, target=target, interrupted=guard.requested, **settings)
        guard.attach(handle)
        return await handle.wait()


def run(model: object, *, target: str, **settings: Any) -> RunResult:
    """Run a workload against ``target`` and write the run directory ``out``; blocks until done.

    ``model``: a fitted model (object or file) or a simple script. Settings are :class:`RunConfig`'s:
    ``users`` (closed) or ``arrival_rate`` / ``arrival_scale`` (open), ``duration``, ``out``, ``actions``,
    ``think_scale``, ``seed``, ``max_rps``, ``timeout``, ``workers`` … (``docs/running.md``), plus
    ``progress``, a callable given the live numbers once a second.
    """
    return run_loop(run_async(model, target=target, **settings), settings.get("uvloop", True))


def replay(events: str | Path | pd.DataFrame, *, target: str, **settings: Any) -> RunResult:
    """Replay recorded users of an event table with their timing (``speed``, ``max_gap``, ``sample``,
    ``loop``); ``duration`` None (the default) runs until every user is done."""
    settings.setdefault("duration", None)
    return run_loop(run_async(None, target=target, trace=events, **settings), settings.get("uvloop", True))


class stop_on_interrupt:
    """While active, the first SIGINT/SIGTERM stops the run gracefully; a second SIGINT interrupts hard.

    Entered before the run starts (no handle yet), a signal sets :attr:`requested` (which a pool's start-up
    watches) and stops the handle as soon as it is :meth:`attach`-ed: a signal during start-up ends the run
    as interrupted, ``run.json`` finalised, instead of killing the process mid-start."""

    def __init__(self, handle: RunControls | None = None) -> None:
        self.handle = handle
        self.signals = 0
        self.requested = asyncio.Event()
        self._installed: list[int] = []

    def attach(self, handle: RunControls) -> None:
        self.handle = handle
        if self.signals:
            handle.stop()

    def __enter__(self) -> stop_on_interrupt:
        if threading.current_thread() is not threading.main_thread():
            return self
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self._on_signal, signum)
                self._installed.append(signum)
        return self

    def _on_signal(self, signum: int) -> None:
        self.signals += 1
        if self.signals == 1:
            self.requested.set()
            if self.handle is not None:
                self.handle.stop()
        elif signum == signal.SIGINT:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._installed:
            loop.remove_signal_handler(signum)
