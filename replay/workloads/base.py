"""The seam between a worker and its workload: what every workload is built from and what it answers.

Like k6's executors, each workload is one file with its own settings, read from the run's config by its
``build(context)``; the ``LoadTester`` only knows this Protocol and :data:`WORKLOADS`
(``replay/workloads/__init__.py``), so a new workload is a new file and one entry there, never a branch in
the tester.

Runtime control is part of the Protocol: a workload that cannot take a control (adding users to a trace
replay, say) raises :class:`NotSteerable` — a ``ValueError``, so callers that ignore inapplicable controls
(``replay/workers.py``) keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from tracereplay.replay.config import RunConfig
from tracereplay.replay.controllers.paths import PathChooser
from tracereplay.replay.controllers.trace import UserPlan
from tracereplay.replay.recorder import UserCounts
from tracereplay.replay.runtime import Crowd
from tracereplay.replay.user_factory import UserFactory


class NotSteerable(ValueError):
    """A runtime control this workload does not take (the message says which one applies instead)."""


@dataclass(frozen=True, kw_only=True)
class WorkloadContext:
    """What a worker hands its workload: the run's config (this worker's share), the crowd the users run
    in, the factory that makes them, and what the user source says (profile, recorded users, paths)."""

    config: RunConfig
    crowd: Crowd
    factory: UserFactory
    worker: int = 0
    profile: Callable[[float], float] | None = None  # run seconds → sessions/s (model on the open workload)
    trace_users: list[UserPlan] = field(default_factory=list)
    trace_span: float = 0.0
    replace_users: bool = True  # a user that is done is replaced by a fresh one (model users)
    paths: PathChooser = field(default_factory=PathChooser)
    clock_start: float | None = None  # epoch seconds of second 0 (a pool's common start), else None


class Workload(Protocol):
    """One worker's workload: when users start, how many, and which runtime controls it takes."""

    name: str

    @property
    def finished(self) -> bool:
        """No more users will come (the run ends once the running ones are done)."""
        ...

    @property
    def counts(self) -> UserCounts:
        """Its own counters: sessions dropped and late (the tester adds active users and sessions)."""
        ...

    @property
    def arrival_rate(self) -> float | None:
        """Sessions/s asked for now (open workload), else None."""
        ...

    async def start(self) -> None: ...

    def stop(self) -> None:
        """Start no more users (the tester stops the running ones)."""
        ...

    def add_users(self, n: int) -> None:
        """n more concurrent users, now; :class:`NotSteerable` if the workload has no user count."""
        ...

    def remove_users(self, n: int) -> int:
        """n fewer users (each finishes its action in flight); returns how many; or NotSteerable."""
        ...

    def set_arrival_rate(self, rate: float) -> None:
        """A fixed arrival rate from now on (sessions/s); :class:`NotSteerable` if it has none."""
        ...

    def scale_arrivals(self, factor: float) -> None:
        """Arrivals (the profile's or a fixed rate) × ``factor`` from now on: a pool moving a lost worker's
        share to the others; :class:`NotSteerable` if the workload has no arrivals."""
        ...


#: Builds a workload for one worker.
WorkloadBuilder = Callable[[WorkloadContext], Workload]
