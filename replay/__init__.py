"""The user model runtime: simulated users (state + behaviour) driven against a target, requests recorded.

    from tracereplay.replay import run
    result = run("model.json", target="http://127.0.0.1:8065", users=50, duration=30, out="runs/1",
                 actions="tracereplay.demo.actions")

Seams (``docs/architecture.md``): ``UserStore`` / ``MutableUserStore`` / ``MemStore`` (state), ``User`` (the
only writer of its store, sends through a ``Transport``), ``UserController`` (``SimpleController``,
``StochasticController``, ``TraceController``), ``LoadTester`` (workloads, runtime control, recording).
"""

from __future__ import annotations

import importlib
from typing import Any

# Names resolve on first use, so importing one module of the stage (``tracereplay.replay.config`` for the
# CLI's options) does not import the whole runtime (aiohttp, pandas) with it.
_EXPORTS: dict[str, str] = {
    "RunHandle": "api",
    "replay": "api",
    "run": "api",
    "run_async": "api",
    "start_run": "api",
    "Arrivals": "config",
    "RunConfig": "config",
    "Workload": "config",
    "Step": "controllers.base",
    "UserController": "controllers.base",
    "Script": "controllers.simple",
    "SimpleController": "controllers.simple",
    "load_script": "controllers.simple",
    "SessionSource": "controllers.stochastic",
    "StochasticController": "controllers.stochastic",
    "TraceController": "controllers.trace",
    "UserPlan": "controllers.trace",
    "plan_users": "controllers.trace",
    "ExitReason": "loadtester",
    "LoadTester": "loadtester",
    "RunResult": "runner",
    "MemStore": "store",
    "MutableUserStore": "store",
    "UserStore": "store",
    "AiohttpTransport": "transports.aiohttp_client",
    "ErrorKind": "transports.base",
    "FastTransport": "transports.fast",
    "Request": "transports.base",
    "RequestFailed": "transports.base",
    "Response": "transports.base",
    "Transport": "transports.base",
    "TransportSettings": "transports.settings",
    "User": "user",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tracereplay.replay' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tracereplay.replay.{_EXPORTS[name]}"), name)
