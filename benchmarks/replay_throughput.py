"""Throughput per core: our model-driven users vs Locust FastHttpUser, both pinned to core 0.

    .venv/bin/python benchmarks/replay_throughput.py [--seconds 10] [--rounds 3]

Against a one-worker nginx pinned to core 1 (``apt-get install -y nginx``), 50 users each, no waits:
- ours: ``tracereplay run MODEL --users 50 --think-scale 0 --workers 1`` with recording on — the behaviour
  model fitted on the bundled sample traffic, generic HTTP actions (every route filled from ids the
  answers return), each request written to Parquet and the HDR histograms;
- ours with ``--http aiohttp`` (the same engine over aiohttp's client), for reference;
- Locust ``FastHttpUser`` with ``wait_time = constant(0)`` and one GET task, ``--headless -u 50 -r 50``;
- raw aiohttp + uvloop: 50 coroutines looping one GET, no recording — the ceiling most tools quote.
Rounds alternate the tools; medians are printed side by side with the ratio to Locust, per wall second and
per CPU-second of the client process (start-up included: model loading for ours, imports for all). On a
machine other work loads, the per-CPU-second figures are the ones to compare. Each tool runs once for a
second before the rounds (not counted), so every round starts with its byte-code cached, as installed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay_common import (
    CHILD_ENV,
    PYTHON,
    ROOT,
    ChildCpu,
    demo_model,
    median,
    nginx,
    run_locust,
    tracereplay,
)

LOCUSTFILE = textwrap.dedent("""
    from locust import FastHttpUser, constant, task

    class Reader(FastHttpUser):
        wait_time = constant(0)

        @task
        def me(self):
            self.client.get("/api/v4/users/me")
""")

RAW = textwrap.dedent("""
    import asyncio, sys, time
    import aiohttp, uvloop

    async def main(url, seconds):
        async with aiohttp.ClientSession(url) as session:
            count = 0
            end = time.monotonic() + seconds

            async def user():
                nonlocal count
                while time.monotonic() < end:
                    async with session.get("/api/v4/users/me") as response:
                        await response.read()
                        count += 1

            await asyncio.gather(*(user() for _ in range(50)))
            print(count / seconds)

    uvloop.run(main(sys.argv[1], float(sys.argv[2])))
""")


def ours(model: Path, url: str, seconds: float, work: Path, http: str) -> tuple[float, float]:
    """Successful requests per wall second and per CPU-second of the client."""
    args = ["run", str(model), "--target", url, "--users", "50", "--think-scale", "0", "--duration",
            f"{seconds}s", "--workers", "1", "--http", http, "-o", str(work / f"run-{http}")]
    with ChildCpu() as cpu:
        result = tracereplay(*args, cpu=0)
    ok = result["requests"] - result["errors"]
    return ok / result["duration_s"], ok / cpu.seconds


def locust(url: str, seconds: float, work: Path) -> tuple[float, float]:
    locustfile = work / "locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    with ChildCpu() as cpu:
        row = run_locust(locustfile, url, users=50, spawn_rate=50, seconds=seconds, work=work)
    ok = int(row["Request Count"]) - int(row["Failure Count"])
    return ok / seconds, ok / cpu.seconds


def raw_aiohttp(url: str, seconds: float, work: Path) -> tuple[float, float]:
    script = work / "raw.py"
    script.write_text(RAW)
    with ChildCpu() as cpu:
        done = subprocess.run(
            ["taskset", "-c", "0", PYTHON, str(script), url, str(seconds)],
            check=True,
            capture_output=True,
            text=True,
            env=CHILD_ENV,
        )
    rate = float(done.stdout.strip())
    return rate, rate * seconds / cpu.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tr-throughput-"))
    model = demo_model(work)
    names = ["tracereplay", "locust", "tracereplay --http aiohttp", "raw aiohttp+uvloop"]
    wall: dict[str, list[float]] = {name: [] for name in names}
    per_cpu: dict[str, list[float]] = {name: [] for name in names}
    with nginx(cpu=1) as url:
        def measures(seconds: float) -> dict[str, Callable[[], tuple[float, float]]]:
            return {
                "tracereplay": lambda: ours(model, url, seconds, work, "fast"),
                "locust": lambda: locust(url, seconds, work),
                "tracereplay --http aiohttp": lambda: ours(model, url, seconds, work, "aiohttp"),
                "raw aiohttp+uvloop": lambda: raw_aiohttp(url, seconds, work),
            }

        tools = measures(args.seconds)
        # a short run of each first, not counted: byte-code compiled and cached (CHILD_ENV), pages warm
        for measure in measures(1).values():
            measure()
        for round_ in range(args.rounds):
            for name, measure in tools.items():
                rate, rate_cpu = measure()
                wall[name].append(rate)
                per_cpu[name].append(rate_cpu)
            print(
                f"round {round_ + 1}: "
                + "  ".join(f"{k} {v[-1]:,.0f} ({per_cpu[k][-1]:,.0f}/CPU-s)" for k, v in wall.items()),
                file=sys.stderr,
            )
    base, base_cpu = median(wall["locust"]), median(per_cpu["locust"])
    print(
        f"\nthroughput per core, 50 users, no waits, {args.seconds:g}s × {args.rounds} rounds "
        f"(successful requests, median)"
    )
    print(f"{'client (core 0)':32} {'req/s':>10} {'× locust':>9} {'req/CPU-s':>10} {'× locust':>9}")
    for name in names:
        w, c = median(wall[name]), median(per_cpu[name])
        print(f"{name:32} {w:>10,.0f} {w / base:>9.2f} {c:>10,.0f} {c / base_cpu:>9.2f}")
    print(f"(run from {ROOT}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
