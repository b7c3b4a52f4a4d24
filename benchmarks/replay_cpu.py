"""CPU per request, layer by layer: what one request of ``replay_throughput.py`` costs, and where.

    .venv/bin/python benchmarks/replay_cpu.py [--seconds 6] [--rounds 3]

Each layer runs in its own process pinned to core 0, against the one-worker nginx of the throughput benchmark
pinned to core 1, 50 concurrent users, and reports CPU microseconds per request in its steady state (start-up
and the end of the run left out; ``time.process_time`` of the whole process, every thread included):

- ``floor``: 50 keep-alive connections on uvloop with a bare ``asyncio.Protocol`` and httptools, one fixed
  request, nothing else: the event loop, the kernel's loopback TCP and the parse — what no Python client
  on uvloop goes below;
- ``transport``: the same 50 loops through ``FastTransport.send`` (requests built and checked, answers
  parsed, headers decoded, deadlines kept);
- ``engine``: the whole run of ``tracereplay run MODEL --users 50 --think-scale 0`` in process (model-driven
  users, generic actions, ids harvested, every request fired as an event, recorded and counted) with a
  transport that answers at once instead of the network — so ``engine`` ≈ the run minus ``transport``;
- ``run``: the same run over ``FastTransport`` against nginx — what ``replay_throughput.py`` measures, less
  start-up.

Rounds alternate the layers; medians are printed. On a machine other work loads the figures rise with the
load (a descheduled process comes back to cold caches), the layers' ratios much less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay_common import BODY, CHILD_ENV, PYTHON, demo_model, nginx

LAYERS = ("floor", "transport", "engine", "run")
USERS = 50
PATH = "/api/v4/users/me"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tr-cpu-"))
    model = demo_model(work)
    results: dict[str, list[float]] = {layer: [] for layer in LAYERS}
    with nginx(cpu=1) as url:
        for layer in LAYERS:  # warm-up, not counted: byte-code cached, pages warm
            _child(layer, url, 1.5, model, work)
        for round_ in range(args.rounds):
            for layer in LAYERS:
                results[layer].append(_child(layer, url, args.seconds, model, work))
            print(f"round {round_ + 1}: " + "  ".join(f"{k} {v[-1]:.1f} µs" for k, v in results.items()),
                  file=sys.stderr)
    print(f"\nCPU µs per request, steady state, {USERS} users, one core (median of {args.rounds})")
    floor = statistics.median(results["floor"])
    for layer in LAYERS:
        us = statistics.median(results[layer])
        print(f"{layer:10} {us:7.1f} µs  {1e6 / us:>9,.0f} req/CPU-s  {us / floor:5.2f}× floor")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


def _child(layer: str, url: str, seconds: float, model: Path, work: Path) -> float:
    command = ["taskset", "-c", "0", PYTHON, __file__, "--layer", layer, url, str(seconds), str(model),
               str(work / f"run-{layer}")]
    done = subprocess.run(command, capture_output=True, text=True, env=CHILD_ENV, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{layer} failed: {done.stderr.strip()[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------- in the child
async def _floor(url: str, seconds: float) -> float:
    import httptools

    host, port = url.removeprefix("http://").split(":")
    payload = f"GET {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: floor\r\n\r\n".encode()
    loop = asyncio.get_running_loop()

    class Bare(asyncio.Protocol):
        def __init__(self) -> None:
            self.parser = httptools.HttpResponseParser(self)
            self.waiter: asyncio.Future[bytes] | None = None
            self.body: list[bytes] = []
            self.transport: asyncio.Transport | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def on_body(self, body: bytes) -> None:
            self.body.append(body)

        def on_message_complete(self) -> None:
            waiter, self.waiter = self.waiter, None
            body, self.body = b"".join(self.body), []
            if waiter is not None:
                waiter.set_result(body)

        def send(self) -> asyncio.Future[bytes]:
            self.waiter = loop.create_future()
            assert self.transport is not None
            self.transport.write(payload)
            return self.waiter

    async def user(count: list[int], until: float) -> None:
        _, protocol = await loop.create_connection(Bare, host, int(port))
        while time.monotonic() < until:
            await protocol.send()
            count[0] += 1

    return await _looped(user, seconds)


async def _transport(url: str, seconds: float) -> float:
    from tracereplay.replay.transports.base import Request
    from tracereplay.replay.transports.fast import FastTransport

    async with FastTransport(url) as transport:
        request = Request("GET", PATH)

        async def user(count: list[int], until: float) -> None:
            while time.monotonic() < until:
                await transport.send(request)
                count[0] += 1

        return await _looped(user, seconds)


async def _looped(user, seconds: float) -> float:
    """Run ``USERS`` loops for ``seconds``; CPU µs per request after the first second."""
    count = [0]
    start = time.monotonic()
    tasks = [asyncio.ensure_future(user(count, start + seconds)) for _ in range(USERS)]
    await asyncio.sleep(1.0)
    cpu, done = time.process_time(), count[0]
    await asyncio.gather(*tasks)
    return (time.process_time() - cpu) / (count[0] - done) * 1e6


async def _run(url: str, seconds: float, model: str, out: str, answer_at_once: bool) -> float:
    from multidict import CIMultiDict, CIMultiDictProxy

    from tracereplay.replay.api import start_run
    from tracereplay.replay.transports.base import Request, Response

    headers = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))
    body = BODY.encode()

    class AtOnce:
        """Answers every request with nginx's answer, after one turn of the loop (as a network would)."""

        async def send(self, request: Request, *, timeout: float | None = None) -> Response:
            await asyncio.sleep(0)
            return Response(200, headers, body, len(body))

        async def aclose(self) -> None:
            pass

        async def __aenter__(self) -> AtOnce:
            return self

        async def __aexit__(self, *exc: object) -> None:
            pass

    heard: list[object] = []
    handle = await start_run(
        model, target=url, users=USERS, think_scale=0.0, duration=seconds, workers=1, out=out,
        listeners=[heard.append], transport=AtOnce() if answer_at_once else None,
    )
    await asyncio.sleep(1.0)  # users started, first flush done
    heard.clear()
    cpu = time.process_time()
    await asyncio.sleep(max(seconds - 1.5, 0.5))
    used, n = time.process_time() - cpu, len(heard)
    await handle.wait()
    return used / n * 1e6


def child(layer: str, url: str, seconds: float, model: str, out: str) -> None:
    import uvloop

    if layer == "floor":
        us = uvloop.run(_floor(url, seconds))
    elif layer == "transport":
        us = uvloop.run(_transport(url, seconds))
    else:
        us = uvloop.run(_run(url, seconds, model, out, answer_at_once=layer == "engine"))
    print(json.dumps(us))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--layer":
        child(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5], sys.argv[6])
    else:
        main()
