"""Trace workload: every recorded user starts at its recorded time (÷ speed) and replays its actions.

Users are launched shortly before their start (not all at once), so a long trace with many users does not
hold them all in memory; the workload is finished when every user has been launched and has finished.
"""

from __future__ import annotations

import asyncio
import time

from tracereplay.replay.controllers.paths import PathChooser
from tracereplay.replay.controllers.trace import TraceController, UserPlan
from tracereplay.replay.runtime import Crowd
from tracereplay.replay.user_factory import UserFactory

#: Users are launched this long before their start time.
LEAD_S = 1.0


class TraceWorkload:
    """Launches each planned user at its start; with ``loop_s`` every user replays again and again."""

    name = "trace"

    def __init__(
        self,
        crowd: Crowd,
        factory: UserFactory,
        plans: list[UserPlan],
        *,
        loop_s: float | None = None,
        paths: PathChooser | None = None,
    ) -> None:
        self.paths = paths or PathChooser()
        self.crowd = crowd
        self.factory = factory
        self.plans = sorted(plans, key=lambda p: p.start_s)
        self.loop_s = loop_s
        self.launched = 0
        self._task: asyncio.Task | None = None

    @property
    def finished(self) -> bool:
        return self.launched == len(self.plans)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._launch_all(time.monotonic()))

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _launch_all(self, origin: float) -> None:
        for plan in self.plans:
            due = origin + plan.start_s
            wait = due - LEAD_S - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            user, _ = self.factory.new_user(key=plan.user, controller=False)
            controller = TraceController(plan, loop_s=self.loop_s, rng=user.rng, paths=self.paths)
            self.crowd.launch(user, controller, due)
            self.launched += 1
        if self.crowd.active == 0:  # every user was already done (or there were none)
            self.crowd.notify_idle()
