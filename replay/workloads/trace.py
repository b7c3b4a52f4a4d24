"""Trace workload: every recorded user starts at its recorded time (÷ speed) and replays its actions.

Users are launched shortly before their start (not all at once), so a long trace with many users does not
hold them all in memory; the workload is finished when every user has been launched and has finished.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from tracereplay.replay.controllers.paths import PathChooser
from tracereplay.replay.controllers.trace import TraceController, UserPlan
from tracereplay.replay.recorder import UserCounts
from tracereplay.replay.runtime import Crowd
from tracereplay.replay.user_factory import UserFactory
from tracereplay.replay.workloads.base import NotSteerable, WorkloadContext

#: Users are launched this long before their start time.
LEAD_S = 1.0


@dataclass(frozen=True, kw_only=True)
class TraceSettings:
    """The trace workload's own settings: the recorded users (``plan_users``) and ``--loop``."""

    plans: list[UserPlan] = field(default_factory=list)
    loop_s: float | None = None  # replay again every this many seconds (the trace's span), or once
    paths: PathChooser = field(default_factory=PathChooser)  # routes filled from what the user learnt

    @classmethod
    def of(cls, context: WorkloadContext) -> TraceSettings:
        loop_s = context.trace_span if context.config.loop else None
        return cls(plans=context.trace_users, loop_s=loop_s, paths=context.paths)


class TraceWorkload:
    """Launches each planned user at its start; with ``loop_s`` every user replays again and again."""

    name = "trace"
    arrival_rate = None  # recorded arrivals

    def __init__(self, crowd: Crowd, factory: UserFactory, settings: TraceSettings) -> None:
        self.crowd = crowd
        self.factory = factory
        self.plans = sorted(settings.plans, key=lambda p: p.start_s)
        self.loop_s = settings.loop_s
        self.paths = settings.paths
        self.counts = UserCounts()
        self.launched = 0
        self._task: asyncio.Task | None = None

    @property
    def finished(self) -> bool:
        return self.launched == len(self.plans)

    @classmethod
    def build(cls, context: WorkloadContext) -> TraceWorkload:
        return cls(context.crowd, context.factory, TraceSettings.of(context))

    def add_users(self, n: int) -> None:
        raise NotSteerable("a trace replay's users are the recorded ones: add_users does not apply")

    def remove_users(self, n: int) -> int:
        raise NotSteerable("a trace replay's users are the recorded ones: remove_users does not apply")

    def set_arrival_rate(self, rate: float) -> None:
        raise NotSteerable("a trace replay's arrivals are the recorded ones: set_arrival_rate does not apply")

    def scale_arrivals(self, factor: float) -> None:
        raise NotSteerable("a trace replay's arrivals are the recorded ones: scale_arrivals does not apply")

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
