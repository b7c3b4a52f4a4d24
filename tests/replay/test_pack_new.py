"""``tracereplay pack new``: a generated pack imports, passes the start-up check and runs for real."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest

from .transport_servers import start_nginx, stop_nginx


def tracereplay(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tracereplay", *args], capture_output=True, text=True, timeout=120
    )


def entry(url: str, when: str, method: str = "GET", body: dict | None = None) -> dict:
    request = {
        "method": method, "url": url, "httpVersion": "HTTP/1.1", "queryString": [], "cookies": [],
        "headers": [
            {"name": "Accept", "value": "application/json"},
            {"name": "X-Requested-With", "value": "XMLHttpRequest"},
            {"name": "Authorization", "value": "Bearer recorded-secret"},
            {"name": "Host", "value": "chat.example"},
        ],
        "headersSize": -1, "bodySize": 0,
    }  # fmt: skip
    if body is not None:
        request["postData"] = {"mimeType": "application/json", "text": json.dumps(body)}
    return {
        "startedDateTime": when, "time": 12.5, "request": request,
        "response": {
            "status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
            "content": {"size": 2, "mimeType": "application/json"}, "redirectURL": "",
            "headersSize": -1, "bodySize": 2,
        },
        "cache": {}, "timings": {"send": 0, "wait": 12.5, "receive": 0},
    }  # fmt: skip


def test_a_scaffold_from_a_har_runs_against_the_demo_target(demo_process, tmp_path):
    name = f"har-{uuid.uuid4().hex[:10]}"
    base = "https://chat.example/api/v4"
    har = {"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"}, "entries": [
        entry(f"{base}/users", "2024-03-01T10:00:00.000Z", "POST",
              {"username": name, "email": f"{name}@example.test", "password": "pw-recorded"}),
        entry(f"{base}/users/login", "2024-03-01T10:00:01.000Z", "POST",
              {"login_id": name, "password": "pw-recorded"}),
        entry(f"{base}/users/me/teams", "2024-03-01T10:00:02.000Z"),
        entry(f"{base}/teams/k3j5h6g7f8d9s0a1q2w3e4r5t6/channels", "2024-03-01T10:00:03.000Z"),
        entry(f"{base}/system/ping", "2024-03-01T10:00:04.000Z"),
    ]}}  # fmt: skip
    recording = tmp_path / "session.har"
    recording.write_text(json.dumps(har), encoding="utf-8")
    events = tmp_path / "events.parquet"
    assert tracereplay("ingest", str(recording), "-o", str(events)).returncode == 0

    pack = tmp_path / "generated_pack.py"
    done = tracereplay("pack", "new", str(events), "--har", str(recording), "-o", str(pack))
    assert done.returncode == 0, done.stderr
    assert "5 actions, 5 with a recorded example" in done.stdout
    text = pack.read_text(encoding="utf-8")
    compile(text, str(pack), "exec")
    assert "recorded-secret" not in text and "'host'" not in text  # secrets and transport headers left out
    assert "'x-requested-with': 'XMLHttpRequest'" in text
    assert "ctx.store.pick('team_id', ctx.rng)" in text  # /teams/{token}: the store name of team ids

    # replay the recorded user through the generated pack, against the real demo target
    out = tmp_path / "run"
    done = tracereplay(
        "replay", str(events), "--target", demo_process, "--speed", "20", "--actions", str(pack),
        "--workers", "1", "-o", str(out), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    frame = pd.read_parquet(next(out.glob("requests*.parquet"))).sort_values("ts")
    # sign-up with the recorded body, log-in (its Token header kept), teams, then the team id the teams
    # answer gave went into the channels path
    assert frame["status"].tolist() == [201, 200, 200, 200, 200], frame[["action", "status", "error_detail"]]
    channels = frame[frame["action"].str.contains("channels")].iloc[0]
    assert channels["route"] == "/api/v4/teams/{token}/channels" and "k3j5h6" not in channels["path"]


APACHE_LOGS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "apache_logs"


@pytest.mark.skipif(not APACHE_LOGS.exists(), reason="../shared/data/apache_logs not present")
def test_a_scaffold_from_a_real_access_log_sends_recorded_values_where_no_answer_gave_one(tmp_path):
    """A static site's ids (``/images/web/2009/banner.png`` → ``{id}``) come from no answer: the scaffold
    used to raise LookupError on every such action; now it sends values the log recorded, to a real nginx
    serving exactly the log's files."""
    events, model, pack = tmp_path / "events.parquet", tmp_path / "model.json", tmp_path / "log_pack.py"
    assert tracereplay("ingest", str(APACHE_LOGS), "-o", str(events)).returncode == 0
    assert tracereplay("fit", str(events), "-o", str(model)).returncode == 0
    done = tracereplay("pack", "new", str(model), "-o", str(pack))
    assert done.returncode == 0, done.stderr
    text = pack.read_text(encoding="utf-8")
    assert "raise LookupError" not in text  # every templated route of the log has recorded values
    assert "recorded = [('2009',)]" in text

    recorded = pd.read_parquet(events, columns=["path"])["path"].dropna().str.split("?").str[0].unique()
    folders = {p[:i] for p in recorded for i in range(1, len(p)) if p[i] == "/"}
    # a file can't also be a folder (/blog and /blog/...): such a path is left to answer nginx's 301
    plain = [p for p in recorded if re.fullmatch(r"/[A-Za-z0-9/._-]*", p) and p not in folders]
    files: dict[str, bytes | int] = {
        (p.lstrip("/") + "index.html" if p.endswith("/") else p.lstrip("/")): b"x" for p in plain
    }
    process, url = start_nginx(tmp_path / "nginx", "", files=files)
    try:
        out = tmp_path / "run"
        done = tracereplay(
            "run", str(model), "--target", url, "--actions", str(pack), "--users", "20", "--think-scale", "0",
            "--max-gap", "10ms", "--duration", "4s", "--workers", "1", "--seed", "7", "-o", str(out), "-q",
        )  # fmt: skip
    finally:
        stop_nginx(process)
    assert done.returncode == 0, done.stderr
    frame = pd.read_parquet(next(out.glob("requests*.parquet")))
    assert not frame["error_detail"].fillna("").str.contains("LookupError").any()
    frame = frame[frame["action"].str.startswith("GET ")]  # static files: nginx answers a POST 405
    templated = frame[frame["route"].str.contains("{", regex=False) & frame["path"].isin(set(plain))]
    assert len(templated) > 0 and (templated["status"] == 200).all(), templated[["route", "path", "status"]]
    served = frame[frame["path"].isin(set(plain))]
    assert (served["status"] == 200).all(), served[served["status"] != 200][["route", "path", "status"]]
