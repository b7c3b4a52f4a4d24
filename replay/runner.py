"""One worker's life, in whichever process it runs, and the end of a run: what ``api.py`` (one worker in
this process) and ``workers.py`` (worker processes) share.

:func:`prepare_worker` loads a worker's share (its users, its model or trace, its action table) before the
load starts; :func:`start_tester` starts it; :func:`write_start` writes ``run.json`` as the load begins and
:func:`finish_run` merges the workers' outcomes into the final ``run.json`` and the :class:`RunResult`.
``run.json`` itself is :mod:`tracereplay.rundir`'s.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from tracereplay.histogram import LatencyHistogram
from tracereplay.replay.actions.pack import check_actions, load_pack
from tracereplay.replay.config import RunConfig, Workload
from tracereplay.replay.events import RequestListener
from tracereplay.replay.live import Interval
from tracereplay.replay.loadtester import ExitReason, LoadTester, WorkerOutcome
from tracereplay.replay.sources import UserSource, from_spec, from_trace
from tracereplay.replay.transports.base import Transport
from tracereplay.replay.user import ActionTable
from tracereplay.replay.watchdog import KEEP_BLOCKS, THRESHOLD_S
from tracereplay.rundir import RUNNING, RunMeta, StreamOpener, write_run_json


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
    latency_ms: dict[str, float]  # p50/p90/p99/p99.9/max/mean as measured (tracereplay.histogram's rule)
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


_Result = TypeVar("_Result")


def run_loop(coroutine: Coroutine[Any, Any, _Result], use_uvloop: bool = True) -> _Result:
    """Run ``coroutine`` to the end in a new event loop: uvloop's when asked for and installed."""
    if use_uvloop:
        try:
            import uvloop  # optional: a faster loop where installed
        except ImportError:
            pass
        else:
            return uvloop.run(coroutine)
    return asyncio.run(coroutine)


def prepare_worker(
    spec: object,
    config: RunConfig,
    *,
    trace: str | Path | pd.DataFrame | None = None,
    worker: int = 0,
    workers: int = 1,
) -> tuple[RunConfig, UserSource, ActionTable]:
    """The slow part of a worker, before its load starts: its share of ``config``, its UserSource (the
    model or trace loaded) and its action table."""
    share = config.for_worker(worker) if workers > 1 else config
    if trace is not None:
        source = from_trace(trace, share, worker=worker, workers=workers)
    else:
        source = from_spec(spec, share, worker=worker)
    pack = load_pack(config.actions)
    named = source.describe.get("model") or source.describe.get("trace") or "in memory"
    check_actions(pack, source.actions, source=f"{source.kind} {named}")  # a typo fails now, not as errors
    return share, source, ActionTable(pack)


async def start_tester(
    share: RunConfig,
    source: UserSource,
    table: ActionTable,
    *,
    worker: int = 0,
    on_interval: Callable[[Interval], None] | None = None,
    transport: Transport | None = None,
    clock_start: float | None = None,
    streams: StreamOpener | None = None,
    listeners: Sequence[RequestListener] = (),
) -> LoadTester:
    """Start one worker's load now; ``clock_start`` (epoch seconds, a pool's common start) pins second 0 of
    an open workload's schedule, as :func:`~tracereplay.replay.sources.starting_at` pins its profile clock.
    ``listeners`` hear every request event from the first (subscribed before any user starts)."""
    tester = LoadTester(
        share,
        controllers=source.controllers,
        workload=Workload.TRACE if source.kind == "trace" else None,
        table=table,
        profile=source.profile,
        trace_users=source.trace_users,
        trace_span=source.trace_span,
        replace_users=source.replace_users,
        paths=source.paths,
        worker=worker,
        transport=transport,
        on_interval=on_interval,
        streams=streams,
        clock_start=clock_start,
    )
    for listener in listeners:
        tester.request_hook.add_listener(listener)
    await tester.start()
    return tester


def describe_spec(model: object, trace: object) -> str | None:
    """What run.json names as the run's model (or trace): its path, if it was given as one."""
    spec = trace if trace is not None else model
    return str(spec) if isinstance(spec, str | Path) else None


def write_start(config: RunConfig, facts: dict[str, Any], *, started: datetime) -> Path:
    """``run.json`` as the load begins: what the run is asked to do, ``exit_reason`` "running"."""
    return write_run_json(config.out, _meta(config, facts, started=started))


def finish_run(
    config: RunConfig,
    source_facts: UserSource | dict[str, Any],
    outcomes: list[WorkerOutcome],
    *,
    lost_workers: list[dict[str, Any]] | None = None,
) -> RunResult:
    """Merge the workers' outcomes into ``run.json`` and the returned :class:`RunResult`.

    ``lost_workers`` (``run.json``'s entries: worker, where, users, at_s, lost_s) names workers lost
    mid-run; their outcomes count what they shipped before, and their end decides no exit reason unless
    every worker was lost."""
    lost = {entry["worker"] for entry in lost_workers or []}
    facts = source_facts.describe if isinstance(source_facts, UserSource) else source_facts
    kind = source_facts.kind if isinstance(source_facts, UserSource) else facts.get("source")
    measured, corrected = LatencyHistogram.empty(), LatencyHistogram.empty()
    for outcome in outcomes:
        if outcome.measured is not None:
            measured.add(outcome.measured)
        if outcome.corrected is not None:
            corrected.add(outcome.corrected)
    reasons = [o.exit_reason for o in outcomes if o.worker not in lost] or [ExitReason.ERROR]
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
        latency_ms=measured.summary(),
        latency_corrected_ms=corrected.summary(),
    )
    totals = {
        k: v for k, v in result.to_dict().items() if k not in ("run_dir", "started", "ended", "exit_reason")
    }
    totals["loop_blocked"] = merge_loop_blocked([o.loop_blocked for o in outcomes if o.loop_blocked])
    totals["ended_by"] = "watchdog" if any(o.ended_by == "watchdog" for o in outcomes) else "run"
    facts = {**facts, "workload": "trace" if kind == "trace" else config.workload.value}
    meta = _meta(config, facts, started=started, ended=ended, exit_reason=reason.value, totals=totals)
    write_run_json(config.out, dataclasses.replace(meta, lost_workers=lost_workers or []))
    return result


def merge_loop_blocked(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The workers' loop watchdog summaries as one (``totals.loop_blocked``, ``tracereplay/rundir.py``)."""
    blocks = [block for s in summaries for block in s.get("blocks", [])]
    return {
        "count": sum(s.get("count", 0) for s in summaries),
        "seconds": round(sum(s.get("seconds", 0.0) for s in summaries), 3),
        "longest_s": max((s.get("longest_s", 0.0) for s in summaries), default=0.0),
        "threshold_s": max((s.get("threshold_s", 0.0) for s in summaries), default=THRESHOLD_S),
        "blocks": sorted(blocks, key=lambda b: b["at"])[:KEEP_BLOCKS],
    }


def _meta(
    config: RunConfig,
    facts: dict[str, Any],
    *,
    started: datetime,
    ended: datetime | None = None,
    exit_reason: str | None = None,
    totals: dict[str, Any] | None = None,
) -> RunMeta:
    totals = totals or {}
    return RunMeta(
        target=config.target,
        started=started,
        ended=ended,
        workers=config.workers,
        config=config.to_dict(),
        model=facts.get("model"),
        model_sha256=facts.get("model_sha256"),
        source=facts.get("source"),
        workload=facts.get("workload", config.workload.value),
        profile=facts.get("profile"),  # open workload on a model: the profile window (replay/sources.py)
        requests=totals.get("requests", 0),
        totals=totals,
        exit_reason=exit_reason if exit_reason is not None else RUNNING,
    )
