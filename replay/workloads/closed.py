"""Closed workload: a fixed number of concurrent users, each looping its sessions; ramped up linearly.

When a user has done all its sessions it leaves and a fresh user (new identity, new store) takes its place,
so the number of concurrent users stays at the target — which ``add_users`` / ``remove_users`` change.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from tracereplay.replay.runtime import Crowd, UserRunner
from tracereplay.replay.user_factory import UserFactory


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

    def __init__(
        self, crowd: Crowd, factory: UserFactory, *, users: int, ramp_up_s: float = 0.0, replace: bool = True
    ) -> None:
        self.crowd = crowd
        self.replace = replace  # a user that is done is replaced by a fresh one (model users); else not
        self.factory = factory
        self.target = users
        self.ramp_up_s = ramp_up_s
        self._stopping = False
        self._ramp: asyncio.Task | None = None
        crowd.on_exit(self._replace)

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

    def stop(self) -> None:
        self._stopping = True

    def _launch(self, origin: float) -> None:
        user, controller = self.factory.new_user()
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
