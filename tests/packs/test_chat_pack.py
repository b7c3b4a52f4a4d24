"""Issue 11's first-day pack, checked point by point through the CLI against a real Matrix-like server.

The server (tests/packs/chat_server.py) answers registration with 401 first, names rooms ``!…:localhost``
and aliases ``#…:localhost``, and holds a sync 1–3 s; the pack is the docs' worked example
(docs/examples/chat_pack.py). Each test names the issue's numbered point it holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

SYNC = "GET /_matrix/client/v3/sync"
SEND = "PUT /_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}"


def tracereplay(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tracereplay", *args], capture_output=True, text=True, timeout=timeout
    )


def stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_test/stats", timeout=10) as answer:
        return json.loads(answer.read())


def requests_of(run_dir: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(f) for f in run_dir.glob("requests*.parquet")], ignore_index=True)


@pytest.fixture(scope="module")
def chat_run(tmp_path_factory, start_chat, chat_script, chat_pack):
    """One closed run of the docs' script and pack against a fresh server: (run dir, server stats)."""
    url = start_chat()
    out = tmp_path_factory.mktemp("chat") / "run"
    done = tracereplay(
        "run", chat_script, "--target", url, "--users", "6", "--duration", "8s", "--actions", chat_pack,
        "--workers", "1", "--seed", "11", "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out, stats(url)


def report_json(run_dir: Path, *args: str) -> tuple[int, dict]:
    done = tracereplay("report", str(run_dir), "--json", *args)
    assert done.returncode in (0, 3), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_1_expected_statuses_are_not_errors(chat_run):
    out, server = chat_run
    frame = requests_of(out)
    status, report = report_json(out, "--threshold", "error_rate<0.01")
    assert status == 0, report["thresholds"]
    assert report["total"]["errors"] == 0 and frame["error_kind"].isna().all()
    register = next(a for a in report["actions"] if a["action"].endswith("/register"))
    # every handshake's 401 is counted as expected, in its own column
    assert register["expected"] == server["handshakes"] == int((frame["status"] == 401).sum()) > 0
    assert frame.loc[frame["expected"], "status"].isin([400, 401, 404]).all()
    # and every send the run recorded as a success was stored by the server
    sent = frame[(frame["action"] == SEND) & (frame["status"] == 200)]
    assert len(sent) == server["messages"] > 0


def test_2_auth_false_sends_no_token(chat_run):
    out, server = chat_run
    frame = requests_of(out)
    # the server refuses a token on register (400): every session signs up again while holding its
    # previous token, and every sign-up went through
    sessions = frame["session"].nunique()
    assert server["registered"] == sessions > 6
    assert not ((frame["action"].str.endswith("/register")) & (frame["status"] == 400)).any()


def test_3_ids_with_bang_and_hash_are_escaped_in_paths(chat_run):
    out, server = chat_run
    frame = requests_of(out)
    lookups = frame[frame["route"] == "/_matrix/client/v3/directory/room/{alias}"]
    assert lookups["path"].str.contains("%23").all() and (lookups["status"] == 200).any()
    sends = frame[frame["action"] == SEND]
    assert sends["path"].str.contains("/rooms/%21").all()
    # the server found every room by the id it was given: messages landed in the aliased rooms
    assert sum(server["rooms"].values()) == server["messages"]
    assert set(server["rooms"]) <= {"#lobby:localhost", "#random:localhost", "#ops:localhost"}


def test_4_long_polls_are_reported_apart_and_kept_out_of_the_headline(chat_run, tmp_path):
    out, _ = chat_run
    frame = requests_of(out)
    polls = frame[frame["long_poll"]]
    assert set(polls["action"]) == {SYNC} and polls["latency_ms"].max() > 1000  # held 1–3 s
    status, report = report_json(out, "--threshold", "p99_ms<500")
    assert status == 0
    assert [a["action"] for a in report["long_polls"]["actions"]] == [SYNC]
    assert report["long_polls"]["total"]["p99_ms"] > 1000 and report["total"]["p99_ms"] < 500
    assert SYNC not in [a["action"] for a in report["actions"]]
    assert report["total"]["count"] + report["long_polls"]["total"]["count"] == len(frame)
    # asked for: by name, or back in the headline
    assert report_json(out, "--threshold", f"{SYNC}:p99_ms<500")[0] == 3
    status, included = report_json(out, "--include-long-polls", "--threshold", "p99_ms<500")
    assert status == 3 and "long_polls" not in included and included["total"]["count"] == len(frame)
    # its own section in the terminal, Markdown and HTML reports too
    text = tracereplay("report", str(out), "--markdown").stdout
    assert "### Long-polls" in text
    page = tmp_path / "report.html"
    assert tracereplay("report", str(out), "--html", str(page)).returncode == 0
    assert "<h2>Long-polls" in page.read_text(encoding="utf-8")
    lines = tracereplay("report", str(out)).stdout.splitlines()
    assert any(line.startswith("Long-polls") for line in lines)


def test_4_a_per_action_timeout_ends_a_long_poll(tmp_path, start_chat, chat_pack):
    pack = tmp_path / "short_sync.py"
    pack.write_text(
        Path(chat_pack)
        .read_text(encoding="utf-8")
        .replace("Action(sync, long_poll=True, timeout=35)", "Action(sync, long_poll=True, timeout=0.4)"),
        encoding="utf-8",
    )
    script = tmp_path / "sync.toml"
    script.write_text(f'think = "10ms"\nactions = ["POST /_matrix/client/v3/register", "{SYNC}", "{SYNC}"]\n')
    url = start_chat("2", "2")  # every held sync lasts 2 s
    out = tmp_path / "run"
    done = tracereplay(
        "run", str(script), "--target", url, "--users", "2", "--duration", "3s", "--actions", str(pack),
        "--workers", "1", "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    frame = requests_of(out)
    held = frame[(frame["action"] == SYNC) & frame["path"].notna()]
    timed_out = held[held["error_kind"] == "timeout"]
    assert len(timed_out) > 0 and timed_out["long_poll"].all()
    assert timed_out["latency_ms"].between(350, 1500).all()  # the action's 0.4 s, not the run's 10 s
