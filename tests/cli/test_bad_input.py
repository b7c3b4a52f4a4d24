"""Every verb given a missing, empty or corrupt input: one line on stderr, exit status 1, nothing lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

GARBAGE = b"\x00\x01this is not what you think it is\xff\xfe" * 40


def make_inputs(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "empty.bin").write_bytes(b"")
    (root / "garbage.bin").write_bytes(GARBAGE)
    (root / "garbage.parquet").write_bytes(GARBAGE)
    (root / "garbage.json").write_text('{"format": "tracereplay-model", "version": ')  # truncated JSON
    (root / "wrong.json").write_text('{"hello": "world"}')
    run_dir = root / "bad-run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text("{ not json")
    (root / "empty-run").mkdir()
    return {
        "missing": root / "missing.file", "empty": root / "empty.bin", "garbage": root / "garbage.bin",
        "garbage_parquet": root / "garbage.parquet", "garbage_json": root / "garbage.json",
        "wrong_json": root / "wrong.json", "bad_run": run_dir, "empty_run": root / "empty-run",
        "missing_dir": root / "no-such-run",
    }


# verb arguments, with {name} filled from make_inputs() and {out} a fresh output path

CASES: list[tuple[str, list[str]]] = [
    ("ingest missing", ["ingest", "{missing}", "-o", "{out}"]),
    ("ingest empty", ["ingest", "{empty}", "-o", "{out}"]),
    ("ingest garbage", ["ingest", "{garbage}", "-o", "{out}"]),
    ("fit missing", ["fit", "{missing}", "-o", "{out}"]),
    ("fit garbage", ["fit", "{garbage_parquet}", "-o", "{out}"]),
    ("model show missing", ["model", "show", "{missing}"]),
    ("model show garbage", ["model", "show", "{garbage_json}"]),
    ("model show wrong json", ["model", "show", "{wrong_json}"]),
    ("model edit missing", ["model", "edit", "{missing}", "--scale-arrivals", "2", "-o", "{out}"]),
    ("simulate missing", ["simulate", "{missing}", "-o", "{out}"]),
    ("simulate garbage", ["simulate", "{garbage_json}", "-o", "{out}"]),
    ("compare missing", ["compare", "{missing}", "{missing}"]),
    ("compare garbage", ["compare", "{garbage_parquet}", "{garbage_parquet}"]),
    ("run missing model", ["run", "{missing}", "--target", "http://127.0.0.1:9", "--users", "1",
                           "--duration", "1s", "-o", "{out}"]),
    ("run garbage model", ["run", "{garbage_json}", "--target", "http://127.0.0.1:9", "--users", "1",
                           "--duration", "1s", "-o", "{out}"]),
    ("replay missing", ["replay", "{missing}", "--target", "http://127.0.0.1:9", "-o", "{out}"]),
    ("replay garbage", ["replay", "{garbage_parquet}", "--target", "http://127.0.0.1:9", "-o", "{out}"]),
    ("report missing", ["report", "{missing_dir}"]),
    ("report bad run.json", ["report", "{bad_run}"]),
    ("report empty dir", ["report", "{empty_run}"]),
    ("demo zero duration", ["demo", "--duration", "0s", "--out", "{out}"]),
]


# One child process runs every case through the real entry point, ``tracereplay.cli.main(argv)``, one after
# the other, and reports each case's exit status and stderr: the imports are paid once instead of twenty
# times (two shared cores), and the cases still run outside pytest's process.
DRIVER = """
import contextlib, io, json, sys
from tracereplay.cli import main
results = {}
for name, argv in json.loads(sys.argv[1]):
    err, out = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # an escaped exception is exactly what these tests look for
            import traceback
            err.write(traceback.format_exc())
            code = -1
    results[name] = {"code": code, "stderr": err.getvalue()}
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    import json

    root = tmp_path_factory.mktemp("bad-input")
    inputs = make_inputs(root / "in")
    cases = []
    for i, (name, template) in enumerate(CASES):
        out = root / f"out-{i}"
        cases.append((name, [a.format(out=out, **inputs) for a in template], out))
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps([(n, a) for n, a, _ in cases])],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        name: (subprocess.CompletedProcess(argv, results[name]["code"], "", results[name]["stderr"]), out)
        for name, argv, out in cases
    }


@pytest.mark.parametrize("name", [name for name, _ in CASES])
def test_bad_input_is_one_line_and_exit_1(outcomes, name):
    done, out = outcomes[name]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, f"exit {done.returncode}; stderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr
    assert len(lines) == 1, f"expected one line on stderr, got:\n{done.stderr}"
    assert lines[0].startswith("tracereplay: error: "), lines[0]
    assert not out.exists() or out.is_dir(), "a failed command left an output file behind"


def test_a_failed_ingest_keeps_the_previous_output(tmp_path):
    inputs = make_inputs(tmp_path / "in")
    previous = tmp_path / "events.parquet"
    previous.write_bytes(b"previous result")
    done = subprocess.run([sys.executable, "-m", "tracereplay", "ingest", str(inputs["garbage"]), "-o",
                           str(previous)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert previous.read_bytes() == b"previous result"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_an_unreachable_target_is_recorded_and_the_run_ends_cleanly(tmp_path):
    """A closed port is a result (connection errors in the run), not a crash."""
    import socket

    import pandas as pd

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends
    from tracereplay.demo import sample_dump_path
    from tracereplay.ingest import read_dumps
    from tracereplay.model import fit

    model = tmp_path / "model.json"
    fit(read_dumps([sample_dump_path()])).save(model)
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "tracereplay", "run", str(model), "--target", f"http://127.0.0.1:{port}",
         "--users", "3", "--duration", "2s", "--workers", "1", "--actions", "tracereplay.demo.actions",
         "-o", str(run_dir)],
        capture_output=True, text=True, timeout=120,
    )
    assert "Traceback" not in done.stderr
    assert done.returncode in (0, 1), done.stderr
    parts = sorted(run_dir.glob("requests*.parquet"))
    requests = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    assert len(requests) >= 3
    assert (requests["error_kind"] == "connect").all()
