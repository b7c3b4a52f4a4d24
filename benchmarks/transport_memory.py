"""Peak memory and CPU of one large answer: both transports vs aiohttp reading the whole body.

    .venv/bin/python benchmarks/transport_memory.py [--gib 1]

A one-worker nginx on 127.0.0.1 serves a sparse file of zeros (no disk used). Each client runs in a fresh
process and fetches it once: ``fast`` and ``aiohttp`` are our transports (16 MiB kept, the rest counted and
dropped), ``aiohttp-read`` is plain aiohttp's ``await response.read()`` — what a client keeping the whole
body costs. Printed: peak RSS (``ru_maxrss``) growth during the request, CPU seconds, wall seconds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay_common import PYTHON, free_port, wait_for_port

FETCH = textwrap.dedent("""
    import asyncio, json, resource, sys, time
    import aiohttp
    from tracereplay.replay.transports.aiohttp_client import AiohttpTransport
    from tracereplay.replay.transports.base import Request
    from tracereplay.replay.transports.fast import FastTransport

    async def main(kind, url):
        before = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.monotonic()
        if kind == "aiohttp-read":
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
                async with session.get(url + "/large.bin") as response:
                    size = len(await response.read())
        else:
            transport = {"fast": FastTransport, "aiohttp": AiohttpTransport}[kind](url)
            async with transport:
                size = (await transport.send(Request("GET", "/large.bin"), timeout=600)).size
        after = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps({
            "size": size, "grown_mib": (after.ru_maxrss - before.ru_maxrss) / 1024,
            "peak_mib": after.ru_maxrss / 1024, "wall_s": time.monotonic() - wall,
            "cpu_s": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
        }))

    asyncio.run(main(*sys.argv[1:]))
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="body size in GiB")
    args = parser.parse_args()
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    work = Path(tempfile.mkdtemp(prefix="tr-bigbody-"))
    (work / "site").mkdir()
    with (work / "site" / "large.bin").open("wb") as sparse:
        sparse.truncate(int(args.gib * (1 << 30)))
    port = free_port()
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "".join(f"{k}_temp_path {work}/{k};\n" for k in kinds)
    (work / "nginx.conf").write_text(f"""
daemon off; worker_processes 1; pid {work}/nginx.pid; error_log {work}/error.log; user root;
events {{ worker_connections 64; }}
http {{ {temp} access_log off; server {{ listen 127.0.0.1:{port}; root {work}/site; }} }}
""")
    server = subprocess.Popen([binary, "-p", str(work), "-c", str(work / "nginx.conf")])
    try:
        wait_for_port(port)
        url = f"http://127.0.0.1:{port}"
        print(f"one {args.gib:g} GiB answer from nginx, each client in a fresh process")
        print(f"{'client':<14}{'RSS growth':>12}{'peak RSS':>10}{'CPU s':>8}{'wall s':>8}")
        for kind in ("fast", "aiohttp", "aiohttp-read"):
            command = [PYTHON, "-c", FETCH, kind, url]
            run = subprocess.run(command, capture_output=True, text=True, timeout=900)
            if run.returncode:
                print(f"{kind:<14}failed: {run.stderr.strip()[-200:]}")
                continue
            f = json.loads(run.stdout)
            memory = f"{f['grown_mib']:>9.0f} MiB{f['peak_mib']:>6.0f} MiB"
            print(f"{kind:<14}{memory}{f['cpu_s']:>8.2f}{f['wall_s']:>8.2f}")
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
