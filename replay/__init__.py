"""The user model runtime: simulated users (state + behaviour) driven against a target, requests recorded.

    from tracereplay.replay import run
    result = run("model.json", target="http://127.0.0.1:8065", users=50, duration=30, out="runs/1",
                 actions="tracereplay.demo.actions")

Seams (``docs/architecture.md``): ``UserStore`` / ``MutableUserStore`` / ``MemStore`` (state), ``User`` (the
only writer of its store, sends through a ``Transport``), ``UserController`` (``SimpleController``,
``StochasticController``, ``TraceController``), ``LoadTester`` (workloads, runtime control, recording).
"""

from __future__ import annotations

from tracereplay.replay.api import RunHandle, replay, run, run_async, start_run
from tracereplay.replay.config import Arrivals, RunConfig, Workload
from tracereplay.replay.controllers.base import Step, UserController
from tracereplay.replay.controllers.simple import Script, SimpleController, load_script
from tracereplay.replay.controllers.stochastic import SessionSource, StochasticController
from tracereplay.replay.controllers.trace import TraceController, UserPlan, plan_users
from tracereplay.replay.loadtester import ExitReason, LoadTester
from tracereplay.replay.runner import RunResult
from tracereplay.replay.store import MemStore, MutableUserStore, UserStore
from tracereplay.replay.transport import (
    AiohttpTransport,
    ErrorKind,
    Request,
    RequestFailed,
    Response,
    Transport,
)
from tracereplay.replay.user import User

__all__ = [
    "AiohttpTransport",
    "Arrivals",
    "ErrorKind",
    "ExitReason",
    "LoadTester",
    "MemStore",
    "MutableUserStore",
    "Request",
    "RequestFailed",
    "Response",
    "RunConfig",
    "RunHandle",
    "RunResult",
    "Script",
    "SessionSource",
    "SimpleController",
    "Step",
    "StochasticController",
    "TraceController",
    "Transport",
    "User",
    "UserController",
    "UserPlan",
    "UserStore",
    "Workload",
    "load_script",
    "plan_users",
    "replay",
    "run",
    "run_async",
    "start_run",
]
