"""Memory per simulated user: 20 000 concurrent users in think time in one process (goal ≤ 500 MB RSS).

    .venv/bin/python benchmarks/replay_users.py [--users 20000]

Our closed workload with the model fitted on the sample traffic, ``--think-scale 200`` so users spend the
run thinking (each has still signed up, logged in and kept its ids through the demo-style generic
actions), ramped up over 10 s against nginx; the peak RSS of the worker process is sampled from /proc.
The peer: Locust FastHttpUser with the same number of users waiting ``constant(60)`` between requests.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay_common import PYTHON, ROOT, demo_model, locust_command, nginx

LOCUSTFILE = textwrap.dedent("""
    from locust import FastHttpUser, constant, task

    class Idle(FastHttpUser):
        wait_time = constant(60)

        @task
        def hit(self):
            self.client.get("/api/v4/users/me")
""")


def peak_rss_mb(command: list[str], seconds: float, users_ready: float) -> tuple[float, float]:
    """Run ``command``; return (peak RSS MB of its largest process, RSS MB at ``users_ready`` s)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    peak, at_ready, started = 0.0, 0.0, time.monotonic()
    while process.poll() is None and time.monotonic() - started < seconds + 60:
        rss = max((_rss_mb(pid) for pid in _tree(process.pid)), default=0.0)
        peak = max(peak, rss)
        if not at_ready and time.monotonic() - started >= users_ready:
            at_ready = rss
        time.sleep(0.2)
    process.wait()
    return peak, at_ready


def _tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pids
    for child in children:
        pids += _tree(int(child))
    return pids


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=25)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tr-users-"))
    model = demo_model(work)
    with nginx(cpu=1) as url:
        ours = peak_rss_mb(
            [
                "taskset",
                "-c",
                "0",
                PYTHON,
                "-m",
                "tracereplay",
                "run",
                str(model),
                "--target",
                url,
                "--users",
                str(args.users),
                "--ramp-up",
                "10s",
                "--think-scale",
                "200",
                "--duration",
                f"{args.seconds}s",
                "--workers",
                "1",
                "--quiet",
                "-o",
                str(work / "run"),
            ],
            args.seconds,
            users_ready=args.seconds - 3,
        )
        locustfile = work / "locustfile.py"
        locustfile.write_text(LOCUSTFILE)
        peer = peak_rss_mb(
            locust_command(
                locustfile, url, users=args.users, spawn_rate=args.users / 10, seconds=args.seconds
            ),
            args.seconds,
            users_ready=args.seconds - 3,
        )
    print(f"\n{args.users:,} concurrent users in think time, one process")
    print(f"{'':34} {'peak RSS MB':>12} {'KB per user':>12}")
    for name, (peak, _) in (("tracereplay", ours), ("locust FastHttpUser", peer)):
        print(f"{name:34} {peak:>12,.0f} {peak * 1024 / args.users:>12,.1f}")


if __name__ == "__main__":
    main()
