"""Open workload: sessions arrive at a rate whatever the target's speed, up to a cap on concurrent users.

Each arrival is a new user playing one session, due at its arrival time. When ``max_users`` sessions are
already running, arrivals wait in line and start as soon as a user leaves — *late*, which their corrected
latency shows; one that waited more than ``max_late`` is *dropped* (counted, never sent). The rate is
fixed (``arrival_rate``), or follows the model's fitted profile (``arrival_scale`` × rate at the hour),
and can be changed while running.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from tracereplay.replay.config import Arrivals
from tracereplay.replay.recorder import UserCounts
from tracereplay.replay.runtime import Crowd, UserRunner
from tracereplay.replay.users import UserFactory

#: An arrival that starts more than this after its time counts as late.
LATE_AFTER_S = 0.05


def next_gap(rate: float, rng: np.random.Generator, arrivals: Arrivals) -> float:
    """Seconds to the next arrival at ``rate`` per second."""
    if arrivals is Arrivals.POISSON:
        return float(rng.exponential(1.0 / rate))
    return 1.0 / rate


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
    t = 0.0
    while True:
        rate = rate_at(t)
        if rate <= 0:
            t += 0.1  # nothing arrives; look again shortly
        else:
            t += next_gap(rate, rng, arrivals)
            if t >= duration_s:
                break
            times.append(t)
        if t >= duration_s:
            break
    return np.asarray(times)


class OpenWorkload:
    """Starts a new one-session user at each arrival; counts late and dropped sessions."""

    name = "open"

    def __init__(
        self,
        crowd: Crowd,
        factory: UserFactory,
        *,
        rate: float | None,
        profile: Callable[[float], float] | None = None,
        max_users: int,
        max_late_s: float,
        arrivals: Arrivals,
        rng: np.random.Generator,
    ) -> None:
        if rate is None and profile is None:
            raise ValueError("an open workload needs a rate or a profile")
        self.crowd = crowd
        self.factory = factory
        self.rate = rate  # a fixed rate overrides the profile (set_arrival_rate)
        self.profile = profile  # wall-clock seconds → sessions/s
        self.max_users = max_users
        self.max_late_s = max_late_s
        self.arrivals = arrivals
        self.rng = rng
        self.waiting: deque[float] = deque()
        self.counts = UserCounts()
        self._task: asyncio.Task | None = None
        self._stopping = False
        crowd.on_exit(self._admit_waiting)

    finished = False  # arrivals never run out; the duration ends an open run

    def current_rate(self, now: float | None = None) -> float:
        if self.rate is not None:
            return self.rate
        assert self.profile is not None
        return self.profile(time.time() if now is None else now)

    def set_arrival_rate(self, rate: float) -> None:
        """Switch to a fixed ``rate`` sessions/s from now on."""
        if rate < 0:
            raise ValueError("arrival rate must be ≥ 0")
        self.rate = rate

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._schedule())

    def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()

    async def _schedule(self) -> None:
        due = time.monotonic()
        rate = self.current_rate()
        due += next_gap(rate, self.rng, self.arrivals) if rate > 0 else 0.1
        while not self._stopping:
            now = time.monotonic()
            while due <= now:  # every arrival that is due, even if we woke late
                if rate > 0:
                    self._arrive(due)
                rate = self.current_rate()
                due += next_gap(rate, self.rng, self.arrivals) if rate > 0 else 0.1
            self._drop_stale(now)
            await asyncio.sleep(due - now)

    def _arrive(self, due: float) -> None:
        if self.crowd.active < self.max_users and not self.waiting:
            self._launch(due)
        else:
            self.waiting.append(due)

    def _launch(self, due: float) -> None:
        if time.monotonic() - due > LATE_AFTER_S:
            self.counts.sessions_late += 1
        self.counts.sessions_started += 1
        user, controller = self.factory.new_user()
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
