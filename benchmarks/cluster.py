"""Scale-out: a run on a Dask LocalCluster (``--cluster local:2``) beside the local pool (``--workers 2``).

    .venv/bin/python benchmarks/cluster.py [--seconds 10] [--rounds 3] [--users 50]

Both runs, rounds alternating, against one nginx on 127.0.0.1 (``apt-get install -y nginx``): the behaviour
model fitted on the bundled sample traffic, ``--users`` users with no waits (``--think-scale 0``), recording
on. Printed per arm, medians over the rounds:
- req/s: successful requests over the load's own seconds (the goal: Dask ≥ 0.9 × the local pool);
- req per CPU-second of load: each round also runs a 2 s load, and the extra requests of the long run are
  divided by its extra CPU time (the command and every process it started): start-up and tear-down, which
  cost the same in both, cancel out (the machine is shared, so this is the steadier figure);
- overhead s: the command's wall time minus the load's seconds (start-up, release, Parquet, tear-down);
Then, in this process: the start-up of each (from asking for a run to every worker's load started, which
for Dask includes starting the LocalCluster), and the live-control latency on Dask (a command sent by
``add_users`` / ``remove_users`` → applied by its worker; ``PoolHandle.control_latency_s``).

    .venv/bin/python benchmarks/cluster.py --sizing [--seconds 30]

The per-user figures docs/scale-out.md sizes a cluster with: one worker (``--workers 1``) runs the model's
users with their own think times, 200 and then 2,000 of them; the difference gives requests/s per user,
memory per user (peak RSS) and CPU per request, the marginal cost of users beyond a worker's base.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay_common import PYTHON, ROOT, demo_model, median, nginx, tracereplay

from tracereplay.replay.workers import start_pool

#: The short run each round subtracts, seconds of load.
SHORT_S = 2


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(
    model: Path, url: str, users: int, seconds: float, work: Path, how: list[str]
) -> tuple[dict, float, float]:
    """One ``tracereplay run``: its result, wall seconds, and CPU seconds of it and its processes."""
    cpu, wall = children_cpu_s(), time.monotonic()
    result = tracereplay(
        "run", str(model), "--target", url, "--users", str(users), "--think-scale", "0",
        "--duration", f"{seconds}s", *how, "-o", str(work / f"run-{'-'.join(how)}-{seconds}"),
    )  # fmt: skip
    return result, time.monotonic() - wall, children_cpu_s() - cpu


def one_round(model: Path, url: str, args: argparse.Namespace, work: Path, how: list[str]) -> dict:
    result, wall, cpu = timed_run(model, url, args.users, args.seconds, work, how)
    short, _, short_cpu = timed_run(model, url, args.users, SHORT_S, work, how)
    ok = result["requests"] - result["errors"]
    short_ok = short["requests"] - short["errors"]
    return {
        "rps": ok / result["duration_s"],
        "per_cpu_s": (ok - short_ok) / max(1e-9, cpu - short_cpu),
        "overhead_s": wall - result["duration_s"],
    }


async def startup_figures(model: Path, url: str, work: Path, rounds: int) -> dict[str, list[float]]:
    """Seconds from asking for a run to every worker's load started (``start_pool`` returning): 2 spawned
    local processes, or a LocalCluster of 2 started for the run."""
    arms = {"--workers 2": {"workers": 2}, "--cluster local:2": {"cluster": "local:2"}}
    figures: dict[str, list[float]] = {name: [] for name in arms}
    for i in range(rounds):
        for name, how in arms.items():
            started = time.monotonic()
            handle = await start_pool(
                str(model), target=url, users=2, duration=1, out=str(work / f"startup-{i}-{name[2:9]}"), **how
            )
            figures[name].append(time.monotonic() - started)
            await handle.wait()
    return figures


async def control_latency(model: Path, url: str, work: Path, commands: int) -> list[float]:
    handle = await start_pool(
        str(model), target=url, users=10, think_scale=0.1, duration=commands + 3, out=str(work / "control"),
        cluster="local:2", actions=None,
    )  # fmt: skip
    for i in range(commands):
        await asyncio.sleep(1.0)
        if i % 2:
            handle.remove_users(1)
        else:
            handle.add_users(1)
    await handle.wait()
    return handle.control_latency_s


def sized_run(model: Path, url: str, users: int, seconds: float, work: Path) -> dict[str, float]:
    """One worker with ``users`` users of the model at its own pace: requests/s, peak RSS, CPU seconds."""
    command = [
        PYTHON, "-m", "tracereplay", "run", str(model), "--target", url, "--users", str(users),
        "--duration", f"{seconds}s", "--ramp-up", "5s", "--workers", "1", "--json", "--quiet",
        "-o", str(work / f"sizing-{users}"),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    out = process.stdout.read() if process.stdout is not None else b""
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"tracereplay run --users {users} failed ({status})")
    result = json.loads(out)
    return {
        "rps": result["requests"] / result["duration_s"],
        "requests": result["requests"],
        "rss_mb": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }


def sizing(model: Path, url: str, seconds: float, work: Path) -> None:
    small, big = (sized_run(model, url, users, seconds, work) for users in (200, 2000))
    users = 2000 - 200
    rps_user = (big["rps"] - small["rps"]) / users
    mb_user = (big["rss_mb"] - small["rss_mb"]) / users
    cpu_request = (big["cpu_s"] - small["cpu_s"]) / max(1, big["requests"] - small["requests"])
    load = os.getloadavg()[0]
    print(f"one worker, the demo model's own think times, {seconds:g}s (load average {load:.1f})")
    for name, figures in (("200 users", small), ("2,000 users", big)):
        print(
            f"{name:12} {figures['rps']:8,.1f} req/s  peak RSS {figures['rss_mb']:6,.0f} MB  "
            f"CPU {figures['cpu_s']:5.1f} s"
        )
    print(
        f"per user: {rps_user:.3f} req/s, {mb_user * 1024:.0f} kB; "
        f"CPU per request {cpu_request * 1e6:.0f} µs ({1 / cpu_request:,.0f} requests per CPU-second)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--sizing", action="store_true", help="per-user figures instead (docstring)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tr-cluster-"))
    model = demo_model(work)
    if args.sizing:
        with nginx(cpu=1) as url:
            sizing(model, url, args.seconds, work)
        return
    arms = {"--workers 2": ["--workers", "2"], "--cluster local:2": ["--cluster", "local:2"]}
    figures: dict[str, list[dict[str, float]]] = {name: [] for name in arms}
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", file=sys.stderr)
    with nginx(cpu=1) as url:
        for round_ in range(args.rounds):
            for name, how in arms.items():
                figures[name].append(one_round(model, url, args, work, how))
            print(
                f"round {round_ + 1}: "
                + "  ".join(
                    f"{n} {f[-1]['rps']:,.0f} req/s ({f[-1]['per_cpu_s']:,.0f}/CPU-s)"
                    for n, f in figures.items()
                ),
                file=sys.stderr,
            )
        latencies = asyncio.run(control_latency(model, url, work, 6))
        startups = asyncio.run(startup_figures(model, url, work, args.rounds))
    load_end = os.getloadavg()[0]

    def med(name: str, key: str) -> float:
        return median([f[key] for f in figures[name]])

    base = med("--workers 2", "rps")
    print(
        f"\n{args.users} users, no waits, {args.seconds:g}s × {args.rounds} rounds, medians "
        f"(load average {load_end:.1f} at the end, {os.cpu_count()} cores shared with nginx and others)"
    )
    print(f"{'arm':22} {'req/s':>9} {'× local':>8} {'req/CPU-s of load':>18} {'overhead s':>11}")
    for name in arms:
        print(
            f"{name:22} {med(name, 'rps'):>9,.0f} {med(name, 'rps') / base:>8.2f} "
            f"{med(name, 'per_cpu_s'):>18,.0f} {med(name, 'overhead_s'):>11.1f}"
        )
    for name, values in startups.items():
        rounds = ", ".join(f"{v:.2f}" for v in values)
        print(f"start-up {name:22} median {median(values):.2f}s  (rounds: {rounds})")
    if latencies:
        ms = sorted(1000 * v for v in latencies)
        print(f"live control, Dask local:2: {len(ms)} commands, median {median(ms):.1f} ms, max {ms[-1]:.1f}")
    print(f"(run from {ROOT})")


if __name__ == "__main__":
    main()
