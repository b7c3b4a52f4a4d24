"""A target with a known capacity: a request that finds at most CONCURRENCY requests in the server
(itself included) takes SERVICE_S; one that finds more takes OVERLOAD_S. So its latency jumps past a set
concurrency, and by far more than a loaded machine's scheduling delays (a client's event loop starved for
100 ms must not look like an overloaded target).

    python tests/service/capacity_target.py --concurrency 30 --service-ms 200 --overload-ms 1000 --port 0

prints ``listening http://127.0.0.1:PORT`` and serves ``GET /work`` and Prometheus ``/metrics``
(``capacity_target_seconds``: each request's time in the server).

The capacity is the server's own count of requests in flight, not a clock: closed users with no think
time never have more requests in the server than there are users, so up to CONCURRENCY users every request
takes SERVICE_S however busy the machine is, and from CONCURRENCY + 1 users on nearly every request (all
the others are in the server when it arrives) takes OVERLOAD_S.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


def create_app(concurrency: int, service_s: float, overload_s: float) -> web.Application:
    registry = CollectorRegistry()
    seconds = Histogram(
        "capacity_target_seconds", "Time in the server.", registry=registry,
        buckets=(0.1, 0.2, 0.21, 0.25, 0.3, 0.4, 0.5, 1.0, 2.0),
    )
    held = 0  # requests in the server now

    async def work(request: web.Request) -> web.Response:
        nonlocal held
        arrived = time.monotonic()
        held += 1
        try:
            await asyncio.sleep(service_s if held <= concurrency else overload_s)
        finally:
            held -= 1
        seconds.observe(time.monotonic() - arrived)
        return web.Response(text="ok")

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/work", work)
    app.router.add_get("/metrics", metrics)
    return app


async def main(args: argparse.Namespace) -> None:
    app = create_app(args.concurrency, args.service_ms / 1000, args.overload_ms / 1000)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"listening http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=30)
    parser.add_argument("--service-ms", type=float, default=200.0)
    parser.add_argument("--overload-ms", type=float, default=1000.0)
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(main(parser.parse_args()))
