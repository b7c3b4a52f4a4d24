"""Closed runs on a model through the real CLI: sessions counted one way everywhere, gaps between a
user's sessions capped (``--max-gap``), and output that does not wrap when it goes to a pipe."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

PACK = "tracereplay.demo.actions"


def tracereplay(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tracereplay", *args], capture_output=True, text=True, timeout=timeout
    )


def closed_run(model: str, target: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return tracereplay(
        "run", model, "--target", target, "--users", "3", "--duration", "4s", "--actions", PACK,
        "--workers", "1", "--seed", "3", "--think-scale", "0.02", "-o", str(out), *extra,
    )  # fmt: skip


def test_closed_model_run_keeps_users_busy_and_counts_sessions_once(demo_process, demo_model, tmp_path):
    # the demo model's fitted gaps between sessions are hours (× 0.02 still minutes); its sessions ~1 s
    with ThreadPoolExecutor(2) as pool:
        capped = pool.submit(closed_run, demo_model, demo_process, tmp_path / "capped", "--json")
        fitted = pool.submit(
            closed_run, demo_model, demo_process, tmp_path / "fitted", "--json", "--max-gap", "24h"
        )
        capped_done, fitted_done = capped.result(), fitted.result()
    assert capped_done.returncode == 0, capped_done.stderr
    assert fitted_done.returncode == 0, fitted_done.stderr
    capped_result, fitted_result = json.loads(capped_done.stdout), json.loads(fitted_done.stdout)
    # default cap 30 s × think-scale 0.02 = 0.6 s between sessions: users go on with their next session
    assert capped_result["sessions_started"] >= 1.5 * fitted_result["sessions_started"]
    assert capped_result["requests"] >= 1.5 * fitted_result["requests"]

    for name, result in (("capped", capped_result), ("fitted", fitted_result)):
        run_dir = tmp_path / name
        frame = pd.concat([pd.read_parquet(f) for f in run_dir.glob("requests*.parquet")])
        # "sessions started" is sessions begun, not users: the same figure the requests show …
        assert result["sessions_started"] == frame["session"].nunique() >= 3
        report = tracereplay("report", str(run_dir), "--json")
        assert report.returncode == 0, report.stderr
        sessions = json.loads(report.stdout)["sessions"]
        # … and the report's two counts agree
        assert sessions["sessions"] == sessions["sessions_started"] == result["sessions_started"]


def test_piped_output_does_not_wrap(demo_process, demo_model, tmp_path):
    out = tmp_path / "run"
    done = closed_run(demo_model, demo_process, out)  # stdout is a pipe: no terminal
    assert done.returncode == 0, done.stderr
    headline = [line for line in done.stdout.splitlines() if line.startswith("run ")]
    assert len(headline) == 1 and "sessions started" in headline[0] and "worker" in headline[0]
    report = tracereplay("report", str(out))
    assert report.returncode == 0, report.stderr
    frame = pd.read_parquet(next(out.glob("requests*.parquet")))
    lines = report.stdout.splitlines()
    table = ([cell.strip() for cell in line.split("│")][1:-1] for line in lines)
    rows: dict[str, list[str]] = {}
    for cells in table:
        if cells:
            rows.setdefault(cells[0], cells)  # the per-action table comes first (then errors by kind)
    for action, count in frame["action"].value_counts().items():
        # each action's row is one line: its full name and its count side by side
        assert rows[action][1] == f"{count:,}", (action, lines)
    assert max(len(line) for line in lines) > 80  # a wide table, kept on one line per row
    sessions = [line for line in lines if line.startswith("sessions ")]
    assert len(sessions) == 1 and "sessions started" in sessions[0]
