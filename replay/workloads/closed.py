"""Closed workload: a fixed number of concurrent users, each looping its sessions; ramped up linearly.

When a user has done all its sessions it leaves and a fresh user (new identity, new store) takes its place,
so the number of concurrent users stays at the target — which ``add_users`` / ``remove_users`` change.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np

from tracereplay.replay.recorder import UserCounts
from tracereplay.replay.runtime import Crowd, UserRunner
from tracereplay.replay.user_factory import UserFactory
from tracereplay.replay.workloads.base import NotSteerable, WorkloadContext


@dataclass(frozen=True, kw_only=True)
class ClosedSettings:
    """The closed workload's own settings (``--users``, ``--ramp-up``)."""

    users: int
    ramp_up_s: float = 0.0
    replace: bool = True  # a user that is done is replaced by a fresh one (model users); else not

    @classmethod
    def of(cls, context: WorkloadContext) -> ClosedSettings:
        c = context.config
        return cls(users=c.users or 0, ramp_up_s=c.ramp_up, replace=context.replace_users)


def start_offsets(users: int, ramp_up_s: float) -> np.ndarray:
    """When each of ``users`` starts, in seconds from the run start: evenly over the ramp-up.

    >>> start_offsets(4, 2.0).tolist()
    [0.0, 0.5, 1.0, 1.5]
    """
    if users <= 0:
        return np.empty(0)
    return np.arange(users, dtype=float) * (ramp_up_s / users)


class ClosedWorkload:
    """Keeps ``target`` users running; the target follows ``add_users`` / ``remove_users``."""

    name = "closed"
    arrival_rate = None  # users, not arrivals

    def __init__(self, crowd: Crowd, factory: UserFactory, settings: ClosedSettings) -> None:
        self.crowd = crowd
        self.replace = settings.replace
        self.factory = factory
        self.target = settings.users
        self.ramp_up_s = settings.ramp_up_s
        self.counts = UserCounts()  # nothing is dropped or late: a closed user starts when one leaves
        self._stopping = False
        self._ramp: asyncio.Task | None = None
        crowd.on_exit(self._replace)

    @classmethod
    def build(cls, context: WorkloadContext) -> ClosedWorkload:
        return cls(context.crowd, context.factory, ClosedSettings.of(context))

    async def start(self) -> None:
        origin = time.monotonic()
        offsets = start_offsets(self.target, self.ramp_up_s)
        # launched as timed users (their own sleep), so the ramp costs no scheduler loop
        for offset in offsets:
            self._launch(origin + float(offset))

    def add_users(self, n: int) -> None:
        self.target += n
        now = time.monotonic()
        for _ in range(n):
            self._launch(now)

    def remove_users(self, n: int) -> int:
        n = min(n, self.target)
        self.target -= n
        return self.crowd.remove(n)

    def set_arrival_rate(self, rate: float) -> None:
        raise NotSteerable("set_arrival_rate applies to the open workload (use add_users / remove_users)")

    def scale_arrivals(self, factor: float) -> None:
        raise NotSteerable("scale_arrivals applies to the open workload (use add_users / remove_users)")

    def stop(self) -> None:
        self._stopping = True

    def _launch(self, origin: float) -> None:
        user, controller = self.factory.new_user()
        assert controller is not None  # new_user() makes one unless told not to
        self.crowd.launch(user, controller, origin)

    @property
    def finished(self) -> bool:
        """Without replacement the workload is finished once its users are (the crowd tells when)."""
        return not self.replace

    def _replace(self, runner: UserRunner | None) -> None:
        if self._stopping or runner is None or runner.stopping or not self.replace:
            return
        if self.crowd.active < self.target:
            self._launch(time.monotonic())
