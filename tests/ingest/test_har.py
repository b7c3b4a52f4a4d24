"""HAR files: a real Chrome DevTools export (tests/ingest/data/chrome-postdata.har, see the README there) and
recordings built from its entry, through the Python API and the real CLI."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tracereplay.ingest import read_dumps_with_summary
from tracereplay.ingest.readers.har import example_requests
from tracereplay.ingest.sniff import detect_format, read_head

REAL = Path(__file__).parent / "data" / "chrome-postdata.har"


def _recording(tmp_path: Path, entries: list[dict], name: str = "recording.har") -> Path:
    document = orjson.loads(REAL.read_bytes())
    document["log"]["entries"] = entries
    path = tmp_path / name
    path.write_bytes(orjson.dumps(document))
    return path


def _entry(url: str, started: str, *, method: str = "GET", status: int = 200, cookie: str | None = None,
           headers: dict[str, str] | None = None) -> dict:
    entry = copy.deepcopy(orjson.loads(REAL.read_bytes())["log"]["entries"][0])
    entry["request"]["url"], entry["request"]["method"] = url, method
    entry["startedDateTime"], entry["response"]["status"] = started, status
    entry["response"].pop("_error", None)
    entry["request"]["cookies"] = [{"name": "sid", "value": cookie}] if cookie else []
    for name, value in (headers or {}).items():
        entry["request"]["headers"].append({"name": name, "value": value})
    return entry


def test_the_real_chrome_export():
    assert detect_format(REAL, read_head(REAL)) == "har"
    events, summary = read_dumps_with_summary(REAL, keep_user_ids=True)
    assert len(events) == 1 and summary.identity == {"fallback: the HAR file": 1}
    row = events.iloc[0]
    fields = (row["action"], row["method"], row["path"], row["status"])
    assert fields == ("POST /events", "POST", "/events", 200)
    assert str(row["ts"]) == "2023-07-12 18:57:52.050000+00:00"
    assert row["duration_ms"] == pytest.approx(143.89899995876476, abs=1e-3)
    assert not row["error"] and row["source"] == "har"  # the browser aborted after a 200: not a server error
    assert row["user"] == f"har:{REAL}"


def test_example_requests_keep_bodies_and_hide_secrets(tmp_path):
    examples = example_requests(REAL)
    (only,) = examples["POST /events"]
    assert only.body.startswith("eyJjYXRlZ29yeSI6") and only.mime_type == "text/plain;charset=UTF-8"
    assert only.headers["content-type"] == "text/plain;charset=UTF-8" and ":path" not in only.headers
    secret = _recording(tmp_path, [_entry("https://shop.example/api/orders/17", "2023-07-12T18:00:00Z",
                                          headers={"Authorization": "Bearer abc", "Cookie": "sid=1"})])
    (example,) = example_requests(secret)["GET /api/orders/{id}"]
    assert example.headers["authorization"] == "<redacted>" and example.headers["cookie"] == "<redacted>"
    (kept,) = example_requests(secret, keep_secrets=True)["GET /api/orders/{id}"]
    assert kept.headers["authorization"] == "Bearer abc"


def test_one_file_is_one_user_split_into_sessions_by_the_gap(tmp_path):
    entries = [_entry("https://shop.example/", "2023-07-12T18:00:00Z"),
               _entry("https://shop.example/items/9", "2023-07-12T18:00:05.250+00:00"),
               _entry("https://cdn.example/app.3f2a9c1b.js", "2023-07-12T18:00:05.300Z"),
               _entry("https://shop.example/cart", "2023-07-12T20:00:00-00:00", method="POST", status=0),
               _entry("data:image/png;base64,iVBORw0KGgo=", "2023-07-12T20:00:01Z")]
    har = _recording(tmp_path, entries)
    events, summary = read_dumps_with_summary(har, keep_user_ids=True)
    assert summary.dropped == {"not an HTTP request (data:, blob:, ws: …)": 1}
    assert events["action"].tolist() == ["GET /", "GET /items/{id}", "GET /app.{hex}.js", "POST /cart"]
    assert events["user"].nunique() == 1 and events["session"].nunique() == 2  # 2 h idle: a new session
    assert events["status"].isna().tolist() == [False, False, False, True]  # no response: no status, an error
    assert events["error"].tolist() == [False, False, False, True]
    only_shop, _ = read_dumps_with_summary(har, services=["shop.example"], keep_user_ids=True)
    assert len(only_shop) == 3


def test_a_proxy_recording_of_many_browsers_splits_users_by_cookie(tmp_path):
    entries = [_entry("https://shop.example/", "2023-07-12T18:00:00Z", cookie="alice"),
               _entry("https://shop.example/", "2023-07-12T18:00:01Z", cookie="bob"),
               _entry("https://shop.example/cart", "2023-07-12T18:00:02Z", cookie="alice"),
               _entry("https://shop.example/login", "2023-07-12T18:00:03Z")]
    har = _recording(tmp_path, entries)
    out = tmp_path / "events.parquet"
    command = [sys.executable, "-m", "tracereplay", "ingest", str(har), "-o", str(out), "--json",
               "--user-key", "sid"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["files"][0]["format"] == "har"
    assert summary["users"] == 3  # alice, bob, and the file for the entry without the cookie
    assert summary["identity"] == {"cookie sid": 3, "fallback: the HAR file": 1}


def test_a_har_larger_than_the_sniffed_head_is_detected(tmp_path):
    entries = [_entry(f"https://shop.example/items/{i}", f"2023-07-12T18:{i // 60:02d}:{i % 60:02d}Z")
               for i in range(200)]
    har = _recording(tmp_path, entries)
    assert har.stat().st_size > 256 * 1024
    assert detect_format(har, read_head(har)) == "har"
    events, _ = read_dumps_with_summary(har)
    assert len(events) == 200 and set(events["action"]) == {"GET /items/{id}"}


@pytest.mark.parametrize(("text", "message"), [
    ('{"log": {"version": "1.2"}}', "not a HAR file (no log.entries list)"),
    ('{"log": {"entries": [{"request": {}}]}}', "entry 1: not a HAR entry"),
])
def test_broken_hars_are_one_line(tmp_path, text, message):
    har = tmp_path / "broken.har"
    har.write_text(text)
    command = [sys.executable, "-m", "tracereplay", "ingest", str(har), "-o", str(tmp_path / "o")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and message in result.stderr
