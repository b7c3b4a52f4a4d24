"""A target with a known capacity: at most CONCURRENCY requests are served at once, each taking SERVICE_S;
past that they queue, so latency grows with every user beyond CONCURRENCY (closed users, no think time).

    python tests/service/capacity_target.py --concurrency 30 --service-ms 200 --port 0

prints ``listening http://127.0.0.1:PORT`` and serves ``GET /work`` and Prometheus ``/metrics``
(``capacity_target_seconds``: each request's time in the server, queue included).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


def create_app(concurrency: int, service_s: float) -> web.Application:
    slots = asyncio.Semaphore(concurrency)
    registry = CollectorRegistry()
    seconds = Histogram(
        "capacity_target_seconds", "Time in the server, queue included.", registry=registry,
        buckets=(0.1, 0.2, 0.21, 0.25, 0.3, 0.4, 0.5, 1.0, 2.0),
    )

    async def work(request: web.Request) -> web.Response:
        arrived = time.monotonic()
        async with slots:
            await asyncio.sleep(service_s)
        seconds.observe(time.monotonic() - arrived)
        return web.Response(text="ok")

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/work", work)
    app.router.add_get("/metrics", metrics)
    return app


async def main(args: argparse.Namespace) -> None:
    runner = web.AppRunner(create_app(args.concurrency, args.service_ms / 1000), access_log=None)
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
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(main(parser.parse_args()))
