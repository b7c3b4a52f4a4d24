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

import numpy as np
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


GOOD = ('10.0.0.{n} - - [17/May/2015:10:05:{s:02d} +0200] "GET /page/{n} HTTP/1.1" 200 512 "-" '
        '"Mozilla/5.0 (X11)"')


def _log(tmp_path: Path, lines: list[bytes], name: str = "access.log") -> Path:
    path = tmp_path / name
    path.write_bytes(b"".join(lines))
    return path


def _good(n: int) -> bytes:
    return (GOOD.format(n=n, s=n % 60) + "\n").encode()


def test_every_kind_of_malformed_line_is_counted_with_its_first_line(tmp_path):
    lines = [
        _good(1),
        b'10.0.0.2 - - [17/May/2015:10:05:02 +0200] "GET /cut HTTP/1.1" 200 5 "-" "Mozilla/5.0 (trunc\n',
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03junk\x00\n",
        _good(4),
        b'10.0.0.5 - - [17/Foo/2015:10:05:05 +0200] "GET /when HTTP/1.1" 200 5 "-" "x"\n',
        b"hello, this is not an access log line\n",
        b"\n",
        b'10.0.0.8 - - [17/May/2015:10:05:08 +0200] "GET /' + b"a" * 70_000 + b' HTTP/1.1" 200 5\n',
        b'10.0.0.9 - - [17/May/2015:10:05:09 +0200] "-" 408 0 "-" "-"\n',
        b'10.0.0.10 - - [17/May/2015:10:05:10 +0200] "GET /q?a=\\"b\\" HTTP/1.1" 200 5 "-" '
        b'"a \\"quoted\\" agent"\r\n',
        _good(11),
    ]
    events, summary = read_dumps_with_summary(_log(tmp_path, lines), keep_user_ids=True)
    assert summary.dropped == {
        "malformed: unterminated quote": 1, "malformed: binary junk": 1, "malformed: bad timestamp": 1,
        "malformed: does not match the log format": 1, "malformed: over-long line": 1,
        "no HTTP request line": 1,
    }
    assert summary.files[0].first_line == {
        "malformed: unterminated quote": 2, "malformed: binary junk": 3, "malformed: bad timestamp": 5,
        "malformed: does not match the log format": 6, "malformed: over-long line": 8,
        "no HTTP request line": 9,
    }
    assert summary.spans_read == 10  # the blank line is not a record
    assert events["path"].tolist() == ["/page/1", "/page/4", "/q", "/page/11"]
    # escaped quotes inside quoted fields (Apache writes \") and CRLF line ends are fine
    assert events["user"].tolist()[2] == '10.0.0.10|a \\"quoted\\" agent'
    # the zone is applied: 10:05:01 +0200 is 08:05:01 UTC
    assert str(events["ts"].iloc[0]) == "2015-05-17 08:05:01+00:00"


def test_nothing_parses_is_one_line_listing_the_reasons(tmp_path):
    dump = _log(tmp_path, [_good(1).replace(b"[17/May", b"[17/Foo"), b"\x00\x01\x02 junk\n"])
    out = tmp_path / "events.parquet"
    result = _ingest(str(dump), "-o", str(out), "--format", "access-log")
    assert result.returncode == 1 and not out.exists()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tracereplay: error: {dump}: no span matched")
    assert "malformed: bad timestamp" in lines[0] and "malformed: binary junk" in lines[0]


def test_a_junk_file_among_good_ones_is_not_fatal(tmp_path):
    good = _log(tmp_path, [_good(n) for n in range(1, 6)], "good.log")
    junk = _log(tmp_path, [_good(1).replace(b"[17/May", b"[17/Foo")], "junk.log")
    events, summary = read_dumps_with_summary([good, junk], format="access-log", keep_user_ids=True)
    assert len(events) == 5 and summary.dropped == {"malformed: bad timestamp": 1}


@needs_real_log
def test_the_python_twin_of_the_scanner_gives_the_same_columns():
    from tracereplay.ingest import _native
    from tracereplay.ingest.logformat import combined_layout
    from tracereplay.ingest.readers.accesslog import MAX_LINE, _PyPool, scan_lines

    block = APACHE_LOGS.read_bytes() + b"\n\x00junk line\n" + b'1.2.3.4 - - [1' + b"x" * 70_000 + b"\n"
    layout = combined_layout()
    results = []
    for scan, pool in ((_native.scan_log, _native.Pool), (scan_lines, _PyPool)):
        pools = tuple(pool() for _ in layout.fields)
        codes = np.empty((len(pools), 20_000), dtype=np.int32)
        status = np.empty(20_000, dtype=np.uint8)
        line = np.empty(20_000, dtype=np.int32)
        rows, consumed, lines = scan(block, 0, layout.program, pools, codes, status, line, MAX_LINE)
        strings = [[pool_j.values[c] if c >= 0 else None for c in codes[j, :rows]]
                   for j, pool_j in enumerate(pools)]
        results.append((rows, consumed, lines, status[:rows].tolist(), line[:rows].tolist(), strings))
    assert results[0] == results[1]
    rows, consumed, lines, status, _, _ = results[0]
    assert rows == 10_002 and consumed == len(block) and lines == 10_003
    assert status.count(0) == 9_999 and status[8898] == 1 and status[-2:] == [2, 3]


def test_apache_log_format_with_microseconds(tmp_path):
    log_format = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D'
    dump = _log(tmp_path, [
        b'10.1.1.1 - - [04/Dec/2026:18:00:00 +0000] "POST /api/orders HTTP/1.1" 201 10 "-" "curl/8" 2500\n',
        b'10.1.1.1 - - [04/Dec/2026:18:00:01 +0000] "GET /api/orders/77 HTTP/1.1" 500 10 "-" "curl/8" 125\n',
    ])
    events, _ = read_dumps_with_summary(dump, log_format=log_format, keep_user_ids=True)
    assert events["action"].tolist() == ["POST /api/orders", "GET /api/orders/{id}"]
    assert events["duration_ms"].tolist() == [2.5, 0.125]
    assert events["error"].tolist() == [False, True]
    # Apache's %t is when the request came in: the start
    assert str(events["ts"].iloc[0]) == "2026-12-04 18:00:00+00:00"


def test_trailing_request_times_after_combined_are_read_without_options(tmp_path):
    base = '10.1.1.1 - - [04/Dec/2026:18:00:0{s} +0000] "GET /a HTTP/1.1" 200 10 "-" "curl/8"'
    dump = _log(tmp_path, [
        (base.format(s=1) + ' "203.0.113.7" 0.250\n').encode(),   # nginx main + $request_time (s)
        (base.format(s=2) + " 1500\n").encode(),                   # Apache %D (µs)
        (base.format(s=3) + ' rt=0.020 uct="0.001" urt="0.019"\n').encode(),  # nginx rt=… style
        (base.format(s=4) + "\n").encode(),
    ])
    events, _ = read_dumps_with_summary(dump, keep_user_ids=True)
    assert events["duration_ms"].tolist()[:3] == [250.0, 1.5, 20.0]
    assert np.isnan(events["duration_ms"].iloc[3])


def test_bad_log_formats_are_refused_with_the_reason():
    from tracereplay.errors import ConfigError
    from tracereplay.ingest.options import make_options

    for text, reason in [("%h %u", "no time field"), ("$remote_addr [$time_local]", "no request"),
                         ("just text", "neither an nginx"), ("$remote_addr %h [$time_local]", "mixes"),
                         ('$remote_addr$remote_user [$time_local] "$request"', "nothing between")]:
        with pytest.raises(ConfigError, match=reason):
            make_options(log_format=text)


@needs_real_log
def test_exclude_bots_on_the_real_log(tmp_path):
    plain, _ = read_dumps_with_summary(APACHE_LOGS, keep_user_ids=True)
    events, summary = read_dumps_with_summary(APACHE_LOGS, keep_user_ids=True, exclude_bots=True)
    agents = events["user"].str.split("|", n=1).str[1].fillna("")
    for crawler in ("Googlebot", "bingbot", "Baiduspider", "YandexBot"):
        assert plain["user"].str.contains(crawler).any() and not agents.str.contains(crawler).any()
    assert summary.dropped["bot (--exclude-bots)"] == len(plain) - len(events)
    # people keep their requests: a Firefox on Windows and the Chrome on the first line
    assert agents.str.contains("Firefox/28.0").any() and agents.str.contains("Chrome/32.0.1700.77").any()


def test_timestamps_parse_like_strptime_with_their_zone():
    from datetime import UTC, datetime, timedelta

    from tracereplay.ingest.readers.accesslog import _clf_times

    rng = np.random.default_rng(7)
    texts, expected = [], []
    for seconds, minutes in zip(rng.integers(-2_208_988_800, 4_102_444_800, 5_000),
                                rng.integers(-14 * 4, 14 * 4 + 1, 5_000) * 15, strict=True):
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=int(seconds))
        sign = "+" if minutes >= 0 else "-"
        zone = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
        texts.append(moment.strftime("%d/%b/%Y:%H:%M:%S") + " " + zone)
        expected.append(int(datetime.strptime(texts[-1], "%d/%b/%Y:%H:%M:%S %z").timestamp()) * 10**9)
    assert _clf_times(texts).tolist() == expected
    bad = ["29/Feb/2015:00:00:00 +0000", "17/Foo/2015:10:05:03 +0000", "17/May/2015 10:05:03 +0000",
           "1x/May/2015:10:05:03 +0000", "17/May/2015:24:00:00 +0000", "17/May/2015:10:05:03 0000", "short"]
    assert _clf_times(bad).tolist() == [-1] * len(bad)


@needs_real_log
def test_pools_starting_afresh_give_the_same_table(monkeypatch):
    """Memory bound: a field's distinct values are dropped past MAX_DISTINCT; the table must not change."""
    from tracereplay.ingest.readers import accesslog

    whole, _ = read_dumps_with_summary(APACHE_LOGS, salt=b"k")
    monkeypatch.setattr(accesslog, "MAX_DISTINCT", 500)
    monkeypatch.setattr(accesslog, "BATCH_ROWS", 1_000)  # many batches, so the pools start afresh often
    bounded, summary = read_dumps_with_summary(APACHE_LOGS, salt=b"k")
    assert summary.files[0].first_line == {"malformed: unterminated quote": 8899}
    assert bounded.equals(whole)
