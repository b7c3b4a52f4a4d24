"""``LoadTester``: runs one worker's workload against the target and records every request.

    tester = LoadTester(config, controllers=factory, workload=Workload.CLOSED)
    await tester.start()             # users start (ramp-up), recording starts
    tester.add_users(10)             # runtime control, any time
    outcome = await tester.wait()    # until the duration passes, the workload is done or stop() is called

The stop is graceful: waiting users stop at once, requests in flight finish and are recorded (up to
``config.grace`` seconds), the last batch is flushed and the recorder's streams become Parquet.

Every request is announced on ``tester.request_hook`` (a :class:`~tracereplay.replay.events.RequestHook`);
the recorder and the live counter are its first two listeners, and anyone may add one (metrics, a test).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracereplay.histogram import LatencyHistogram
from tracereplay.replay.config import RunConfig, Workload
from tracereplay.replay.controllers.paths import PathChooser
from tracereplay.replay.controllers.trace import UserPlan
from tracereplay.replay.events import RequestEvent, RequestHook
from tracereplay.replay.limiter import RateLimiter
from tracereplay.replay.live import Interval, LiveCounter
from tracereplay.replay.recorder import Recorder, UserCounts
from tracereplay.replay.runtime import Crowd, Pacing
from tracereplay.replay.transports.aiohttp_client import AiohttpTransport
from tracereplay.replay.transports.base import Transport
from tracereplay.replay.transports.fast import FastTransport
from tracereplay.replay.user import ActionTable, Halted, User, acting
from tracereplay.replay.user_factory import ControllerFactory, UserFactory
from tracereplay.replay.watchdog import LoopWatchdog
from tracereplay.replay.websocket import WebSockets, WsRecorder
from tracereplay.replay.workloads import WORKLOADS, base
from tracereplay.rundir import StreamOpener


class ExitReason(enum.Enum):
    DURATION = "duration"  # the configured duration passed
    INTERRUPTED = "interrupted"  # stop() / Ctrl-C / a signal
    COMPLETED = "completed"  # every user finished (trace replay, a script with loops)
    ERROR = "error"


@dataclass(frozen=True, kw_only=True)
class WorkerOutcome:
    """What one worker did."""

    worker: int
    exit_reason: ExitReason
    started: float  # wall-clock seconds
    ended: float
    requests: int
    errors: int
    counts: UserCounts
    requests_file: Path | None
    measured: LatencyHistogram | None = None  # latency from the actual start
    corrected: LatencyHistogram | None = None  # latency from the intended start
    loop_blocked: dict[str, Any] | None = None  # the loop watchdog's summary (replay/watchdog.py)
    ended_by: str = "run"  # "watchdog": the loop was still held a grace period after the stop


class LoadTester:
    """One worker's run: a workload of users, a transport, a recorder, and the clock that stops them."""

    def __init__(
        self,
        config: RunConfig,
        *,
        controllers: ControllerFactory | None = None,
        workload: Workload | None = None,
        table: ActionTable | None = None,
        profile: Callable[[float], float] | None = None,
        trace_users: list[UserPlan] | None = None,
        trace_span: float = 0.0,
        replace_users: bool = True,
        paths: PathChooser | None = None,
        worker: int = 0,
        transport: Transport | None = None,
        on_interval: Callable[[Interval], None] | None = None,
        streams: StreamOpener | None = None,
        clock_start: float | None = None,
    ) -> None:
        self.config = config
        self.worker = worker
        self.kind = workload or config.workload
        self.request_hook = RequestHook()
        self.paths = paths or PathChooser()  # routes filled from a user's store (trace users, injections)
        self.recorder = Recorder(config.out, worker, streams)
        self.live = LiveCounter(worker)
        self.request_hook.add_listener(self.recorder.record)
        self.request_hook.add_listener(self.live.record)
        self.on_interval = on_interval
        self._own_transport = transport is None
        tls = config.tls_context()
        self.transport: Transport = transport or make_transport(config, tls)
        limiter = RateLimiter(config.max_rps) if config.max_rps else None
        # opened only when a pack asks for a websocket; its rows share the request recorder's clock
        self.websockets = WebSockets(
            config.target,
            WsRecorder(config.out, worker, self.recorder.wall_ns(0.0), streams),
            ssl_context=tls,
            seed=None if config.seed is None else config.seed + worker,
        )
        self.factory = UserFactory(
            controllers=controllers or _no_controller,
            transport=self.transport,
            hook=self.request_hook,
            table=table or ActionTable(),
            worker=worker,
            seed=config.seed,
            limiter=limiter,
            sockets=self.websockets,
        )
        self.crowd = Crowd(Pacing(think_scale=config.think_scale))
        context = base.WorkloadContext(
            config=config,
            crowd=self.crowd,
            factory=self.factory,
            worker=worker,
            profile=profile,
            trace_users=trace_users or [],
            trace_span=trace_span,
            replace_users=replace_users,
            paths=self.paths,
            clock_start=clock_start,
        )
        self.workload: base.Workload = WORKLOADS[self.kind](context)
        self._done = asyncio.Event()
        self._reason = ExitReason.COMPLETED
        self._started_wall = 0.0
        self._tasks: list[asyncio.Task] = []
        self._injected: set[asyncio.Task] = set()
        # held loops recorded; a stop honoured within the grace even when user code holds the loop
        self.watchdog = LoopWatchdog(grace_s=config.grace, locate=acting)

    # ------------------------------------------------------------------ runtime control (any time)
    @property
    def active_users(self) -> int:
        return self.crowd.active

    def add_users(self, n: int) -> None:
        """Closed workload: n more concurrent users, starting now (else ``NotSteerable``)."""
        self.workload.add_users(n)

    def remove_users(self, n: int) -> int:
        """Closed workload: n fewer users (each finishes its action in flight); returns how many."""
        return self.workload.remove_users(n)

    def set_arrival_rate(self, rate: float) -> None:
        """Open workload: new fixed arrival rate, sessions/s (else ``NotSteerable``)."""
        self.workload.set_arrival_rate(rate)

    def scale_arrivals(self, factor: float) -> None:
        """Open workload: arrivals × ``factor`` from now on (else ``NotSteerable``)."""
        self.workload.scale_arrivals(factor)

    def inject(self, action: str, n: int) -> int:
        """Make up to ``n`` running users perform ``action`` once, now, beside their own schedule (the
        seed agent's inject); returns how many. The requests are recorded like any other."""
        table = self.factory.table
        if table.function(action) is None and table.route(action) is None:
            raise ValueError(f"unknown action {action!r}: not in the action pack and not 'METHOD /path'")
        if self._done.is_set():
            return 0
        chosen = [r for r in self.crowd.runners if not r.stopping][: max(0, n)]
        loop = asyncio.get_running_loop()
        for runner in chosen:
            path = self.paths.path(action, runner.user.store, runner.user.rng)
            task = loop.create_task(_perform_once(runner.user, action, path))
            self._injected.add(task)
            task.add_done_callback(self._injected.discard)
        return len(chosen)

    def stop(self, reason: ExitReason = ExitReason.INTERRUPTED) -> None:
        """Ask the run to end (gracefully); ``wait()`` returns once everything is written."""
        if not self._done.is_set():
            self._reason = reason
            self._done.set()
            self.watchdog.stopping()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._own_transport:
            await self.transport.__aenter__()
        self._started_wall = time.time()
        loop = asyncio.get_running_loop()
        self.watchdog.start()
        await self.workload.start()
        self._tasks.append(loop.create_task(self._flush_every_second()))
        if self.config.duration is not None:
            loop.call_later(self.config.duration, self.stop, ExitReason.DURATION)
            self.watchdog.deadline = time.monotonic() + self.config.duration
        self.crowd.on_exit(self._maybe_all_done)

    async def wait(self) -> WorkerOutcome:
        """Run until stopped; then stop gracefully and write everything."""
        try:
            await self._done.wait()
        finally:
            self.workload.stop()
            await self.crowd.stop_all(self.config.grace)
            if self._injected:  # injected actions in flight finish within the same grace
                _, late = await asyncio.wait(set(self._injected), timeout=self.config.grace)
                for task in late:
                    task.cancel()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.websockets.close()
            if self._own_transport:
                await self.transport.aclose()
            counts, events = self._counts(), self.live.take()
            await asyncio.to_thread(self.live.interval, events, counts)
            path = await asyncio.to_thread(self.recorder.close, counts)
            await asyncio.to_thread(self.websockets.recorder.close)
            self.watchdog.stop()
        return self._outcome(self._reason, path)

    def outcome_so_far(self) -> WorkerOutcome:
        """What the worker did up to now, its last events written to its stream (which stays the worker's
        file: the part rule reads it): the loop watchdog's ``on_expire``, from its thread, while user code
        holds the loop and nothing else runs."""
        counts = self._counts()
        self.live.interval(self.live.take(), counts)
        self.recorder.flush(counts, self.recorder.take())
        return self._outcome(ExitReason.INTERRUPTED, None, ended_by="watchdog")

    def _outcome(self, reason: ExitReason, path: Path | None, *, ended_by: str = "run") -> WorkerOutcome:
        return WorkerOutcome(
            worker=self.worker,
            exit_reason=reason,
            started=self._started_wall,
            ended=time.time(),
            requests=self.live.requests,
            errors=self.live.errors,
            counts=self._counts(),
            requests_file=path,
            measured=self.live.measured,
            corrected=self.live.corrected,
            loop_blocked=self.watchdog.summary(),
            ended_by=ended_by,
        )

    async def run(self) -> WorkerOutcome:
        await self.start()
        return await self.wait()

    # ------------------------------------------------------------------ internals
    def _counts(self) -> UserCounts:
        counts = self.workload.counts
        return UserCounts(
            active_users=self.crowd.active,
            sessions_started=self.crowd.sessions_started,  # every workload: sessions begun, not users
            sessions_dropped=counts.sessions_dropped,
            sessions_late=counts.sessions_late,
        )

    def _maybe_all_done(self, _runner) -> None:
        if self.crowd.active == 0 and self.workload.finished:
            self.stop(ExitReason.COMPLETED)

    async def _flush_every_second(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + 1.0
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += 1.0
            # the second's events are taken here, in the loop; the arithmetic and writing in a thread
            counts, rows, events = self._counts(), self.recorder.take(), self.live.take()
            ws_rows = self.websockets.recorder.take()
            job = asyncio.ensure_future(asyncio.to_thread(self._flush, counts, rows, events, ws_rows))
            try:
                interval = await asyncio.shield(job)
            except asyncio.CancelledError:
                await job  # a stop never abandons rows half written: close() merges after this part
                raise
            if self.on_interval is not None:
                self.on_interval(interval)

    def _flush(
        self, counts: UserCounts, rows: list[RequestEvent], events: list[RequestEvent], ws_rows: list[tuple]
    ) -> Interval:
        self.websockets.recorder.flush(ws_rows)
        self.recorder.flush(counts, rows)
        return self.live.interval(events, counts)


def make_transport(config: RunConfig, tls: ssl.SSLContext | None) -> Transport:
    """The HTTP client the config asks for (both pool connections across every user of the worker), with
    ``tls`` for an https target (:meth:`RunConfig.tls_context`)."""
    kind = FastTransport if config.http == "fast" else AiohttpTransport
    return kind(config.target, config.transport_settings(), ssl_context=tls)


async def _perform_once(user: User, action: str, path: str | None) -> None:
    with contextlib.suppress(Halted):  # stopped while waiting for a --max-rps slot: nothing was sent
        await user.perform(action, time.monotonic(), path)


def _no_controller(key, rng):
    raise ValueError("this LoadTester was built without a controller factory")
