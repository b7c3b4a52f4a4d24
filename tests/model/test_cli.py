"""The model verbs as a user runs them: real processes, real files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tracereplay.ingest.events import read_events, write_events


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracereplay", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def events_file(tmp_path_factory, two_classes):
    # 800 of the 2000 users: enough for two classes, and the fits in subprocesses stay quick.
    events = two_classes[0]
    events = events[events["user"].isin(events["user"].unique()[:800])]
    return write_events(events, tmp_path_factory.mktemp("cli") / "events.parquet")


def test_fit_show_simulate_compare(tmp_path, events_file):
    model = tmp_path / "out" / "model.bin"            # -o writes exactly this path, whatever its extension
    fitted = run("fit", str(events_file), "-o", str(model), "--json")
    assert fitted.returncode == 0, fitted.stderr
    assert model.exists()
    assert [c["name"] for c in json.loads(fitted.stdout)["classes"]] == ["class-1", "class-2"]

    shown = run("model", "show", str(model), "--json")
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert sum(c["share"] for c in summary["classes"]) == pytest.approx(1.0)
    assert len(summary["arrivals"]["sessions_per_s"]) == 24
    assert summary["classes"][0]["top_transitions"][0]["think_median_s"] > 0
    text = run("model", "show", str(model))
    assert text.returncode == 0 and "classes" in text.stdout and "top transitions" in text.stdout

    synthetic = tmp_path / "synthetic.parquet"
    users = str(read_events(events_file)["user"].nunique())
    simulated = run("simulate", str(model), "--users", users, "--seed", "1", "-o", str(synthetic), "--json")
    assert simulated.returncode == 0, simulated.stderr
    assert json.loads(simulated.stdout)["events"] == len(read_events(synthetic))

    compared = run("compare", str(events_file), str(synthetic), "--json")
    report = json.loads(compared.stdout)
    assert compared.returncode == (0 if report["verdict"] == "pass" else 3)
    assert {m["name"]: m["value"] for m in report["metrics"]}["action_mix_tvd"] < 0.02

    strict = run("compare", str(events_file), str(synthetic), "--threshold", "think_ks=0.0001")
    assert strict.returncode == 3
    assert "FAIL" in strict.stdout


def test_errors_are_one_line_and_exit_1(tmp_path, events_file):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "tracereplay-model", "version": 7}')
    shown = run("model", "show", str(bad))
    assert shown.returncode == 1
    assert shown.stderr.strip().count("\n") == 0 and "newer tracereplay" in shown.stderr
    assert "Traceback" not in shown.stderr

    wrong = run("compare", str(events_file), str(events_file), "--threshold", "nonsense=1")
    assert wrong.returncode == 1 and "unknown fidelity threshold" in wrong.stderr
    # compare()'s own keywords are not metrics: a threshold by their name is refused, not passed on
    for keyword in ("seed=1", "floor=1"):
        clash = run("compare", str(events_file), str(events_file), "--threshold", keyword)
        assert clash.returncode == 1 and "unknown fidelity threshold" in clash.stderr, clash.stderr
        assert "Traceback" not in clash.stderr

    missing = run("fit", str(tmp_path / "absent.parquet"), "-o", str(tmp_path / "m.json"))
    assert missing.returncode == 1 and "no such file" in missing.stderr
    assert not (tmp_path / "m.json").exists()


def test_help_has_examples():
    for verb in (["fit"], ["model", "show"], ["simulate"], ["compare"]):
        shown = run(*verb, "--help")
        assert shown.returncode == 0 and "Examples:" in shown.stdout


def test_model_show_reads_the_session_shape_and_gap_laws_from_the_file(tmp_path, events_file):
    model = tmp_path / "model.json"
    assert run("fit", str(events_file), "-o", str(model)).returncode == 0
    document = json.loads(model.read_text())
    first = document["classes"][0]
    # Hand-edited values must come back: show reads the file, it does not refit or recompute.
    first["shape"]["mean"][4] = 1.25
    first["shape"]["scores"][4] = []                  # no quantiles: the band's median score is its mean
    first["shape"]["exit_shift"] = [0.5, -0.25]
    first["session_gap_clock"] = "wall"
    model.write_text(json.dumps(document))

    shown = run("model", "show", str(model), "--json")
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)["classes"][0]
    shape = summary["shape"]
    assert shape["exit_shift"] == [0.5, -0.25]
    assert [b["lengths"] for b in shape["bands"]] == ["1", "2", "3", "4–5", "6–8", "9–15", "16–31", "32+"]
    assert shape["bands"][4]["median_score"] == 1.25 and shape["bands"][4]["score_quantiles"] == 0
    assert shape["bands"][3]["score_quantiles"] == 17
    for band in shape["bands"]:
        assert 0 <= band["tempo_share"] <= 1
    assert summary["session_gap_clock"] == "wall" and summary["session_gap_level"] == "class"
    hours = summary["session_gap_by_hour"]
    assert hours == sorted(hours, key=lambda h: h["hour"])
    assert [h["hour"] for h in hours] == sorted(int(h) for h, _ in first["session_gap_by_hour"])
    assert hours and all(h["n"] >= 30 and h["median_s"] > 0 for h in hours)

    text = run("model", "show", str(model)).stdout
    assert "class-1: exit shift by step (logit, steps 1–2): +0.50, -0.25" in text
    assert "think tempo by session length" in text and "+1.25" in text
    assert "class-1: gaps between sessions on the wall clock, class law" in text

    del first["shape"]                                  # a file before the session shape (version 2)
    document["version"] = 2
    model.write_text(json.dumps(document))
    older = run("model", "show", str(model))
    assert older.returncode == 0, older.stderr
    assert "class-1: no session shape" in older.stdout
