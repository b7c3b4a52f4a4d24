"""Shared pieces of the replay benchmarks: a fast local nginx, the demo model, running our CLI."""

from __future__ import annotations

import csv
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# what nginx answers: small JSON with ids, so the generic action fills every route and harvests ids
BODY = '{"id":"abcdefghijklmnopqrstuvwxyz","user_id":"u1","team_id":"t1","channel_id":"c1","post_id":"p1"}'


#: The clients' environment: as an installed package runs, with byte-code cached. A session started with
#: PYTHONDONTWRITEBYTECODE (some shells and CI images set it) would have every client compile its imports from
#: source at each start — ~1.5 CPU-s for ours (pandas, scipy, pyarrow, aiohttp), ~0.5 for Locust's — which
#: is no part of either tool's cost per request. The benchmarks warm the cache with a short first run.
CHILD_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@contextmanager
def nginx(cpu: int = 1):
    """A one-worker nginx on 127.0.0.1 pinned to ``cpu``, answering BODY to every path; yields its URL."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise SystemExit("nginx not found: apt-get install -y nginx")
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="tr-nginx-"))
    (work / "nginx.conf").write_text(f"""
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log crit;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    client_body_temp_path {work}; proxy_temp_path {work}; fastcgi_temp_path {work};
    uwsgi_temp_path {work}; scgi_temp_path {work};
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{ default_type application/json; return 200 '{BODY}'; }}
    }}
}}
""")
    process = subprocess.Popen(
        ["taskset", "-c", str(cpu), binary, "-p", str(work), "-c", str(work / "nginx.conf")]
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def demo_model(work: Path) -> Path:
    """The behaviour model fitted on the bundled sample traffic (what `tracereplay demo` fits)."""
    path = work / "model.json"
    if path.exists():
        return path
    from tracereplay.demo import sample_dump_path
    from tracereplay.ingest import ingest
    from tracereplay.ingest.events import read_events
    from tracereplay.model import fit

    events = work / "events.parquet"
    ingest([sample_dump_path()], events)
    fit(read_events(events)).save(path)
    return path


def tracereplay(*args: str, cpu: int | None = None, env: dict | None = None) -> dict:
    """Run our CLI (pinned to ``cpu``) with --json; return its result."""
    command = [PYTHON, "-m", "tracereplay", *args, "--json", "--quiet"]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    done = subprocess.run(
        command, capture_output=True, text=True, env={**CHILD_ENV, **(env or {})}, cwd=ROOT
    )
    if done.returncode != 0:
        raise RuntimeError(f"tracereplay failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


class ChildCpu:
    """CPU seconds (user + system) used by the child processes waited for inside the block: on a machine
    other work loads, requests per CPU-second compare clients where requests per wall second cannot."""

    def __enter__(self) -> ChildCpu:
        self._before = _children_cpu()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = _children_cpu() - self._before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median(values: list[float]) -> float:
    return statistics.median(values)


def locust_command(
    locustfile: Path,
    url: str,
    *,
    users: int,
    spawn_rate: float,
    seconds: float,
    csv_prefix: Path | None = None,
) -> list[str]:
    """Headless Locust pinned to the client core (core 0), as every replay benchmark runs its peer."""
    command = [
        "taskset", "-c", "0", str(Path(PYTHON).parent / "locust"), "-f", str(locustfile), "--headless",
        "-u", str(users), "-r", str(spawn_rate), "-t", f"{int(seconds)}s", "--host", url, "--only-summary",
    ]
    if csv_prefix is not None:
        command += ["--csv", str(csv_prefix)]
    return [*command, "--loglevel", "ERROR"]


def run_locust(
    locustfile: Path, url: str, *, users: int, spawn_rate: float, seconds: float, work: Path
) -> dict:
    """Run Locust headless and return its CSV's "Aggregated" row."""
    prefix = work / "locust"
    command = locust_command(
        locustfile, url, users=users, spawn_rate=spawn_rate, seconds=seconds, csv_prefix=prefix
    )
    subprocess.run(command, check=True, capture_output=True, cwd=work, env=CHILD_ENV)
    with open(f"{prefix}_stats.csv") as f:
        return next(row for row in csv.DictReader(f) if row["Name"] == "Aggregated")
