"""A plain ``run`` (or ``replay``) with ``--metrics-port`` / ``--dashboard``: the agent's HTTP layer beside
the run, showing and steering that one run (id ``current``), then gone when the run ends.

The server runs in the run's event loop, so ``/metrics`` reads the counters without a lock. With one worker
they are this process's own request events; with several (``--workers N``, ``--cluster``) each worker
counts its own and ships a cumulative snapshot once a second, and ``/metrics`` and the dashboard show the
sum (``replay/metrics.py``, ``replay/workers.py``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from tracereplay.replay.api import open_run, stop_on_interrupt
from tracereplay.replay.cli_live import LiveLine, Steering
from tracereplay.replay.runner import RunResult
from tracereplay.service.agent import Agent, ManagedRun, State, create_app
from tracereplay.service.serve import start_site, version

RUN_ID = "current"


async def drive_served(
    model: str | None,
    events: str | None,
    *,
    target: str,
    settings: dict[str, Any],
    host: str,
    port: int,
    token: str | None = None,
    dashboard: bool = False,
    quiet: bool = False,
    step: int | None = None,
) -> RunResult:
    """Serve ``/metrics`` (and the dashboard) on host:port while the run goes, as ``cli_live.drive`` does."""
    run = ManagedRun(
        id=RUN_ID, run_dir=Path(settings["out"]), model=model, trace=events,
        settings={"target": target, **{k: v for k, v in settings.items() if k not in ("out", "workers")}},
    )
    agent = Agent(None)
    agent.adopt(run)
    runner, url = await start_site(create_app(agent, token=token, version=version()), host, port)
    where = f"{url}/dashboard?run={RUN_ID}" if dashboard else f"{url}/metrics"
    print(f"tracereplay: {'dashboard' if dashboard else 'metrics'} at {where}", file=sys.stderr, flush=True)
    try:
        # the signals are watched from the start: one while worker processes start ends the run too
        with LiveLine(settings.get("duration"), quiet=quiet) as line, stop_on_interrupt() as guard:
            run.started = time.monotonic()
            run.state = State.RUNNING

            def each_second(stats: dict[str, Any]) -> None:
                line.update(stats)
                run.on_progress(stats)

            handle = await open_run(
                model, target=target, trace=events, progress=each_second, interrupted=guard.requested,
                metrics=run.metrics, **settings,
            )
            run.handle = handle
            guard.attach(handle)
            with Steering(handle, line, step, settings.get("users")):
                result = await handle.wait()
        run.finished(result.to_dict())
        return result
    finally:
        await runner.cleanup()
