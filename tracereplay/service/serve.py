"""Serving an aiohttp application until SIGINT/SIGTERM: the agent's foreground life, and the live server
(``/metrics``, ``/dashboard``) a plain ``run`` opens beside its users."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from importlib import metadata
from pathlib import Path

from aiohttp import web

from tracereplay.errors import InputError, TracereplayError
from tracereplay.service.agent import Agent, create_app


def version() -> str:
    try:
        return metadata.version("tracereplay")
    except metadata.PackageNotFoundError:
        return "0"


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Start serving ``app`` on host:port (0: any free port); returns the runner and the base URL."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:  # the port is taken, the address is not ours …: one line, not a traceback
        await runner.cleanup()
        raise TracereplayError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server = site._server  # the bound socket tells the port chosen for port 0
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    shown = f"[{host}]" if ":" in host else host
    return runner, f"http://{shown}:{bound}"


async def _serve(host: str, port: int, token: str | None, data_dir: Path, max_body: int) -> None:
    try:
        agent = Agent(data_dir)
    except OSError as exc:
        raise InputError(data_dir, f"cannot be the agent's data directory: {exc.strerror or exc}") from None
    app = create_app(agent, token=token, max_body=max_body, version=version())
    runner, url = await start_site(app, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    # announced once SIGTERM is ours: whoever reads the line may stop the agent at once
    print(
        f"tracereplay: agent listening {url} (data in {agent.data_dir}; "
        f"dashboard {url}/dashboard{'#token=…' if token else ''})",
        file=sys.stderr,
        flush=True,
    )
    try:
        await stop.wait()
        print("tracereplay: agent stopping (runs stop gracefully)", file=sys.stderr, flush=True)
    finally:
        await runner.cleanup()  # the app's cleanup stops the runs and waits for their files


def serve(*, host: str, port: int, token: str | None, data_dir: Path, max_body: int) -> None:
    asyncio.run(_serve(host, port, token, data_dir, max_body))
