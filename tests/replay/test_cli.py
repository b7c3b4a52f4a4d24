"""``tracereplay run`` and ``tracereplay replay`` as real processes against a real demo target process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from tracereplay.errors import InputError
from tracereplay.report import load_run
from tracereplay.rundir import stream_batches

PACK = "tracereplay.demo.actions"


def tracereplay(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tracereplay", *args], capture_output=True, text=True, timeout=timeout
    )


def requests_of(run_dir: Path) -> pd.DataFrame:
    return pd.concat(
        [pd.read_parquet(f) for f in sorted(run_dir.glob("requests*.parquet"))], ignore_index=True
    )


def test_run_closed_workload_with_a_fitted_model(demo_process, demo_model, tmp_path):
    out = tmp_path / "run"
    done = tracereplay(
        "run",
        demo_model,
        "--target",
        demo_process,
        "--users",
        "4",
        "--duration",
        "2s",
        "--actions",
        PACK,
        "--workers",
        "1",
        "--seed",
        "5",
        "--think-scale",
        "0.05",
        "-o",
        str(out),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    frame = requests_of(out)
    assert result["requests"] == len(frame) > 10
    assert result["exit_reason"] == "duration" and result["workers"] == 1
    meta = json.loads((out / "run.json").read_text())
    assert meta["model"] == demo_model and len(meta["model_sha256"]) == 64
    assert meta["workload"] == "closed" and meta["requests"] == len(frame)
    # the model's actions, performed by the demo pack against the real service
    assert frame["action"].isin(json.loads(Path(demo_model).read_text())["actions"]).all()
    assert (frame["status"] < 400).mean() > 0.95


def test_two_workers_merge_into_one_run_directory(demo_process, demo_model, tmp_path):
    out = tmp_path / "run"
    done = tracereplay(
        "run",
        demo_model,
        "--target",
        demo_process,
        "--users",
        "6",
        "--duration",
        "2s",
        "--actions",
        PACK,
        "--workers",
        "2",
        "--think-scale",
        "0.05",
        "-o",
        str(out),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.glob("requests*.parquet")) == [
        "requests-0.parquet",
        "requests-1.parquet",
    ]
    frame = requests_of(out)
    assert set(frame["worker"]) == {0, 1}
    # users are sharded: no user in both workers
    assert frame.groupby("user")["worker"].nunique().max() == 1
    meta = json.loads((out / "run.json").read_text())
    assert meta["workers"] == 2 and meta["requests"] == len(frame) == json.loads(done.stdout)["requests"]
    users = pd.concat([pd.read_parquet(out / f"users-{w}.parquet") for w in (0, 1)])
    assert users.groupby("worker")["active_users"].max().to_dict() == {0: 3, 1: 3}


def _wait_for(path_glob: Path, pattern: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not list(path_glob.glob(pattern)):
        assert time.monotonic() < deadline, f"nothing like {pattern} in {path_glob}"
        time.sleep(0.1)


def _wait_for_seconds(stream: Path, seconds: int, timeout: float = 30) -> None:
    """Until ``stream`` (a worker's requests stream) holds ``seconds`` flushed batches with rows."""
    deadline = time.monotonic() + timeout
    while _flushed_seconds(stream) < seconds:
        assert time.monotonic() < deadline, f"fewer than {seconds} flushed seconds in {stream}"
        time.sleep(0.1)


def _flushed_seconds(stream: Path) -> int:
    try:
        return sum(b.num_rows > 0 for b in stream_batches(stream))
    except InputError:  # not there yet, or its first bytes are being written
        return 0


def _start_run(demo_model: str, demo_process: str, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tracereplay",
            "run",
            demo_model,
            "--target",
            demo_process,
            "--users",
            "5",
            "--duration",
            "1m",
            "--actions",
            PACK,
            "--workers",
            "1",
            "--think-scale",
            "0.05",
            "-o",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ctrl_c_mid_run_leaves_a_readable_run_directory(demo_process, demo_model, tmp_path):
    out = tmp_path / "run"
    process = _start_run(demo_model, demo_process, out)
    _wait_for_seconds(out / "requests-0.arrows", 1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    meta = json.loads((out / "run.json").read_text())
    assert meta["exit_reason"] == "interrupted"
    frame = requests_of(out)
    assert len(frame) == meta["requests"] > 0
    assert not list(out.glob("*.arrows")), "streams converted to Parquet"
    assert "interrupted" in stdout


def test_a_killed_run_is_readable_and_lost_at_most_its_last_second(demo_process, demo_model, tmp_path):
    """SIGKILL: no handler runs, nothing is converted; the streams hold every flushed second."""
    out = tmp_path / "run"
    process = _start_run(demo_model, demo_process, out)
    _wait_for_seconds(out / "requests-0.arrows", 2)
    process.kill()
    killed_at = pd.Timestamp.now(tz="UTC")
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert not list(out.glob("requests-*.parquet")) and (out / "requests-0.arrows").exists()

    run = load_run(out)  # the stream, read up to its last complete batch
    assert run.meta["exit_reason"] == "running"  # it never got to say otherwise
    requests, users = run.requests, run.users
    assert len(requests) >= users["requests"].iloc[-1] > 0  # every second the counters saw is there
    # flushed once a second: what is lost is what was sent after the last flush
    assert (killed_at - requests["ts"].max()).total_seconds() < 2.5
    summary = run.summary
    assert summary.total["count"] == len(requests)
    done = tracereplay("report", str(out))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr


def _controlled_run(model: str, target: str, out) -> list[str]:
    """A 4 s, one-worker run of 2 users that runtime control (signals, keys) changes in steps of 3."""
    return [
        sys.executable, "-m", "tracereplay", "run", model, "--target", target, "--users", "2", "--step", "3",
        "--duration", "4s", "--actions", PACK, "--workers", "1", "-o", str(out),
    ]


def test_sigusr1_adds_users_and_sigusr2_removes_them(demo_process, demo_model, tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(
        _controlled_run(demo_model, demo_process, out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_seconds(out / "requests-0.arrows", 1)
    os.kill(process.pid, signal.SIGUSR1)
    time.sleep(1.3)
    os.kill(process.pid, signal.SIGUSR2)
    os.kill(process.pid, signal.SIGUSR2)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    active = pd.read_parquet(out / "users-0.parquet")["active_users"].tolist()
    assert max(active) == 5 and active[-1] == 0 and min(active[:-1]) <= 2, active


def _fast_replay(events: str, target: str, out, *, workers: int) -> list[str]:
    """`replay` arguments for a fifth of the recorded users at 50 000× speed, gaps capped at 20 ms."""
    return [
        "replay", events, "--target", target, "--speed", "50000", "--max-gap", "20ms", "--sample", "20%",
        "--actions", PACK, "--workers", str(workers), "-o", str(out),
    ]


def test_replay_a_recorded_trace(demo_process, demo_events, tmp_path):
    out = tmp_path / "replay"
    done = tracereplay(
        *_fast_replay(demo_events, demo_process, out, workers=1),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["exit_reason"] == "completed"
    source = pd.read_parquet(demo_events)
    frame = requests_of(out)
    kept = set(frame["user"])
    assert 0.05 < len(kept) / source["user"].nunique() < 0.4
    assert kept <= set(source["user"])
    # whole users: every recorded action of a kept user was replayed (the pack may add helper requests)
    recorded = source[source["user"].isin(kept)].groupby("user").size()
    replayed = frame.groupby("user").size()
    assert (replayed.reindex(recorded.index) >= recorded).all()


def test_bad_input_is_one_line_and_exit_1(demo_process, tmp_path):
    missing = tracereplay(
        "run",
        str(tmp_path / "nope.json"),
        "--target",
        demo_process,
        "--users",
        "1",
        "-o",
        str(tmp_path / "r"),
        "--workers",
        "1",
    )
    assert missing.returncode == 1
    assert missing.stderr.startswith("tracereplay: error:") and "nope.json" in missing.stderr
    assert "Traceback" not in missing.stderr
    both = tracereplay(
        "run",
        str(tmp_path / "nope.json"),
        "--target",
        "ftp://x",
        "--users",
        "1",
        "--arrival-rate",
        "3",
        "-o",
        str(tmp_path / "r"),
    )
    assert both.returncode == 1 and "exactly one" in both.stderr and "not an http" in both.stderr
    assert len(both.stderr.strip().splitlines()) == 1


def test_help_has_examples():
    for verb in ("run", "replay"):
        done = tracereplay(verb, "--help")
        assert done.returncode == 0 and "Examples:" in done.stdout and "--target" in done.stdout


def test_keyboard_plus_adds_users(demo_process, demo_model, tmp_path):
    import pty

    out = tmp_path / "run"
    master, slave = pty.openpty()
    process = subprocess.Popen(
        _controlled_run(demo_model, demo_process, out),
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(slave)
    try:
        _wait_for_seconds(out / "requests-0.arrows", 1)
        os.write(master, b"+")
        _, stderr = process.communicate(timeout=30)
    finally:
        os.close(master)
    assert process.returncode == 0, stderr
    assert max(pd.read_parquet(out / "users-0.parquet")["active_users"]) == 5


def test_run_open_workload_with_a_fitted_model(demo_process, demo_model, tmp_path):
    out = tmp_path / "open"
    done = tracereplay(
        "run",
        demo_model,
        "--target",
        demo_process,
        "--arrival-rate",
        "20",
        "--max-users",
        "500",
        "--duration",
        "2s",
        "--think-scale",
        "0.01",
        "--actions",
        PACK,
        "--workers",
        "1",
        "-o",
        str(out),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert 36 <= result["sessions_started"] <= 41 and result["sessions_dropped"] == 0
    frame = requests_of(out)
    assert frame.groupby("user")["session"].nunique().max() == 1  # an arrival is one session of a new user
    assert json.loads((out / "run.json").read_text())["workload"] == "open"


def test_replay_shards_whole_users_across_workers(demo_process, demo_events, tmp_path):
    out = tmp_path / "replay2"
    done = tracereplay(
        *_fast_replay(demo_events, demo_process, out, workers=2),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    frame = requests_of(out)
    assert set(frame["worker"]) == {0, 1}
    assert frame.groupby("user")["worker"].nunique().max() == 1
    single = tracereplay(
        "replay",
        demo_events,
        "--target",
        demo_process,
        "--speed",
        "50000",
        "--max-gap",
        "20ms",
        "--sample",
        "20%",
        "--actions",
        PACK,
        "--workers",
        "1",
        "-o",
        str(tmp_path / "one"),
        "--json",
    )
    assert single.returncode == 0, single.stderr
    assert set(requests_of(tmp_path / "one")["user"]) == set(frame["user"])  # the same users either way
    assert json.loads(done.stdout)["exit_reason"] == "completed"


def test_replay_loops_the_trace_until_its_duration(demo_process, demo_events, tmp_path):
    # `replay --loop` needs --duration: the option was missing from the verb (generated for `run` only)
    out = tmp_path / "looped"
    args = [*_fast_replay(demo_events, demo_process, out, workers=1), "--loop", "--duration", "6s", "--json"]
    done = tracereplay(*args)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["exit_reason"] == "duration" and 5.5 <= result["duration_s"] <= 9
    source = pd.read_parquet(demo_events)
    frame = requests_of(out)
    recorded = source[source["user"].isin(set(frame["user"]))]
    assert len(frame) > 1.5 * len(recorded)  # one pass takes about 3 s: the trace started over
    no_duration = tracereplay(*_fast_replay(demo_events, demo_process, tmp_path / "x", workers=1), "--loop")
    assert no_duration.returncode == 1 and "loop needs a duration" in no_duration.stderr


def test_end_of_run_figures_equal_the_reports(demo_process, demo_model, tmp_path):
    """One percentile rule: the end-of-run line, ``--json`` and run.json give ``report``'s p50/p90/p99.

    Two worker processes, so the figures are merged from per-second, per-worker histograms on one side and
    computed from the requests files on the other."""
    out = tmp_path / "run"
    done = tracereplay(
        "run", demo_model, "--target", demo_process, "--users", "6", "--duration", "3s", "--actions", PACK,
        "--workers", "2", "--think-scale", "0.02", "--json", "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    totals = json.loads((out / "run.json").read_text())["totals"]
    shown = tracereplay(
        "run", demo_model, "--target", demo_process, "--users", "2", "--duration", "1s", "--actions", PACK,
        "--workers", "1", "-q", "-o", str(tmp_path / "shown"),
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    report = json.loads(tracereplay("report", str(out), "--json").stdout)["total"]
    assert result["requests"] == report["count"] > 50
    for kind, ours in (("measured", "latency_ms"), ("corrected", "latency_corrected_ms")):
        for p in ("p50", "p90", "p99"):
            assert result[ours][p] == totals[ours][p] == report[kind][f"{p}_ms"], (kind, p)
        assert result[ours]["max"] == report[kind]["max_ms"]
    # the human end-of-run table prints those same numbers
    shown_report = json.loads(tracereplay("report", str(tmp_path / "shown"), "--json").stdout)["total"]
    line = next(ln for ln in shown.stdout.splitlines() if ln.lstrip().startswith("corrected"))
    assert line.split()[1:4] == [f"{shown_report['corrected'][f'{p}_ms']:.1f}" for p in ("p50", "p90", "p99")]
