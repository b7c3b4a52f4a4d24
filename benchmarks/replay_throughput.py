"""Throughput per core: our model-driven users vs Locust FastHttpUser, both pinned to core 0.

    .venv/bin/python benchmarks/replay_throughput.py [--seconds 10] [--rounds 3]

Against a one-worker nginx pinned to core 1 (``apt-get install -y nginx``), 50 users each, no waits:
- ours: ``tracereplay run MODEL --users 50 --think-scale 0 --workers 1`` with recording on — the behaviour
  model fitted on the bundled sample traffic, generic HTTP actions (every route filled from ids the
  answers return), each request written to Parquet and the HDR histograms;
- ours with ``--http aiohttp`` (the same engine over aiohttp's client), for reference;
- Locust ``FastHttpUser`` with ``wait_time = constant(0)`` and one GET task, ``--headless -u 50 -r 50``;
- raw aiohttp + uvloop: 50 coroutines looping one GET, no recording — the ceiling most tools quote.
Rounds alternate the tools; medians are printed side by side with the ratio to Locust.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay_common import PYTHON, ROOT, demo_model, median, nginx, run_locust, tracereplay

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


def ours(model: Path, url: str, seconds: float, work: Path, http: str) -> float:
    result = tracereplay(
        "run",
        str(model),
        "--target",
        url,
        "--users",
        "50",
        "--think-scale",
        "0",
        "--duration",
        f"{seconds}s",
        "--workers",
        "1",
        "--http",
        http,
        "-o",
        str(work / f"run-{http}"),
        cpu=0,
    )
    ok = result["requests"] - result["errors"]
    return ok / result["duration_s"]


def locust(url: str, seconds: float, work: Path) -> float:
    locustfile = work / "locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    row = run_locust(locustfile, url, users=50, spawn_rate=50, seconds=seconds, work=work)
    ok = int(row["Request Count"]) - int(row["Failure Count"])
    return ok / seconds


def raw_aiohttp(url: str, seconds: float, work: Path) -> float:
    script = work / "raw.py"
    script.write_text(RAW)
    done = subprocess.run(
        ["taskset", "-c", "0", PYTHON, str(script), url, str(seconds)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tr-throughput-"))
    model = demo_model(work)
    figures: dict[str, list[float]] = {
        "tracereplay": [],
        "tracereplay --http aiohttp": [],
        "locust": [],
        "raw aiohttp+uvloop": [],
    }
    with nginx(cpu=1) as url:
        for round_ in range(args.rounds):
            figures["tracereplay"].append(ours(model, url, args.seconds, work, "fast"))
            figures["locust"].append(locust(url, args.seconds, work))
            figures["tracereplay --http aiohttp"].append(ours(model, url, args.seconds, work, "aiohttp"))
            figures["raw aiohttp+uvloop"].append(raw_aiohttp(url, args.seconds, work))
            print(
                f"round {round_ + 1}: " + "  ".join(f"{k} {v[-1]:,.0f}" for k, v in figures.items()),
                file=sys.stderr,
            )
    base = median(figures["locust"])
    print(
        f"\nthroughput per core, 50 users, no waits, {args.seconds:g}s × {args.rounds} rounds "
        f"(successful requests/s, median)"
    )
    print(f"{'client (core 0)':32} {'req/s':>10} {'× locust':>9}")
    for name, values in figures.items():
        print(f"{name:32} {median(values):>10,.0f} {median(values) / base:>9.2f}")
    print(f"(run from {ROOT})")


if __name__ == "__main__":
    main()
