"""Workload types, one a file: ``closed`` (N concurrent users), ``open`` (session arrivals), ``trace``.

Each implements the :class:`~tracereplay.replay.workloads.base.Workload` Protocol and builds itself, with its
own settings, from a :class:`~tracereplay.replay.workloads.base.WorkloadContext`; :data:`WORKLOADS` is the
only place that maps the run's ``workload`` to one.
"""

from __future__ import annotations

from tracereplay.replay.config import Workload
from tracereplay.replay.workloads.base import WorkloadBuilder
from tracereplay.replay.workloads.closed import ClosedWorkload
from tracereplay.replay.workloads.open import OpenWorkload
from tracereplay.replay.workloads.trace import TraceWorkload

WORKLOADS: dict[Workload, WorkloadBuilder] = {
    Workload.CLOSED: ClosedWorkload.build,
    Workload.OPEN: OpenWorkload.build,
    Workload.TRACE: TraceWorkload.build,
}
