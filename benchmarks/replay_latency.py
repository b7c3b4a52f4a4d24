"""Latency honesty: coordinated omission made visible (wrk2's demonstration), and our overhead at light load.

    .venv/bin/python benchmarks/replay_latency.py [--seconds 30]

1. Stall: a local server that stops answering for 1 s every 10 s. We run an open workload at a fixed rate
   (200 sessions/s of one GET) with at most 20 concurrent users — like wrk2's fixed connections. While the
   server stalls, the 20 users hang and later arrivals wait: their *measured* latency (from the actual
   send) is small, their *corrected* latency (from the intended start) is not. 10% of the schedule falls
   in a stall, delayed 0–1 s uniformly, so an honest p99 is ~0.9 s. The peer: Locust FastHttpUser with
   ``constant_pacing(0.1)`` and 20 users (the same 200 req/s target), which measures from the actual send.
2. Overhead: the server sleeps 50 ms per request; at 50 sessions/s our p50 minus 50 ms is the client's
   own overhead (goal ≤ 1.5 ms), printed next to Locust's at the same rate.
Clients on core 0, the server on core 1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay_common import PYTHON, free_port, run_locust, tracereplay, wait_for_port

SERVER = textwrap.dedent("""
    import asyncio, sys, time
    from aiohttp import web
    mode, port = sys.argv[1], int(sys.argv[2])
    start = time.monotonic()

    durations = []

    async def handle(request):
        began = time.perf_counter()
        if mode == "stall":
            phase = (time.monotonic() - start) % 10.0
            if phase >= 9.0:  # the last second of every ten: nothing is answered until it ends
                await asyncio.sleep(10.0 - phase)
        else:
            await asyncio.sleep(0.05)
        durations.append(time.perf_counter() - began)
        return web.Response(text="ok")

    async def stats(request):
        ordered = sorted(durations)
        return web.json_response({"p50_ms": 1000 * ordered[len(ordered) // 2] if ordered else None})

    app = web.Application()
    app.router.add_get("/work", handle)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
""")

LOCUSTFILE = textwrap.dedent("""
    from locust import FastHttpUser, constant_pacing, task

    class Worker(FastHttpUser):
        wait_time = constant_pacing({pacing})

        @task
        def work(self):
            self.client.get("/work")
""")


def start_server(mode: str, work: Path) -> tuple[subprocess.Popen, str]:
    script = work / "server.py"
    script.write_text(SERVER)
    port = free_port()
    process = subprocess.Popen(["taskset", "-c", "1", PYTHON, str(script), mode, str(port)])
    wait_for_port(port)
    return process, f"http://127.0.0.1:{port}"


def ours(url: str, rate: float, cap: int, seconds: float, out: Path) -> pd.DataFrame:
    script = out.parent / "work.toml"
    script.write_text('actions = ["GET /work"]\n')
    tracereplay(
        "run",
        str(script),
        "--target",
        url,
        "--arrival-rate",
        str(rate),
        "--max-users",
        str(cap),
        "--max-late",
        "30s",
        "--duration",
        f"{seconds}s",
        "--workers",
        "1",
        "-o",
        str(out),
        cpu=0,
    )
    return pd.read_parquet(out / "requests-0.parquet")


def locust(url: str, users: int, pacing: float, seconds: float, work: Path) -> dict[str, float]:
    locustfile = work / "locustfile.py"
    locustfile.write_text(LOCUSTFILE.format(pacing=pacing))
    row = run_locust(locustfile, url, users=users, spawn_rate=users, seconds=seconds, work=work)
    return {p: float(row[f"{p}%"]) for p in ("50", "90", "99", "99.9")} | {
        "count": float(row["Request Count"])
    }


def server_median(url: str) -> float:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{url}/stats", timeout=10) as answer:
        return float(json.load(answer)["p50_ms"])


def quantiles(values: pd.Series) -> dict[str, float]:
    return {p: float(values.quantile(float(p) / 100)) for p in ("50", "90", "99", "99.9")}


def row(name: str, q: dict[str, float], extra: str = "") -> str:
    return f"{name:44} " + " ".join(f"{q[p]:>9.1f}" for p in ("50", "90", "99", "99.9")) + f"  {extra}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tr-latency-"))
    header = f"{'':44} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'p99.9 ms':>9}"

    server, url = start_server("stall", work)
    try:
        frame = ours(url, 200, 20, args.seconds, work / "stall")
        peer = locust(url, 20, 0.1, args.seconds, work)
    finally:
        server.terminate()
        server.wait()
    print(f"\n1. server stalls 1 s every 10 s; 200 sessions/s, at most 20 users; {args.seconds:g}s")
    print(header)
    print(
        row(
            "tracereplay latency_corrected_ms (honest)",
            quantiles(frame["latency_corrected_ms"]),
            f"{len(frame):,} requests",
        )
    )
    print(row("tracereplay latency_ms (as measured)", quantiles(frame["latency_ms"])))
    print(row("locust FastHttpUser constant_pacing(0.1) ×20", peer, f"{peer['count']:,.0f} requests"))
    print(
        row(
            "expected if nothing is hidden",
            {"50": 0.0, "90": 0.0, "99": 900.0, "99.9": 990.0},
            "(10% of the schedule delayed 0–1 s)",
        )
    )

    server, url = start_server("sleep", work)
    try:
        light = ours(url, 50, 1000, min(args.seconds, 20), work / "light")
        server_p50 = server_median(url)
        server.terminate()
        server.wait()
        server, url = start_server("sleep", work)
        peer = locust(url, 5, 0.1, min(args.seconds, 20), work)
        peer_server_p50 = server_median(url)
    finally:
        server.terminate()
        server.wait()
    overhead = light["latency_ms"].median() - server_p50
    print(f"\n2. server sleeps 50 ms (its own p50 handler time: {server_p50:.2f} ms); 50 sessions/s")
    print(header)
    print(
        row(
            "tracereplay latency_ms",
            quantiles(light["latency_ms"]),
            f"p50 − server p50 = {overhead:.2f} ms (goal ≤ 1.5)",
        )
    )
    print(row("tracereplay latency_corrected_ms", quantiles(light["latency_corrected_ms"])))
    print(
        row(
            "locust FastHttpUser ×5, constant_pacing(0.1)",
            peer,
            f"p50 − server p50 = {peer['50'] - peer_server_p50:.1f} ms (Locust rounds to ms)",
        )
    )


if __name__ == "__main__":
    main()
