"""``tracereplay report`` as a real process: outputs, formats and exit statuses."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from .conftest import random_workers


def tracereplay(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracereplay", "report", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_table_json_csv_markdown_and_output_file(make_run, tmp_path: Path) -> None:
    run_dir = make_run(random_workers(np.random.default_rng(1), n=500))
    table = tracereplay(run_dir)
    assert table.returncode == 0, table.stderr
    assert "GET /api/a" in table.stdout and "TOTAL" in table.stdout and "p99.9 ms" in table.stdout

    as_json = tracereplay(run_dir, "--json")
    document = json.loads(as_json.stdout)
    assert document["total"]["count"] == 1000
    assert sum(a["count"] for a in document["actions"]) == 1000

    rows = list(csv.DictReader(io.StringIO(tracereplay(run_dir, "--csv").stdout)))
    assert [r["action"] for r in rows][-1] == "TOTAL" and int(rows[-1]["count"]) == 1000
    by_action = {a["action"]: a for a in document["actions"]}
    assert float(rows[0]["p99_ms"]) == by_action[rows[0]["action"]]["p99_ms"]

    over_time = list(csv.DictReader(io.StringIO(tracereplay(run_dir, "--csv", "--bucket", "2s").stdout)))
    assert [row["t_s"] for row in over_time] == ["0.0", "2.0", "4.0", "6.0", "8.0"]
    assert sum(int(row["requests"]) for row in over_time) == 1000

    markdown = tracereplay(run_dir, "--markdown", "--bucket", "2s").stdout
    assert "| action |" in markdown and "### Over time" in markdown

    out = tmp_path / "summary.anything"
    written = tracereplay(run_dir, "--json", "-o", out)
    assert written.returncode == 0 and written.stdout == ""
    assert json.loads(out.read_text())["total"]["count"] == 1000


def test_bad_inputs_are_one_line_and_exit_1(tmp_path: Path, make_run) -> None:
    missing = tracereplay(tmp_path / "nope")
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and "no such run directory" in missing.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no requests-*.parquet" in tracereplay(empty).stderr

    run_dir = make_run(random_workers(np.random.default_rng(1), n=50))
    (run_dir / "requests-0.parquet").write_bytes(b"PAR1 truncated")
    corrupt = tracereplay(run_dir)
    assert corrupt.returncode == 1 and "requests-0.parquet" in corrupt.stderr
    assert "Traceback" not in corrupt.stderr

    (run_dir / "run.json").write_text('{"format": "tracereplay-run",')
    bad_meta = tracereplay(run_dir)
    assert bad_meta.returncode == 1 and "run.json" in bad_meta.stderr and "line 1" in bad_meta.stderr


def test_usage_errors_exit_2(make_run) -> None:
    run_dir = make_run(random_workers(np.random.default_rng(1), n=20))
    assert tracereplay(run_dir, "--bucket", "soon").returncode == 2
    assert tracereplay(run_dir, "--json", "--csv").returncode == 2
