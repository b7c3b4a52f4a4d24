"""How fast and how lean is ``summarize`` on a large run? Beside a naive pandas peer, in the same run.

    .venv/bin/python benchmarks/report.py                  # 10 M requests, 4 workers, 3 repeats
    .venv/bin/python benchmarks/report.py --rows 1000000   # quicker

It writes a run directory under benchmarks/_work/ (kept between invocations for the same size) that follows
the run contract, with small row groups as the runtime writes them (one a second per worker), then times,
each in a fresh process so peak RSS is its own:

- **tracereplay**: ``summarize(load_run(dir))`` — streaming, only the needed columns, HDR-layout histograms;
- **naive pandas**: read every column of every file, concatenate, then ``groupby("action")`` for count,
  errors, mean, max and ``quantile([.5, .9, .95, .99, .999])`` of the corrected latency.

Printed: wall and CPU time of the summary step (imports excluded) and peak RSS of the process, medians
of the repeats. On a shared machine wall time includes waiting for a core; CPU time does not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

WORK = Path(__file__).resolve().parent / "_work"
N_ACTIONS = 30
RPS_PER_WORKER = 4000  # one row group a second per worker, as the runtime writes them


def make_run(directory: Path, rows: int, workers: int, seed: int = 1) -> None:
    """A contract-following run directory of ``rows`` requests over ``workers`` files."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [f"{'GET' if i % 3 else 'POST'} /api/v4/things{i}/{{id}}" for i in range(N_ACTIONS)]
    weights = 1.0 / np.arange(1, N_ACTIONS + 1)
    weights /= weights.sum()
    scale_ms = rng.uniform(2, 80, size=N_ACTIONS)
    start_ns = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
    per_worker = rows // workers
    for worker in range(workers):
        n = per_worker + (rows - per_worker * workers if worker == workers - 1 else 0)
        action = rng.choice(N_ACTIONS, size=n, p=weights).astype(np.int32)
        ts = start_ns + np.cumsum(rng.exponential(1e9 / RPS_PER_WORKER, size=n)).astype(np.int64)
        latency = rng.lognormal(0, 0.7, size=n) * scale_ms[action]
        late = np.where(rng.random(n) < 0.05, rng.exponential(30, size=n), 0.0)
        error = rng.random(n) < 0.01
        kind_codes = np.where(error, rng.integers(0, 3, size=n), -1).astype(np.int32)
        session_codes = (np.arange(n) // 8).astype(np.int32)
        sessions = pa.array([f"w{worker}-s{i}" for i in range(int(session_codes[-1]) + 1)])
        users = pa.array([f"w{worker}-u{i}" for i in range(int(session_codes[-1]) // 3 + 1)])
        kinds = pa.DictionaryArray.from_arrays(
            pa.array(kind_codes, mask=kind_codes < 0), pa.array(["http_5xx", "timeout", "connect"])
        )
        table = pa.table(
            {
                "ts": pa.array(ts, pa.timestamp("ns", tz="UTC")),
                "user": users.take(pa.array(session_codes // 3)),  # plain strings, as the runtime writes
                "session": sessions.take(pa.array(session_codes)),
                "action": pa.DictionaryArray.from_arrays(pa.array(action), pa.array(names)),
                "method": pa.DictionaryArray.from_arrays(
                    pa.array(action), pa.array([a.split()[0] for a in names])
                ),
                "route": pa.DictionaryArray.from_arrays(
                    pa.array(action), pa.array([a.split()[1] for a in names])
                ),
                "path": pa.DictionaryArray.from_arrays(
                    pa.array(action), pa.array([a.split()[1] for a in names])
                ),
                "status": pa.array(np.where(error, 500, 200).astype(np.int32)),
                "duration_ms": pa.array(latency),
                "error": pa.array(error),
                "source": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array(["run"])),
                "intended": pa.array(ts - (late * 1e6).astype(np.int64), pa.timestamp("ns", tz="UTC")),
                "latency_ms": pa.array(latency),
                "latency_corrected_ms": pa.array(latency + late),
                "error_kind": kinds,
                "bytes": pa.array(rng.integers(200, 5000, size=n)),
                "worker": pa.array(np.full(n, worker, np.int32)),
            }
        )
        pq.write_table(
            table, directory / f"requests-{worker}.parquet", row_group_size=RPS_PER_WORKER, compression="zstd"
        )
    seconds = rows / (RPS_PER_WORKER * workers)
    meta = {
        "format": "tracereplay-run",
        "version": 1,
        "target": "http://127.0.0.1:8065",
        "workers": workers,
        "started": "2026-01-01T00:00:00+00:00",
        "ended": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start_ns / 1e9 + seconds)),
        "exit_reason": "duration",
        "requests": rows,
    }
    (directory / "run.json").write_text(json.dumps(meta))


OURS = """
import time, json, resource, sys
from tracereplay.report import load_run, summarize
t, cpu = time.perf_counter(), time.process_time()
s = summarize(load_run(sys.argv[1]))
took, cpu = time.perf_counter() - t, time.process_time() - cpu
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": took, "cpu": cpu, "rss_mb": rss,
                  "count": int(s.total["count"]), "p99": float(s.total["p99_ms"])}))
"""

PEER = """
import time, json, resource, sys, glob
import pandas as pd
t, cpu = time.perf_counter(), time.process_time()
frame = pd.concat([pd.read_parquet(f) for f in sorted(glob.glob(sys.argv[1] + "/requests-*.parquet"))],
                  ignore_index=True)
groups = frame.groupby("action", observed=True)
table = groups.agg(count=("action", "size"), errors=("error", "sum"), mean=("latency_corrected_ms", "mean"),
                   max=("latency_corrected_ms", "max"))
quantiles = groups["latency_corrected_ms"].quantile([0.5, 0.9, 0.95, 0.99, 0.999]).unstack()
total = frame["latency_corrected_ms"].quantile(0.99)
took, cpu = time.perf_counter() - t, time.process_time() - cpu
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": took, "cpu": cpu, "rss_mb": rss,
                  "count": int(table["count"].sum()), "p99": float(total)}))
"""


def measure(code: str, run_dir: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", code, str(run_dir)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    run_dir = WORK / f"report-run-{args.rows}-{args.workers}"
    if not (run_dir / "run.json").exists():
        started = time.perf_counter()
        make_run(run_dir, args.rows, args.workers)
        print(f"wrote {run_dir} in {time.perf_counter() - started:.1f}s")
    size_mb = sum(f.stat().st_size for f in run_dir.glob("*.parquet")) / 2**20
    print(
        f"run: {args.rows:,} requests, {args.workers} worker files, {size_mb:.0f} MB of Parquet, "
        f"row groups of {RPS_PER_WORKER} rows"
    )
    results: dict[str, list[dict[str, float]]] = {"tracereplay summarize": [], "naive pandas": []}
    for _ in range(args.repeat):
        results["tracereplay summarize"].append(measure(OURS, run_dir))
        results["naive pandas"].append(measure(PEER, run_dir))
    header = f"{'':24}{'wall s':>8}{'cpu s':>8}{'runs (wall s)':>22}{'peak RSS MB':>13}{'p99 ms':>9}"
    print(header)
    medians = {}
    for name, rows in results.items():
        wall = statistics.median(r["seconds"] for r in rows)
        cpu = statistics.median(r["cpu"] for r in rows)
        rss = statistics.median(r["rss_mb"] for r in rows)
        medians[name] = (wall, cpu, rss)
        runs = " ".join(f"{r['seconds']:.2f}" for r in rows)
        print(f"{name:24}{wall:>8.2f}{cpu:>8.2f}{runs:>22}{rss:>13.0f}{rows[0]['p99']:>9.2f}")
    ours, peer = medians["tracereplay summarize"], medians["naive pandas"]
    print(
        f"ratio naive/tracereplay: wall ×{peer[0] / ours[0]:.1f}, cpu ×{peer[1] / ours[1]:.1f}, "
        f"peak RSS ×{peer[2] / ours[2]:.1f}"
    )
    print(
        f"load average after the runs: {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        f" on {os.cpu_count()} cores (wall time above cpu time means the process waited for a core)"
    )


if __name__ == "__main__":
    main()
