"""The public face of the replay stage: ``run`` / ``run_async`` / ``start_run`` and ``replay`` for traces.

    result = tracereplay.replay.run("model.json", target="http://127.0.0.1:8065", users=50, duration=30,
                                    out="runs/1", actions="tracereplay.demo.actions")
    print(result.requests, result.exit_reason)

    handle = await start_run(model, target=url, users=10, duration=60, out="runs/2")
    handle.add_users(5)              # runtime control: add_users, remove_users, set_arrival_rate, stop
    result = await handle.wait()

One worker runs in this process; ``workers > 1`` starts that many processes (``replay/workers.py``), each
with its share of the users and no shared state, all writing into the same run directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import platform
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from tracereplay.files import atomic_path
from tracereplay.replay.actions.pack import load_pack
from tracereplay.replay.behaviour import Behaviour, from_spec, from_trace, starting_at
from tracereplay.replay.config import RunConfig, Workload
from tracereplay.replay.histogram import mean_value, new_histogram, value_at_percentile
from tracereplay.replay.live import LiveStats
from tracereplay.replay.loadtester import ExitReason, LoadTester, WorkerOutcome
from tracereplay.replay.recorder import Interval
from tracereplay.replay.transport import Transport
from tracereplay.replay.user import ActionTable
from tracereplay.replay.workloads.open import OpenWorkload

if TYPE_CHECKING:
    from tracereplay.replay.workers import PoolHandle


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """What a run did; the details are in ``run_dir`` (``tracereplay report RUN_DIR``)."""

    run_dir: Path
    exit_reason: str
    started: datetime
    ended: datetime
    requests: int
    errors: int
    sessions_started: int
    sessions_dropped: int
    sessions_late: int
    workers: int
    latency_ms: dict[str, float]  # p50/p90/p99/max as measured
    latency_corrected_ms: dict[str, float]  # the same from the intended start

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "exit_reason": self.exit_reason,
            "started": self.started.isoformat(),
            "ended": self.ended.isoformat(),
            "duration_s": (self.ended - self.started).total_seconds(),
            "requests": self.requests,
            "errors": self.errors,
            "sessions_started": self.sessions_started,
            "sessions_dropped": self.sessions_dropped,
            "sessions_late": self.sessions_late,
            "workers": self.workers,
            "latency_ms": self.latency_ms,
            "latency_corrected_ms": self.latency_corrected_ms,
        }


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

    def __init__(self, tester: LoadTester, config: RunConfig, behaviour: Behaviour, stats: LiveStats) -> None:
        self.tester = tester
        self.config = config
        self.behaviour = behaviour
        self.stats = stats  # the live numbers, updated once a second

    @property
    def arrival_rate(self) -> float | None:
        """The open workload's current rate (sessions/s), else None."""
        rate = getattr(self.tester.workload, "current_rate", None)
        return rate() if rate is not None else None

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
        return finish_run(self.config, self.behaviour, [outcome])


def prepare_worker(
    spec: object,
    config: RunConfig,
    *,
    trace: str | Path | pd.DataFrame | None = None,
    worker: int = 0,
    workers: int = 1,
) -> tuple[RunConfig, Behaviour, ActionTable]:
    """The slow part of a worker, before its load starts: its share of ``config``, its Behaviour (the model
    or trace loaded) and its action table."""
    share = config.for_worker(worker) if workers > 1 else config
    if trace is not None:
        behaviour = from_trace(trace, share, worker=worker, workers=workers)
    else:
        behaviour = from_spec(spec, share, worker=worker)
    return share, behaviour, ActionTable(load_pack(config.actions), behaviour.examples)


async def start_tester(
    share: RunConfig,
    behaviour: Behaviour,
    table: ActionTable,
    *,
    worker: int = 0,
    on_interval: Callable[[Interval], None] | None = None,
    transport: Transport | None = None,
    clock_start: float | None = None,
) -> LoadTester:
    """Start one worker's load now; ``clock_start`` (epoch seconds, a pool's common start) pins second 0 of
    an open workload's schedule, as :func:`starting_at` pins its profile clock."""
    tester = LoadTester(
        share,
        controllers=behaviour.controllers,
        workload=Workload.TRACE if behaviour.kind == "trace" else None,
        table=table,
        profile=behaviour.profile,
        trace_users=behaviour.trace_users,
        trace_span=behaviour.trace_span,
        replace_users=behaviour.replace_users,
        worker=worker,
        transport=transport,
        on_interval=on_interval,
    )
    if isinstance(tester.workload, OpenWorkload):
        tester.workload.clock_start = clock_start
    await tester.start()
    return tester


async def start_run(
    model: object,
    *,
    target: str,
    progress: Callable[[dict[str, Any]], None] | None = None,
    on_interval: Callable[[Interval], None] | None = None,
    transport: Transport | None = None,
    trace: str | Path | pd.DataFrame | None = None,
    **settings: Any,
) -> RunHandle:
    """Validate the settings, write ``run.json`` and start one in-process worker; see :class:`RunHandle`.

    ``model`` is a fitted model (object or file), a simple script (``Script`` or ``.toml`` file), or None
    with ``trace`` (an event table, path or DataFrame) for trace replay. ``progress`` is called once a
    second with the live numbers (:meth:`LiveStats.snapshot`: rps, requests, errors, p50_ms, p99_ms,
    active_users, sessions started/dropped/late).
    """
    config = RunConfig(target=target, **settings).validate(trace=trace is not None)
    if config.workers != 1:
        raise ValueError("start_run runs one worker in this process; use run() for several workers")
    share, behaviour, table = prepare_worker(model, config, trace=trace)
    # the clock starts with the load, once the model is loaded; run.json says from the start what it covers
    now = datetime.now(UTC)
    behaviour = starting_at(behaviour, share, now)
    write_run_json(config, {**behaviour.describe, "model": _describe_spec(model, trace)}, started=now)
    stats = LiveStats()

    def each_second(interval: Interval) -> None:
        stats.add(interval)
        if on_interval is not None:
            on_interval(interval)
        if progress is not None:
            progress(stats.snapshot())

    tester = await start_tester(share, behaviour, table, on_interval=each_second, transport=transport)
    return RunHandle(tester, config, behaviour, stats)


async def open_run(
    model: object, *, target: str, trace: object = None, progress=None, **settings: Any
) -> RunHandle | PoolHandle:
    """Start a run with one in-process worker, or ``workers`` processes; the handles share their controls."""
    if settings.get("workers", 1) > 1:
        from tracereplay.replay.workers import start_pool

        return await start_pool(model, target=target, trace=trace, progress=progress, **settings)
    return await start_run(model, target=target, trace=trace, progress=progress, **settings)


async def run_async(model: object, *, target: str, **settings: Any) -> RunResult:
    """Run to the end in the running event loop; see :func:`run`. Ctrl-C (SIGINT) stops gracefully."""
    handle = await open_run(model, target=target, **settings)
    with stop_on_interrupt(handle):
        return await handle.wait()


def run(model: object, *, target: str, **settings: Any) -> RunResult:
    """Run a workload against ``target`` and write the run directory ``out``; blocks until done.

    ``model``: a fitted model (object or file) or a simple script. Settings are :class:`RunConfig`'s:
    ``users`` (closed) or ``arrival_rate`` / ``arrival_scale`` (open), ``duration``, ``out``, ``actions``,
    ``think_scale``, ``seed``, ``max_rps``, ``timeout``, ``workers`` … (``docs/running.md``), plus
    ``progress``, a callable given the live numbers once a second.
    """
    return _run_loop(run_async(model, target=target, **settings), settings.get("uvloop", True))


def replay(events: str | Path | pd.DataFrame, *, target: str, **settings: Any) -> RunResult:
    """Replay recorded users of an event table with their timing (``speed``, ``max_gap``, ``sample``,
    ``loop``); ``duration`` None (the default) runs until every user is done."""
    settings.setdefault("duration", None)
    return _run_loop(run_async(None, target=target, trace=events, **settings), settings.get("uvloop", True))


class stop_on_interrupt:
    """While active, the first SIGINT/SIGTERM stops the run gracefully; a second SIGINT interrupts hard."""

    def __init__(self, handle: RunControls) -> None:
        self.handle = handle
        self.signals = 0
        self._installed: list[int] = []

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
            self.handle.stop()
        elif signum == signal.SIGINT:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._installed:
            loop.remove_signal_handler(signum)


def _run_loop(coroutine, use_uvloop: bool) -> RunResult:
    if use_uvloop:
        try:
            import uvloop

            return uvloop.run(coroutine)
        except ImportError:
            pass
    return asyncio.run(coroutine)


# ----------------------------------------------------------------------------------- the run directory
def _describe_spec(model: object, trace: object) -> str | None:
    spec = trace if trace is not None else model
    return str(spec) if isinstance(spec, str | Path) else None


def write_run_json(
    config: RunConfig,
    facts: dict[str, Any],
    *,
    started: datetime,
    ended: datetime | None = None,
    exit_reason: str = "running",
    totals: dict[str, Any] | None = None,
) -> Path:
    """Write ``RUN_DIR/run.json`` (atomically). ``exit_reason`` "running" means not finished (yet)."""
    from tracereplay import __version__

    out = Path(config.out)
    meta = {
        "format": "tracereplay-run",
        "version": 1,
        "tracereplay": __version__,
        "target": config.target,
        "model": facts.get("model"),
        "model_sha256": facts.get("model_sha256"),
        "source": facts.get("source"),
        "workload": facts.get("workload", config.workload.value),
        "profile": facts.get("profile"),  # open workload on a model: the profile window (replay/behaviour.py)
        "config": config.to_dict(),
        "workers": config.workers,
        "started": started.isoformat(),
        "ended": ended.isoformat() if ended else None,
        "exit_reason": exit_reason,
        "requests": (totals or {}).get("requests", 0),
        "totals": totals or {},
        "python": sys.version.split()[0],
        "host": platform.node(),
    }
    target = out / "run.json"
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    return target


def finish_run(
    config: RunConfig, behaviour_facts: Behaviour | dict[str, Any], outcomes: list[WorkerOutcome]
) -> RunResult:
    """Merge the workers' outcomes into ``run.json`` and the returned :class:`RunResult`."""
    facts = behaviour_facts.describe if isinstance(behaviour_facts, Behaviour) else behaviour_facts
    kind = behaviour_facts.kind if isinstance(behaviour_facts, Behaviour) else facts.get("source")
    measured, corrected = new_histogram(), new_histogram()
    for outcome in outcomes:
        if outcome.measured is not None:
            measured.add(outcome.measured)
            corrected.add(outcome.corrected)
    reasons = [o.exit_reason for o in outcomes]
    reason = next((r for r in (ExitReason.ERROR, ExitReason.INTERRUPTED) if r in reasons), None)
    reason = reason or (reasons[0] if reasons else ExitReason.ERROR)
    started = datetime.fromtimestamp(min((o.started for o in outcomes), default=0), UTC)
    ended = datetime.fromtimestamp(max((o.ended for o in outcomes), default=0), UTC)
    result = RunResult(
        run_dir=Path(config.out),
        exit_reason=reason.value,
        started=started,
        ended=ended,
        requests=sum(o.requests for o in outcomes),
        errors=sum(o.errors for o in outcomes),
        sessions_started=sum(o.counts.sessions_started for o in outcomes),
        sessions_dropped=sum(o.counts.sessions_dropped for o in outcomes),
        sessions_late=sum(o.counts.sessions_late for o in outcomes),
        workers=len(outcomes),
        latency_ms=percentiles(measured),
        latency_corrected_ms=percentiles(corrected),
    )
    totals = {
        k: v for k, v in result.to_dict().items() if k not in ("run_dir", "started", "ended", "exit_reason")
    }
    facts = {**facts, "workload": "trace" if kind == "trace" else config.workload.value}
    write_run_json(config, facts, started=started, ended=ended, exit_reason=reason.value, totals=totals)
    return result


def percentiles(histogram) -> dict[str, float]:
    if histogram.get_total_count() == 0:
        return {}
    return {
        **{f"p{p:g}": value_at_percentile(histogram, p) / 1000 for p in (50, 90, 99, 99.9)},
        "max": histogram.get_max_value() / 1000,
        "mean": mean_value(histogram) / 1000,
    }
