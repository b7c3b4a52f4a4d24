"""What a large answer costs: CPU linear in its size (bug 4), memory bounded whatever its size (bug 13).

The former client re-scanned a chunked body from its start on every read (100 MB: 12.75 s of CPU) and kept
every body whole (1 GiB: 3.2 GB RSS). Peak memory is measured in a fresh process (``ru_maxrss``), fetching
from nginx a sparse file of zeros; ``benchmarks/transport_memory.py`` does the same for 1 GiB.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from tracereplay.replay.transports.aiohttp_client import AiohttpTransport
from tracereplay.replay.transports.base import Request
from tracereplay.replay.transports.fast import FastTransport
from tracereplay.replay.transports.settings import MIB, TransportSettings

from .transport_servers import HostileServer, start_nginx, stop_nginx

KINDS = {"fast": FastTransport, "aiohttp": AiohttpTransport}

FETCH = textwrap.dedent("""
    import asyncio, json, resource, sys
    from tracereplay.replay.transports.aiohttp_client import AiohttpTransport
    from tracereplay.replay.transports.base import Request
    from tracereplay.replay.transports.fast import FastTransport

    async def main(kind, url, path):
        transport = {"fast": FastTransport, "aiohttp": AiohttpTransport}[kind](url)
        async with transport:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            answer = await transport.send(Request("GET", path), timeout=120)
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        figures = {"size": answer.size, "kept": len(answer.body), "before_kib": before, "peak_kib": after}
        print(json.dumps(figures))

    asyncio.run(main(*sys.argv[1:]))
""")


@pytest.fixture(params=sorted(KINDS))
def kind(request) -> str:
    return request.param


async def test_bug4_chunked_parsing_is_linear_in_the_body(kind):
    server = await HostileServer().start()
    try:
        async with KINDS[kind](server.url, TransportSettings(request_timeout=60)) as transport:
            start = time.process_time()  # this process: client and server, whatever else loads the machine
            answer = await transport.send(Request("GET", "/huge-chunked?mib=64"))  # 16 384 chunks of 4 KiB
            cpu = time.process_time() - start
    finally:
        await server.stop()
    assert answer.size == 64 * MIB and len(answer.body) == 16 * MIB and answer.body[:4] == b"cccc"
    assert cpu < 3.0, f"{cpu:.2f} s of CPU for a 64 MiB chunked body"  # the former client: ~8 s


def test_bug13_a_large_body_does_not_grow_memory(kind, tmp_path):
    process, url = start_nginx(tmp_path, "", files={"large.bin": 256 * MIB})
    try:
        run = subprocess.run(
            [sys.executable, "-c", FETCH, kind, url, "/large.bin"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        stop_nginx(process)
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)
    assert figures["size"] == 256 * MIB and figures["kept"] == 16 * MIB
    grown_mib = (figures["peak_kib"] - figures["before_kib"]) / 1024
    # 16 MiB kept, a few read buffers; the former client held the whole body, several times over
    assert grown_mib < 64, f"peak RSS grew {grown_mib:.0f} MiB for a 256 MiB body"
