"""Open workload: sessions arrive at a rate whatever the target's speed, up to a cap on concurrent users.

Each arrival is a new user playing one session, due at its arrival time. When ``max_users`` sessions are
already running, arrivals wait in line and start as soon as a user leaves — *late*, which their corrected
latency shows; one that waited more than ``max_late`` is *dropped* (counted, never sent). The rate is
fixed (``arrival_rate``), or follows the model's fitted profile (``arrival_scale`` × rate at the hour of
the profile's clock, ``replay/sources.py``), and can be changed while running.

Arrivals are placed on the run's clock (seconds from the start) by the expected number of sessions the rate
accumulates: uniform arrivals one every 1.0 of it, Poisson ones every Exp(1) of it (time rescaling). A
profile that says where its rate changes (``next_change``) is integrated exactly across the change, so a
quiet hour followed by a busy one cannot swallow the busy one in one long gap; the same plan for the same
seed, whatever the machine's timing.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tracereplay.replay.config import Arrivals
from tracereplay.replay.recorder import UserCounts
from tracereplay.replay.runtime import Crowd, UserRunner
from tracereplay.replay.user_factory import UserFactory, entropy
from tracereplay.replay.workloads.base import NotSteerable, WorkloadContext

#: An arrival that starts more than this after its time counts as late.
LATE_AFTER_S = 0.05
#: While the rate is zero, look at it again this often (seconds of the run).
IDLE_STEP_S = 0.1


def draw_need(rng: np.random.Generator, arrivals: Arrivals) -> float:
    """Expected sessions to accumulate before the next arrival."""
    return float(rng.standard_exponential()) if arrivals is Arrivals.POISSON else 1.0


def advance(rate_at: Callable[[float], float], t: float, need: float) -> tuple[float, float, bool]:
    """One step of the schedule from run second ``t``: (next time, need left, whether an arrival is due then).

    The step ends at the arrival, or where the rate may change (``rate_at.next_change(t)`` if it has one,
    else the rate is taken as constant from ``t``), or after ``IDLE_STEP_S`` of zero rate.
    """
    rate = rate_at(t)
    change = getattr(rate_at, "next_change", None)
    end = change(t) if change is not None else math.inf
    if end <= t:  # float rounding at an hour boundary: never stand still
        end = t + 1e-9
    if rate <= 0:
        return min(end, t + IDLE_STEP_S), need, False
    if t + need / rate <= end:
        return t + need / rate, 0.0, True
    return end, need - rate * (end - t), False


def plan_arrivals(
    rate_at: Callable[[float], float],
    duration_s: float,
    rng: np.random.Generator,
    arrivals: Arrivals = Arrivals.UNIFORM,
) -> np.ndarray:
    """The arrival times (seconds from start) the runtime follows for a rate function of time — pure.

    >>> plan_arrivals(lambda t: 4.0, 1.0, np.random.default_rng(0)).tolist()
    [0.25, 0.5, 0.75]
    """
    times = []
    t, need = 0.0, draw_need(rng, arrivals)
    while True:
        t, need, due = advance(rate_at, t, need)
        if t >= duration_s:
            break
        if due:
            times.append(t)
            need = draw_need(rng, arrivals)
    return np.asarray(times)


@dataclass(frozen=True, kw_only=True)
class OpenSettings:
    """The open workload's own settings (``--arrival-rate`` or the model's profile, ``--max-users``,
    ``--max-late``, ``--arrivals``) and its arrival generator's seed."""

    rate: float | None  # a fixed rate (sessions/s), or None: the profile's
    profile: Callable[[float], float] | None = None  # seconds from the start of the run → sessions/s
    max_users: int
    max_late_s: float
    arrivals: Arrivals = Arrivals.UNIFORM
    seed: int | None = None
    worker: int = 0
    # second 0 as a wall-clock epoch when given (a pool's one start for all its workers, so they follow
    # one schedule whenever each loop wakes); None: when the schedule starts
    clock_start: float | None = None

    @classmethod
    def of(cls, context: WorkloadContext) -> OpenSettings:
        c = context.config
        if c.arrival_rate is None and context.profile is None:
            raise ValueError("arrival_scale needs the model's arrival profile")
        return cls(
            rate=c.arrival_rate,
            profile=context.profile,
            max_users=c.max_users,
            max_late_s=c.max_late,
            arrivals=c.arrivals,
            seed=c.seed,
            worker=context.worker,
            clock_start=context.clock_start,
        )

    def rng(self) -> np.random.Generator:
        """The arrivals' own generator: the same plan for the same seed and worker, whatever users draw."""
        return np.random.default_rng([entropy(self.seed), self.worker, 2**31])


class _Scaled:
    """A rate function × ``factor``, keeping its ``next_change`` (where the rate may change) if it has one."""

    def __init__(self, rate_at: Callable[[float], float], factor: float) -> None:
        self.rate_at, self.factor = rate_at, factor
        change = getattr(rate_at, "next_change", None)
        if change is not None:
            self.next_change = change

    def __call__(self, t: float) -> float:
        return self.rate_at(t) * self.factor


class OpenWorkload:
    """Starts a new one-session user at each arrival; counts late and dropped sessions."""

    name = "open"

    def __init__(self, crowd: Crowd, factory: UserFactory, settings: OpenSettings) -> None:
        if settings.rate is None and settings.profile is None:
            raise ValueError("an open workload needs a rate or a profile")
        self.crowd = crowd
        self.factory = factory
        self.rate = settings.rate  # a fixed rate overrides the profile (set_arrival_rate)
        self.profile = settings.profile
        self.scale = 1.0  # × the arrivals: a lost worker's share taken over (scale_arrivals)
        self.max_users = settings.max_users
        self.max_late_s = settings.max_late_s
        self.arrivals = settings.arrivals
        self.rng = settings.rng()
        self.waiting: deque[float] = deque()
        self.counts = UserCounts()
        self._task: asyncio.Task | None = None
        self._origin: float | None = None  # time.monotonic() at the start: second 0 of the run's clock
        self.clock_start = settings.clock_start
        self._stopping = False
        crowd.on_exit(self._admit_waiting)

    finished = False  # arrivals never run out; the duration ends an open run

    @classmethod
    def build(cls, context: WorkloadContext) -> OpenWorkload:
        return cls(context.crowd, context.factory, OpenSettings.of(context))

    @property
    def arrival_rate(self) -> float:
        return self.current_rate()

    def add_users(self, n: int) -> None:
        raise NotSteerable("add_users applies to the closed workload (use set_arrival_rate for open)")

    def remove_users(self, n: int) -> int:
        raise NotSteerable("remove_users applies to the closed workload (use set_arrival_rate for open)")

    def current_rate(self, now: float | None = None) -> float:
        """Sessions/s at ``now`` (time.monotonic(); default: now)."""
        if self._origin is None:
            return self._rate_at(0.0)
        return self._rate_at((time.monotonic() if now is None else now) - self._origin)

    def _rate_at(self, t: float) -> float:
        return self._rate_function()(t)

    def _rate_function(self) -> Callable[[float], float]:
        """Sessions/s by run second as it stands: a fixed rate (set_arrival_rate) replaces the profile, a
        scale multiplies either; the profile is passed on itself (or wrapped keeping ``next_change``), so
        advance() still sees where its rate changes."""
        if self.rate is not None:
            rate = self.rate * self.scale
            return lambda _t: rate
        assert self.profile is not None
        return self.profile if self.scale == 1.0 else _Scaled(self.profile, self.scale)

    def set_arrival_rate(self, rate: float) -> None:
        """Switch to a fixed ``rate`` sessions/s from now on (it replaces the profile and any scale)."""
        if rate < 0:
            raise ValueError("arrival rate must be ≥ 0")
        self.rate, self.scale = rate, 1.0

    def scale_arrivals(self, factor: float) -> None:
        """Arrivals × ``factor`` from now on (a pool's survivors taking over a lost worker's share)."""
        if not factor > 0:
            raise ValueError("an arrival scale must be > 0")
        self.scale *= factor

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._schedule())

    def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()

    def _step(self, t: float, need: float) -> tuple[float, float, bool]:
        return advance(self._rate_function(), t, need)  # a change of rate or scale: from the next step on

    async def _schedule(self) -> None:
        origin = time.monotonic()
        if self.clock_start is not None:
            origin -= time.time() - self.clock_start
        self._origin = origin
        t, need, due = self._step(0.0, draw_need(self.rng, self.arrivals))
        while not self._stopping:
            now = time.monotonic()
            while origin + t <= now:  # every arrival that is due, even if we woke late
                if due:
                    self._arrive(origin + t)
                    need = draw_need(self.rng, self.arrivals)
                t, need, due = self._step(t, need)
            self._drop_stale(now)
            await asyncio.sleep(origin + t - now)

    def _arrive(self, due: float) -> None:
        if self.crowd.active < self.max_users and not self.waiting:
            self._launch(due)
        else:
            self.waiting.append(due)

    def _launch(self, due: float) -> None:
        if time.monotonic() - due > LATE_AFTER_S:
            self.counts.sessions_late += 1
        user, controller = self.factory.new_user()
        assert controller is not None  # new_user() makes one unless told not to
        self.crowd.launch(user, controller, due)

    def _admit_waiting(self, runner: UserRunner | None) -> None:
        if self._stopping:
            return
        now = time.monotonic()
        self._drop_stale(now)
        while self.waiting and self.crowd.active < self.max_users:
            self._launch(self.waiting.popleft())

    def _drop_stale(self, now: float) -> None:
        limit = now - self.max_late_s
        while self.waiting and self.waiting[0] < limit:
            self.waiting.popleft()
            self.counts.sessions_dropped += 1
