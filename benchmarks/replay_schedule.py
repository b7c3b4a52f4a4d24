"""Schedule accuracy of the open workload: 2 000 sessions/s, as planned?

    .venv/bin/python benchmarks/replay_schedule.py [--rate 2000] [--seconds 10]

Our open workload (one GET per session, evenly spaced arrivals, core 0) against nginx (core 1): the rate
achieved (sessions started ÷ duration, goal within 1 %) and how late each session's request left compared
with its intended start (actual − intended, goal p99 ≤ 5 ms while the machine is not saturated). The peer:
Locust FastHttpUser, 200 users with ``constant_throughput(rate / 200)`` — the closest Locust has to an
arrival rate — its achieved rate in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay_common import nginx, run_locust, tracereplay

LOCUSTFILE = textwrap.dedent("""
    from locust import FastHttpUser, constant_throughput, task

    class Arrival(FastHttpUser):
        wait_time = constant_throughput({per_user})

        @task
        def hit(self):
            self.client.get("/api/v4/system/ping")
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tr-schedule-"))
    script = work / "ping.toml"
    script.write_text('actions = ["GET /api/v4/system/ping"]\n')
    with nginx(cpu=1) as url:
        result = tracereplay(
            "run",
            str(script),
            "--target",
            url,
            "--arrival-rate",
            str(args.rate),
            "--duration",
            f"{args.seconds}s",
            "--workers",
            "1",
            "-o",
            str(work / "run"),
            cpu=0,
        )
        frame = pd.read_parquet(work / "run" / "requests-0.parquet")
        locustfile = work / "locustfile.py"
        locustfile.write_text(LOCUSTFILE.format(per_user=args.rate / 200))
        peer = run_locust(locustfile, url, users=200, spawn_rate=200, seconds=args.seconds, work=work)
    intended = frame["intended"].astype("int64") / 1e9
    span = intended.max() - intended.min()
    achieved = (len(frame) - 1) / span if span > 0 else 0.0
    lag_ms = (frame["ts"] - frame["intended"]).dt.total_seconds() * 1e3
    print(f"\nopen workload at {args.rate:,.0f} sessions/s for {args.seconds:g}s (one GET a session)")
    print(f"{'':34} {'rate/s':>9} {'error':>8} {'lag p50':>9} {'lag p99':>9} {'lag max':>9}")
    print(f"{'tracereplay (planned)':34} {args.rate:>9,.0f}")
    error = 100 * (achieved / args.rate - 1)
    print(
        f"{'tracereplay (achieved, intended)':34} {achieved:>9,.1f} {error:>7.2f}% "
        f"{lag_ms.quantile(0.5):>8.2f}  {lag_ms.quantile(0.99):>8.2f}  {lag_ms.max():>8.1f}   ms"
    )
    started = result["sessions_started"] / args.seconds
    error = 100 * (started / args.rate - 1)
    print(
        f"{'tracereplay (sessions started/s)':34} {started:>9,.1f} {error:>7.2f}%   "
        f"late {result['sessions_late']}, dropped {result['sessions_dropped']}"
    )
    locust_rate = int(peer["Request Count"]) / args.seconds
    error = 100 * (locust_rate / args.rate - 1)
    print(f"{'locust constant_throughput ×200':34} {locust_rate:>9,.1f} {error:>7.2f}%")


if __name__ == "__main__":
    main()
