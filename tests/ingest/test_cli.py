"""The ``tracereplay ingest`` verb, run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from population import make_population, write_otlp

from tracereplay.cli import main
from tracereplay.ingest.events import read_events


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracereplay", "ingest", *args],
                          capture_output=True, text=True, timeout=120)


def test_ingest_prints_a_summary_and_json(tmp_path):
    population = make_population()
    dump = write_otlp(tmp_path / "t.pb", population)
    out = tmp_path / "out" / "events.data"  # -o writes exactly this path, whatever the extension
    result = _run(str(dump), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "spans read" in result.stdout and "dropped: span kind" in result.stdout
    assert len(read_events(out)) == len(population)
    result = _run(str(dump), "-o", str(out), "--json", "--session-gap", "10h", "--keep-user-ids")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["spans_read"] == 2 * len(population)
    assert summary["spans_kept"] == len(population)
    assert summary["dropped"] == {"span kind": len(population)}
    assert summary["users"] == 6 and summary["sessions"] == 18 and summary["actions"] == 4
    assert summary["first"].startswith("2026-01-01T00:") and not summary["pseudonymised"]


def test_bad_input_is_one_line_and_leaves_no_output(tmp_path):
    good = write_otlp(tmp_path / "t.pb", make_population())
    bad = tmp_path / "bad.pb"
    bad.write_bytes(good.read_bytes()[:-7])
    out = tmp_path / "events.parquet"
    result = _run(str(good), str(bad), "-o", str(out))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"tracereplay: error: {bad}: byte ")
    assert not out.exists() and not list(tmp_path.glob(".events.parquet*"))
    assert not (tmp_path / "events.parquet.salt").exists()


def test_help_has_an_example():
    result = _run("--help")
    assert result.returncode == 0 and "tracereplay ingest traces.pb -o events.parquet" in result.stdout


BAD_INPUTS = {
    "empty": (b"", "empty file"),
    "blank": (b"  \n\n", "empty file"),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "no known dump format"),
    "text": (b"hello world\n", "neither JSON, CSV nor Snowplow TSV"),
    "unknown-json": (b'{"foo": 1}\n', "JSON of no known dump format"),
    "mixed": (b'{"type":"track","event":"x","userId":"u","timestamp":"2026-01-01T00:00:00Z"}\n'
              b'{"event":"y","properties":{"time":1,"distinct_id":"d"}}\n', "line 2: not a Segment event"),
    "bad-json-line": (b'{"type":"track","event":"x","userId":"u","timestamp":"2026-01-01T00:00:00Z"}\n'
                      b'{"type": tr\n', "line 2: invalid JSON"),
    "csv-no-columns": (b"a,b\n1,2\n", "no ts column"),
    "nothing-matches": (b'{"type":"identify","userId":"u","timestamp":"2026-01-01T00:00:00Z"}\n',
                        "no span matched: 1 read, dropped: 1 not an action (identify)"),
    "snowplow-short": (b"\t".join([b"x"] * 130) + b"\n", "line 1: not a Snowplow enriched event"),
}


def test_bad_inputs_are_one_line_and_keep_the_previous_output(tmp_path, capsys):
    """In-process through the CLI's entry point (the process boundary is tested above)."""
    out = tmp_path / "events.parquet"
    good = write_otlp(tmp_path / "t.pb", make_population())
    main(["ingest", str(good), "-o", str(out), "--json"])
    before = out.read_bytes()
    capsys.readouterr()
    for name, (data, message) in BAD_INPUTS.items():
        bad = tmp_path / f"{name}.dump"
        bad.write_bytes(data)
        with pytest.raises(SystemExit) as exit_info:
            main(["ingest", str(bad), "-o", str(out)])
        stderr = capsys.readouterr().err
        assert exit_info.value.code == 1, name
        assert stderr.startswith(f"tracereplay: error: {bad}"), (name, stderr)
        assert message in stderr, (name, stderr)
        assert stderr.count("\n") == 1 and "Traceback" not in stderr, name
        assert out.read_bytes() == before, name
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
