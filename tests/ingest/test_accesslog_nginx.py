"""Access logs written by a real nginx on 127.0.0.1, read back with ``--log-format`` and as Combined.

nginx logs every request we send in two files: ``combined`` (the built-in layout, read with no options) and a
custom ``log_format`` with ``$request_time`` and a cookie (read with ``--log-format`` given the same string).
The requests include what real servers see besides pages: a request line that is not HTTP (nginx answers
400 and logs it), TLS bytes sent to a plain-HTTP port, a query string, ids in paths.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tracereplay.ingest import read_dumps_with_summary

TIMED = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
         '"$http_referer" "$http_user_agent" $request_time "$cookie_sid"')
#: no request line: method and target apart, ISO 8601 and epoch times, the upstream-free request time
SPLIT = ('$remote_addr $time_iso8601 $msec $request_method $request_uri $status "$http_user_agent" '
         '$upstream_response_time $request_time')
AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def nginx_logs(tmp_path_factory) -> dict[str, Path]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed; CI must read logs a real nginx wrote")
        pytest.skip("nginx is not installed (apt-get install -y nginx)")
    root = tmp_path_factory.mktemp("nginx")
    site = root / "site"
    (site / "items").mkdir(parents=True)
    (site / "index.html").write_text("<html>home</html>")
    (site / "mission-sts-69.html").write_text("<html>a page</html>")
    (site / "items" / "123").write_text("item")
    (site / "items" / "456").write_text("item")
    port = _free_port()
    temp = "".join(f"{kind}_temp_path {root}/{kind};\n" for kind in
                   ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    config = root / "nginx.conf"
    config.write_text(f"""
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
user root;
events {{ worker_connections 64; }}
http {{
    {temp}
    log_format timed '{TIMED}';
    log_format split '{SPLIT}';
    access_log {root}/combined.log combined;
    access_log {root}/timed.log timed;
    access_log {root}/split.log split;
    server {{
        listen 127.0.0.1:{port};
        root {site};
    }}
}}
""")
    server = subprocess.Popen([binary, "-c", str(config), "-p", str(root)], stderr=subprocess.PIPE)
    try:
        _wait_for(port, server)
        for path, cookie in [("/index.html", "sid=alice"), ("/items/123", "sid=alice"),
                             ("/items/456?sort=asc&page=2", "sid=alice"), ("/mission-sts-69.html", "sid=bob"),
                             ("/missing", "sid=bob"), ("/index.html", None)]:
            _send(port, f"GET {path} HTTP/1.1\r\nHost: t\r\nUser-Agent: {AGENT}\r\n"
                        + (f"Cookie: {cookie}\r\n" if cookie else "") + "Connection: close\r\n\r\n")
        _send(port, "HELLO THERE\r\n\r\n")                      # not HTTP: 400, logged as it came
        _send(port, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a TLS ClientHello on a plain port
        time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return {"combined": root / "combined.log", "timed": root / "timed.log", "split": root / "split.log"}


def _wait_for(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"nginx exited: {server.stderr.read().decode() if server.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start")


def _send(port: int, raw: str) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(raw.encode("latin-1"))
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):
            pass


def test_nginx_combined_log_reads_with_no_options(nginx_logs):
    lines = nginx_logs["combined"].read_text().splitlines()
    assert len(lines) == 8, lines
    events, summary = read_dumps_with_summary(nginx_logs["combined"], keep_user_ids=True)
    assert summary.files[0].format == "access-log"
    # 6 HTTP requests; the two 400 lines carry no HTTP request (nginx logs "HELLO THERE" and "\x16\x03…")
    assert summary.spans_read == 8 and len(events) == 6
    assert summary.dropped == {"no HTTP request line": 2}
    assert summary.files[0].first_line == {"no HTTP request line": 7}
    assert events["path"].tolist() == ["/index.html", "/items/123", "/items/456", "/mission-sts-69.html",
                                       "/missing", "/index.html"]
    assert events["action"].tolist() == ["GET /index.html", "GET /items/{id}", "GET /items/{id}",
                                         "GET /mission-sts-69.html", "GET /missing", "GET /index.html"]
    assert events["status"].tolist() == [200, 200, 200, 200, 404, 200]
    assert events["user"].nunique() == 1  # one address, one agent
    assert events["duration_ms"].isna().all()  # combined has no request time


def test_nginx_custom_log_format_gives_durations_and_cookie_users(nginx_logs, tmp_path):
    out = tmp_path / "events.parquet"
    result = subprocess.run(
        [sys.executable, "-m", "tracereplay", "ingest", str(nginx_logs["timed"]), "-o", str(out), "--json",
         "--keep-user-ids", "--log-format", TIMED, "--user-key", "cookie_sid"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["spans_read"] == 8 and summary["spans_kept"] == 6
    assert summary["dropped"] == {"no HTTP request line": 2}
    # alice and bob by cookie; the request without a cookie falls back to address + agent
    assert summary["users"] == 3
    assert summary["identity"] == {"cookie_sid": 5, "fallback: client address + user agent": 1}
    events, _ = read_dumps_with_summary(nginx_logs["timed"], log_format=TIMED, user_keys=["cookie_sid"],
                                        keep_user_ids=True)
    assert events["duration_ms"].notna().all() and (events["duration_ms"] >= 0).all()
    assert events.groupby("user").size().to_dict() == {
        "alice": 3, "bob": 2, f"127.0.0.1|{AGENT}": 1}


def test_nginx_layout_without_a_request_line(nginx_logs):
    """``$request_method`` + ``$request_uri``, ``$time_iso8601`` (the first time field counts), ``-`` for the
    upstream time of a static file: the request time is used."""
    events, summary = read_dumps_with_summary(nginx_logs["split"], log_format=SPLIT, keep_user_ids=True)
    assert summary.spans_read == 8 and len(events) == 6
    assert summary.dropped == {"no HTTP request line": 2}  # nginx logs no method for "HELLO THERE" / TLS
    assert events["action"].tolist() == ["GET /index.html", "GET /items/{id}", "GET /items/{id}",
                                         "GET /mission-sts-69.html", "GET /missing", "GET /index.html"]
    assert events["path"].tolist()[2] == "/items/456"  # the query of $request_uri is stripped
    combined, _ = read_dumps_with_summary(nginx_logs["combined"], keep_user_ids=True)
    # ISO time has seconds, and nginx logs the end: the start is at most the request time earlier
    gap = (combined["ts"].reset_index(drop=True) - events["ts"].reset_index(drop=True)).dt.total_seconds()
    assert ((gap >= -1) & (gap <= 1)).all()
    assert events["duration_ms"].notna().all()
