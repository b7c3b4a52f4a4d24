"""Access logs (Common / Combined Log Format) through the real CLI and the Python API, on a real log.

``../shared/data/apache_logs`` is 10,000 lines of a real Apache Combined log (elastic/examples, Apache-2.0).
Expected counts are computed independently of the reader, with awk, splitting each line on ``"``: a
well-formed Combined line has exactly 6 quotes, i.e. 7 fields.

* ``awk -F'"' 'NF!=7' apache_logs | wc -l`` → 1: line 8899, whose user agent has no closing quote;
* ``awk -F'"' 'NF==7' apache_logs | wc -l`` → 9,999 rows;
* users = distinct (client address, user agent), a ``-`` agent meaning the address alone:
  ``awk -F'"' 'NF==7 {split($1,a," "); ua=$6; if (ua=="-") ua=""; print a[1] "|" ua}' apache_logs``
  ``| sort -u | wc -l``
  → 1,861; 190 rows have no agent (``awk -F'"' 'NF==7 && $6=="-"' … | wc -l``).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from tracereplay.ingest import read_dumps_with_summary
from tracereplay.ingest.events import read_events

APACHE_LOGS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "apache_logs"

needs_real_log = pytest.mark.skipif(not APACHE_LOGS.exists(), reason="../shared/data/apache_logs not present")


def _ingest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracereplay", "ingest", *args],
                          capture_output=True, text=True, timeout=120)


@needs_real_log
def test_the_real_apache_log_ingests_with_no_options(tmp_path):
    out = tmp_path / "events.parquet"
    result = _ingest(str(APACHE_LOGS), "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["files"][0]["format"] == "access-log"
    assert summary["spans_read"] == 10_000
    assert summary["spans_kept"] == 9_999
    assert summary["dropped"] == {"malformed: unterminated quote": 1}
    assert summary["files"][0]["first_line"] == {"malformed: unterminated quote": 8899}
    assert summary["users"] == 1_861
    assert summary["identity"] == {"fallback: client address + user agent": 9_809,
                                   "fallback: client address": 190}
    events = read_events(out)
    assert len(events) == 9_999
    assert events["user"].nunique() == 1_861
    assert (events["source"] == "access-log").all()
    assert events["ts"].is_monotonic_increasing
    assert str(events["ts"].min()) == "2015-05-17 10:05:00+00:00"
    assert str(events["ts"].max()) == "2015-05-20 21:05:59+00:00"


@needs_real_log
def test_the_malformed_line_is_reported_in_the_printed_summary(tmp_path):
    result = _ingest(str(APACHE_LOGS), "-o", str(tmp_path / "e.parquet"))
    assert result.returncode == 0, result.stderr
    assert "dropped: malformed: unterminated quote" in result.stdout
    assert "line 8899" in result.stdout.replace("\n", " ")


@needs_real_log
def test_request_fields_of_chosen_real_lines():
    events, _ = read_dumps_with_summary(APACHE_LOGS, keep_user_ids=True)
    # line 1: 83.149.9.216 … "GET /presentations/logstash-monitorama-2013/images/kibana-search.png …" 200
    path = "/presentations/logstash-monitorama-2013/images/kibana-search.png"
    first = events[events["path"] == path].iloc[0]
    assert first["method"] == "GET" and first["status"] == 200
    assert str(first["ts"]) == "2015-05-17 10:05:03+00:00"
    assert first["user"].startswith("83.149.9.216|Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1)")
    # the last line: "GET /blog/tags/puppet?flav=rss20 HTTP/1.1" — the query is stripped
    feed = events[(events["path"] == "/blog/tags/puppet") & events["user"].str.startswith("46.105.14.53|")]
    assert len(feed) > 0 and not events["path"].str.contains("?", regex=False).any()
    assert set(events["method"].unique()) == {"GET", "HEAD", "POST", "OPTIONS"}


@needs_real_log
def test_rotated_gzip_and_zstd_files_merge_in_time_order(tmp_path):
    lines = APACHE_LOGS.read_bytes().splitlines(keepends=True)[:6000]
    older, newer = tmp_path / "access.log.1.zst", tmp_path / "access.log.gz"
    older.write_bytes(zstandard.ZstdCompressor().compress(b"".join(lines[:3000])))
    newer.write_bytes(gzip.compress(b"".join(lines[3000:])))
    plain = tmp_path / "access.log"
    plain.write_bytes(b"".join(lines))
    merged, summary = read_dumps_with_summary([newer, older], keep_user_ids=True)  # the later file first
    assert [f.format for f in summary.files] == ["access-log", "access-log"]
    assert [f.spans for f in summary.files] == [3000, 3000]
    whole, _ = read_dumps_with_summary(plain, keep_user_ids=True)
    assert merged["ts"].is_monotonic_increasing
    def rows(events):  # rows of one second may come in either file order: compare as sorted sets
        return events.drop(columns="session").sort_values(["ts", "user", "path"]).reset_index(drop=True)

    assert rows(merged).equals(rows(whole))
    assert merged["path"].iloc[0] == "/presentations/logstash-monitorama-2013/images/redis.png"
