"""Where the time of ``tracereplay demo`` goes, stage by stage (the issue's budget: < 1 minute end to end).

    .venv/bin/python benchmarks/demo.py                 # 3 runs of `tracereplay demo --duration 5s`
    .venv/bin/python benchmarks/demo.py --runs 5 --duration 20s

Each run is a fresh process (`python -m tracereplay demo --json`), as a newcomer runs it, so imports count;
the stage times come from the pipeline's own notifications. Prints medians over the runs, next to the peer
start-up cost that matters for the comparison: `locust --version` (the lightest thing Locust's CLI does) and a
bare `python -c "import aiohttp"`, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGE_CODE = """
import json, sys, time
t0 = time.monotonic()
from pathlib import Path
from tracereplay.demo.pipeline import DemoSettings, run_demo
marks = {"imports": time.monotonic() - t0}
def note(stage, facts):
    marks[stage] = time.monotonic() - t0
result = run_demo(DemoSettings(out=Path(sys.argv[1]), duration=float(sys.argv[2])), notify=note)
marks["total"] = time.monotonic() - t0
marks["requests"] = int(result.summary.to_dict()["total"]["count"])
print(json.dumps(marks))
"""
STAGES = ("imports", "ingest", "fit", "target", "run", "report", "total")


def one_demo(duration_s: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", STAGE_CODE, tmp, str(duration_s)],
                              capture_output=True, text=True, timeout=300)
        wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"demo failed: {done.stderr.strip().splitlines()[-1:]}")
    marks = json.loads(done.stdout.strip().splitlines()[-1])
    marks["process wall"] = wall
    return marks


def wall_of(argv: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(argv, capture_output=True, timeout=120, check=True)
    return time.monotonic() - started


def main() -> int:
    from tracereplay.durations import parse_duration

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", default="5s")
    args = parser.parse_args()
    duration_s = parse_duration(args.duration)

    runs = [one_demo(duration_s) for _ in range(args.runs)]
    print(f"tracereplay demo --duration {args.duration}: median of {args.runs} fresh processes "
          "(s since the process started)")
    for stage in (*STAGES, "process wall"):
        values = [r[stage] for r in runs]
        low, high = min(values), max(values)
        print(f"  {stage:<13} {statistics.median(values):7.2f}   (min {low:.2f}, max {high:.2f})")
    print(f"  requests      {statistics.median(r['requests'] for r in runs):7.0f}")
    overhead = statistics.median(r["process wall"] - duration_s for r in runs)
    print(f"  overhead beyond the load itself: {overhead:.2f} s")

    print("peers, same run (median of 3 process walls, s):")
    python_import = statistics.median(wall_of([sys.executable, "-c", "import aiohttp"]) for _ in range(3))
    print(f"  python -c 'import aiohttp'     {python_import:7.2f}")
    locust = shutil.which("locust") or str(Path(sys.executable).with_name("locust"))
    if Path(locust).exists():
        locust_s = statistics.median(wall_of([locust, "--version"]) for _ in range(3))
        print(f"  locust --version               {locust_s:7.2f}")
    else:
        print("  locust: not installed (make bench installs it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
