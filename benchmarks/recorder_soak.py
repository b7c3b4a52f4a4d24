"""A worker's requests on disk over a long run: one Parquet part a second (old) vs one Arrow stream (new).

    .venv/bin/python benchmarks/recorder_soak.py                 # an hour of seconds at 2 000 req/s, both
    .venv/bin/python benchmarks/recorder_soak.py --seconds 600   # quicker
    .venv/bin/python benchmarks/recorder_soak.py --real-time --seconds 3600   # a true 1-hour soak (1 h each)

What it does, exactly. Each scheme runs in its own fresh process (so peak RSS is its own), pinned to one
core (``taskset -c 0`` when available). Both write the same one-second table of ``--rps`` requests
(REQUEST_SCHEMA, realistic strings), ``--seconds`` times, and one users row a second, as a worker does:

- **old** (the recorder before the streams): each second's table written as its own zstd Parquet file
  ``requests-0.partNNNNNN.parquet`` through ``atomic_path``, and ``users-0.parquet`` rewritten whole (it is
  tiny, but grows a row a second); at the end the parts merged into ``requests-0.parquet`` (one
  ``ParquetWriter``, one row group a part) and removed.
- **new** (``tracereplay.rundir.StreamWriter``, what the recorder uses): each second's table appended to
  ``requests-0.arrows`` and a row to ``users-0.arrows``, each handed to the kernel at once; at the end both
  converted into Parquet (row groups of 128 k rows) and the streams removed.

Time compression: by default the seconds are written back to back (no sleep), so an hour of a worker's
output is written in well under a minute; the per-second *granularity* (one write, one flush, one file in
the old scheme) is that of the runtime, only the waiting between them is skipped. ``--real-time`` waits for
each wall-clock second instead. The row-to-table conversion and the histograms are the same in both
schemes and are left out: this measures the storage scheme only.

Printed per scheme: write time (the whole soak's flushes, wall and CPU; making the data is not timed),
RSS at the start, every 10 % and at the end of the soak, peak RSS, files in the run directory before the
end-of-run step and their size, the end-of-run merge or conversion time, and the final file's size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tracereplay.files import atomic_path
from tracereplay.rundir import REQUEST_SCHEMA, REQUESTS, USERS, USERS_SCHEMA, StreamWriter


def one_second(rps: int, second: int) -> pa.Table:
    """A realistic second of one worker's requests."""
    rng = np.random.default_rng(second)
    start_ns = 1_780_000_000_000_000_000 + second * 1_000_000_000
    ts = start_ns + np.sort(rng.integers(0, 1_000_000_000, rps))
    latency = rng.lognormal(1.5, 0.8, rps)
    actions = np.array([f"GET /api/v4/items/{{id}}/part{i}" for i in range(30)], dtype=object)
    action = actions[rng.integers(0, 30, rps)]
    status = np.where(rng.random(rps) < 0.01, 500, 200)
    users = np.array([f"u{u:08x}" for u in rng.integers(0, 5000, rps)], dtype=object)
    kind = np.where(status == 500, "http_5xx", None)
    columns = {
        "ts": pa.array(ts, pa.timestamp("ns", tz="UTC")),
        "user": pa.array(users, pa.string()),
        "session": pa.array(np.char.add(users.astype(str), "-s1"), pa.string()),
        "action": pa.array(action, pa.string()),
        "method": pa.array(np.full(rps, "GET", dtype=object), pa.string()),
        "route": pa.array(action, pa.string()),
        "path": pa.array([f"/api/v4/items/{i}" for i in rng.integers(0, 10**6, rps)], pa.string()),
        "status": pa.array(status, pa.int32()),
        "duration_ms": pa.array(latency),
        "error": pa.array(status == 500),
        "source": pa.array(np.full(rps, "run", dtype=object), pa.string()),
        "intended": pa.array(ts - 1_000_000, pa.timestamp("ns", tz="UTC")),
        "latency_ms": pa.array(latency),
        "latency_corrected_ms": pa.array(latency + 1.0),
        "error_kind": pa.array(kind, pa.string()),
        "bytes": pa.array(rng.integers(100, 5000, rps), pa.int64()),
        "worker": pa.array(np.zeros(rps, dtype=np.int32)),
    }
    return pa.Table.from_pydict(columns, schema=REQUEST_SCHEMA)


def users_row(second: int, requests: int) -> tuple:
    return (1_780_000_000_000_000_000 + second * 1_000_000_000, 0, 100, second, 0, 0, requests, 0)


def users_table(rows: list[tuple]) -> pa.Table:
    columns = list(zip(*rows, strict=True))
    arrays = [pa.array(c, type=f.type) for c, f in zip(columns, USERS_SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=USERS_SCHEMA)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class OldScheme:
    """The recorder before the streams: a Parquet part a second, users rewritten, merged at the end."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.parts: list[Path] = []
        self.users_rows: list[tuple] = []

    def second(self, table: pa.Table, row: tuple) -> None:
        part = self.run_dir / f"requests-0.part{len(self.parts):06d}.parquet"
        with atomic_path(part) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        self.parts.append(part)
        self.users_rows.append(row)
        with atomic_path(self.run_dir / "users-0.parquet") as tmp:
            pq.write_table(users_table(self.users_rows), tmp)

    def finish(self) -> Path:
        target = self.run_dir / "requests-0.parquet"
        with atomic_path(target) as tmp, pq.ParquetWriter(tmp, REQUEST_SCHEMA, compression="zstd") as writer:
            for part in self.parts:
                writer.write_table(pq.read_table(part, schema=REQUEST_SCHEMA))
        for part in self.parts:
            part.unlink(missing_ok=True)
        return target


class NewScheme:
    """What the recorder does now: one Arrow stream for requests, one for users, Parquet at the end."""

    def __init__(self, run_dir: Path) -> None:
        self.requests = StreamWriter(run_dir, REQUESTS, 0, REQUEST_SCHEMA)
        self.users = StreamWriter(run_dir, USERS, 0, USERS_SCHEMA)

    def second(self, table: pa.Table, row: tuple) -> None:
        self.requests.write(table)
        self.users.write(users_table([row]))

    def finish(self) -> Path:
        self.users.finish()
        return self.requests.finish()


def child(scheme: str, seconds: int, rps: int, real_time: bool) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix=f"soak-{scheme}-", dir=os.environ.get("SOAK_DIR")))
    try:
        writer = OldScheme(run_dir) if scheme == "old" else NewScheme(run_dir)
        samples = [round(rss_mb(), 1)]
        began = time.perf_counter()
        write_s = write_cpu = 0.0
        for s in range(seconds):
            if real_time:
                time.sleep(max(0.0, began + s - time.perf_counter()))
            table = one_second(rps, s)  # made fresh each second (not timed), so compression sees real data
            wall, cpu = time.perf_counter(), time.process_time()
            writer.second(table, users_row(s, rps * (s + 1)))
            write_s += time.perf_counter() - wall
            write_cpu += time.process_time() - cpu
            if (s + 1) % max(1, seconds // 10) == 0:
                samples.append(round(rss_mb(), 1))
        files = list(run_dir.iterdir())
        disk_mb = sum(f.stat().st_size for f in files) / 2**20
        began, cpu = time.perf_counter(), time.process_time()
        target = writer.finish()
        finish_s, finish_cpu = time.perf_counter() - began, time.process_time() - cpu
        rows = pq.ParquetFile(target).metadata.num_rows
        assert rows == seconds * rps, (rows, seconds * rps)
        return {
            "scheme": scheme,
            "write_s": round(write_s, 2),
            "write_cpu_s": round(write_cpu, 2),
            "rss_mb": samples,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "files_before_end": len(files),
            "disk_before_end_mb": round(disk_mb, 1),
            "finish_s": round(finish_s, 2),
            "finish_cpu_s": round(finish_cpu, 2),
            "final_mb": round(target.stat().st_size / 2**20, 1),
            "rows": rows,
        }
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=3600, help="seconds of a worker's output (3600: 1 h)")
    parser.add_argument("--rps", type=int, default=2000, help="requests a second of the worker")
    parser.add_argument("--real-time", action="store_true", help="wait for each wall-clock second")
    parser.add_argument("--child", choices=["old", "new"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.seconds, args.rps, args.real_time)))
        return
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    print(f"load average {os.getloadavg()[0]:.1f}; {args.seconds} s × {args.rps} req/s; pinned: {bool(pin)}")
    results = []
    for scheme in ("old", "new"):
        command = [*pin, sys.executable, __file__, "--child", scheme, "--seconds", str(args.seconds)]
        command += ["--rps", str(args.rps), *(["--real-time"] if args.real_time else [])]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout))
        print(json.dumps(results[-1]))
    old, new = results
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'':24}{'old (part/s)':>16}{'new (stream)':>16}")
    for key, label in (
        ("write_s", "soak write time s"),
        ("write_cpu_s", "soak write CPU s"),
        ("peak_rss_mb", "peak RSS MB"),
        ("files_before_end", "files before the end"),
        ("disk_before_end_mb", "MB on disk before end"),
        ("finish_s", "end-of-run merge s"),
        ("finish_cpu_s", "end-of-run merge CPU s"),
        ("final_mb", "final file MB"),
    ):
        print(f"{label:24}{old[key]:>16}{new[key]:>16}")
    print(f"{'RSS over the soak MB':24}  old {old['rss_mb']}\n{'':24}  new {new['rss_mb']}")


if __name__ == "__main__":
    main()
