"""10 000 mostly idle websocket users on one core receiving broadcasts: memory, CPU and delivery latency.

    .venv/bin/python benchmarks/websocket_users.py [--users 10000] [--broadcasts 10] [--interval 1]
    .venv/bin/python benchmarks/websocket_users.py --users 1 --broadcasts 300 --interval 0.02   # the floor

One aiohttp websocket server (its own process, on CPU 1) waits until every client is connected, then
broadcasts ``--broadcasts`` events ``--interval`` seconds apart to all of them, each stamped with the wall
clock at the start of its broadcast, and finally a ``done`` event. Each client runs in its own process
pinned to CPU 0, against a fresh server, one after the other in the same run:

- ``raw``: the floor — a bare aiohttp loop, one ``ws_connect`` and one ``receive`` task per user, noting
  the receipt time of each event and nothing else;
- ``tracereplay``: ``run_async`` with a closed workload of that many users, each opening the stream in its
  first action (``ctx.websocket``, reconnection, handlers, a ``ws-0`` table row per message) and then idle;
- ``locust``: a Locust ``User`` per socket on websocket-client under gevent — what locust-plugins'
  ``SocketIOUser`` was until version 5 dropped it (Locust's contrib ``SocketIOUser`` speaks Socket.IO, not
  plain websockets) — when installed (``pip install locust websocket-client``); it stamps receipts alike.

Delivery latency is receipt − the server's stamp (one host, one wall clock), the stamp taken just before
each socket's send: so it is the wire plus the client's own queueing — a burst of 10 000 messages on one
core is read one after another, and a client that spends more per message shows it here. The difference
between a client's figures and ``raw``'s is what that client adds. Peak RSS and CPU seconds (user +
system) are the client process's own (``getrusage``); ``CPU µs/msg`` is its CPU time from the first
broadcast to the last divided by the receipts: the per-message cost, whatever else the machine runs.
The soft limit of open files is raised to the hard limit (each user holds a socket).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CONNECT_TIMEOUT_S = 180.0  # every bounded wait below: a benchmark never hangs
#: New connections a second, tracereplay's ramp-up and Locust's spawn rate: a server on a shared core
#: accepts a few hundred handshakes a second; faster, connects time out and reconnections pile on.
RAMP_PER_S = 200.0


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < needed:
        raise SystemExit(f"need {needed} open files, the hard limit is {hard} (ulimit -Hn)")


# ----------------------------------------------------------------------------------------------- the server
async def serve(users: int, broadcasts: int, interval: float, port_file: Path) -> None:
    """Serve until every broadcast and the ``done`` event are out; then write ``<port_file>.done``."""
    from aiohttp import web

    sockets: set[web.WebSocketResponse] = set()
    everyone = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        sockets.add(ws)
        if len(sockets) >= users:
            everyone.set()
        async for _ in ws:
            pass
        sockets.discard(ws)
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    port_file.write_text(str(runner.addresses[0][1]))
    await asyncio.wait_for(everyone.wait(), CONNECT_TIMEOUT_S)
    await asyncio.sleep(1.0)
    port_file.with_suffix(".start").write_text("start")
    for n in range(broadcasts):
        for ws in list(sockets):
            # stamped per socket, just before its send: the figure is the wire and the client, not the
            # server's own fan-out to the sockets before it
            await ws.send_str(f'{{"event": "posted", "data": {{"post_id": "{n}:{time.time_ns()}"}}}}')
        await asyncio.sleep(interval)
    for ws in list(sockets):
        await ws.send_str('{"event": "done"}')
    port_file.with_suffix(".done").write_text("done")
    await asyncio.sleep(3.0)
    await runner.cleanup()


# ---------------------------------------------------------------------------------------------- the clients
def sent_ns(post_id: str) -> int:
    return int(post_id.split(":")[1])


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class BroadcastCpu:
    """The client's CPU seconds from the server's first broadcast (``<port>.start``) to its end
    (``<port>.done``): the cost of receiving, apart from connecting and starting up."""

    def __init__(self, port_file: Path) -> None:
        self.start_file, self.done_file = port_file.with_suffix(".start"), port_file.with_suffix(".done")
        self.started: float | None = None
        self.ended: float | None = None

    def poll(self) -> bool:
        """Note the CPU time at the start and at the end; True once the server is done."""
        if self.started is None and self.start_file.exists():
            self.started = cpu_s()
        if self.done_file.exists():
            self.ended = cpu_s() if self.ended is None else self.ended
            return True
        return False

    @property
    def seconds(self) -> float | None:
        return None if self.started is None or self.ended is None else self.ended - self.started


async def poll_until_done(cpu: BroadcastCpu) -> None:
    deadline = time.monotonic() + CONNECT_TIMEOUT_S * 2
    while not cpu.poll() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def raw_client(url: str, users: int, cpu: BroadcastCpu) -> dict:
    import aiohttp

    latencies: list[int] = []
    connected = asyncio.Event()
    count = 0

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal count
        ws = await session.ws_connect("/ws")
        count += 1
        if count == users:
            connected.set()
        async for message in ws:
            now = time.time_ns()
            event = json.loads(message.data)
            if event["event"] == "done":
                break
            latencies.append(now - sent_ns(event["data"]["post_id"]))
        await ws.close()

    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(base_url=url, connector=connector) as session:
        tasks = [asyncio.create_task(one(session)) for _ in range(users)]
        await asyncio.wait_for(connected.wait(), CONNECT_TIMEOUT_S)
        connect_s = time.monotonic() - started
        await asyncio.wait_for(asyncio.gather(*tasks, poll_until_done(cpu)), CONNECT_TIMEOUT_S)
    return {"connect_s": connect_s, "latency_ns": latencies}


PACK = textwrap.dedent(
    """
    from tracereplay.replay.websocket import WsSettings

    def post_id(message):
        return message.get("data", {}).get("post_id")

    # as the raw loop: no heartbeat, and a connect may wait as long as the server needs to accept it
    SETTINGS = WsSettings(heartbeat_s=None, connect_timeout_s=120.0)

    async def listen(ctx):
        await ctx.websocket("/ws", correlation_of=post_id, settings=SETTINGS)

    ACTIONS = {"listen": listen}
    """
)


async def tracereplay_client(url: str, users: int, cpu: BroadcastCpu) -> dict:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from tracereplay import rundir
    from tracereplay.replay import Script, start_run

    work = Path(tempfile.mkdtemp(prefix="tr-ws-bench-"))
    (work / "wspack.py").write_text(PACK)
    out = work / "run"
    # one action (open the stream), then think for longer than the run: mostly idle users
    script = Script.from_actions(["listen"], session_gap_s=3600.0)
    handle = await start_run(
        script,
        target=url,
        users=users,
        duration=CONNECT_TIMEOUT_S * 2,
        out=str(out),
        actions=str(work / "wspack.py"),
        ramp_up=users / RAMP_PER_S,
        workers=1,
    )
    # the run ends once the server has sent everything (and a second for it to arrive), bounded
    await poll_until_done(cpu)
    await asyncio.sleep(1.0)
    handle.stop()
    await handle.wait()
    table = pq.read_table(rundir.worker_files(out, rundir.WS)[0])
    connects = table.filter(pc.equal(table["kind"], "connect"))
    received = table.filter(pc.and_(pc.equal(table["kind"], "receive"), pc.equal(table["type"], "posted")))
    ts = received["ts"].cast("int64").to_numpy()
    sent = np.array([sent_ns(c) for c in received["correlation"].to_pylist()], dtype=np.int64)
    first, last = connects["ts"].cast("int64").to_numpy().min(), connects["ts"].cast("int64").to_numpy().max()
    return {"connect_s": (last - first) / 1e9, "latency_ns": (ts - sent).tolist()}


LOCUSTFILE = textwrap.dedent(
    """
    import json, time

    import gevent
    import websocket
    from locust import User, constant, task

    LATENCY = []

    class Idle(User):
        wait_time = constant(3600)

        def on_start(self):
            self.ws = websocket.create_connection(self.host.replace("http", "ws", 1) + "/ws")
            self.reader = gevent.spawn(self.receive)

        def receive(self):
            while True:
                message = self.ws.recv()
                now = time.time_ns()
                event = json.loads(message)
                if event.get("event") != "posted":
                    return
                LATENCY.append(now - int(event["data"]["post_id"].split(":")[1]))

        @task
        def idle(self):
            pass
    """
)


def locust_client(url: str, users: int, cpu: BroadcastCpu) -> dict:
    """Locust in this process (gevent), a User per websocket on websocket-client, as locust-plugins'
    SocketIOUser did before version 5 dropped it (Locust's own contrib speaks Socket.IO, not websockets)."""
    import gevent
    from locust.env import Environment

    namespace: dict = {}
    exec(compile(LOCUSTFILE, "locustfile.py", "exec"), namespace)
    environment = Environment(user_classes=[namespace["Idle"]], host=url)
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=RAMP_PER_S)
    deadline = time.monotonic() + CONNECT_TIMEOUT_S * 2
    while not cpu.poll() and time.monotonic() < deadline:
        gevent.sleep(0.05)
    gevent.sleep(1.0)
    runner.quit()
    return {"connect_s": None, "latency_ns": namespace["LATENCY"]}


def locust_available() -> bool:
    probe = [sys.executable, "-c", "import locust, gevent, websocket"]
    return subprocess.run(probe, capture_output=True).returncode == 0


# ------------------------------------------------------------------------------------------------- running
def run_role(role: str, args: argparse.Namespace) -> dict:
    """Start a fresh server on CPU 1, then the client ``role`` on CPU 0; the client's figures."""
    work = Path(tempfile.mkdtemp(prefix=f"tr-ws-{role}-"))
    port_file = work / "port"
    common = [
        "--users",
        str(args.users),
        "--broadcasts",
        str(args.broadcasts),
        "--interval",
        str(args.interval),
    ]
    server = subprocess.Popen(
        [
            "taskset",
            "-c",
            "1",
            sys.executable,
            __file__,
            "--role",
            "server",
            "--port-file",
            str(port_file),
            *common,
        ]
    )
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the benchmark server did not start")
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text()}"
        out = work / "result.json"
        client = [sys.executable, __file__, "--role", role, "--url", url, "--out", str(out), *common]
        client += ["--port-file", str(port_file)]
        timeout = CONNECT_TIMEOUT_S * 3 + args.broadcasts * args.interval
        subprocess.run(["taskset", "-c", "0", *client], check=True, timeout=timeout)
        return json.loads(out.read_text())
    finally:
        server.terminate()
        server.wait(timeout=30)


def client_main(args: argparse.Namespace) -> None:
    raise_fd_limit(args.users + 200)
    cpu = BroadcastCpu(args.port_file)
    if args.role == "raw":
        result = asyncio.run(raw_client(args.url, args.users, cpu))
    elif args.role == "locust":
        result = locust_client(args.url, args.users, cpu)
    else:
        result = asyncio.run(tracereplay_client(args.url, args.users, cpu))
    result["broadcast_cpu_s"] = cpu.seconds
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    Path(args.out).write_text(json.dumps(result))


def report(name: str, result: dict, expected: int) -> str:
    latency_ms = np.asarray(result["latency_ns"], dtype=np.float64) / 1e6
    if latency_ms.size == 0:
        return f"{name:12} no receipts"
    low, p50, p99 = np.percentile(latency_ms, [0, 50, 99], method="inverted_cdf")
    connect = f"{result['connect_s']:8.1f}" if result.get("connect_s") is not None else f"{'-':>8}"
    busy = result.get("broadcast_cpu_s")
    per_message = f"{busy / latency_ms.size * 1e6:10.1f}" if busy else f"{'-':>10}"
    return (
        f"{name:12} {latency_ms.size:>9,}/{expected:<9,} {connect} {result['peak_rss_mb']:7.0f} "
        f"{result['cpu_s']:7.1f} {per_message} {low:7.2f} {p50:8.2f} {p99:8.2f} {latency_ms.max():8.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--broadcasts", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--role", choices=["server", "raw", "tracereplay", "locust"], default=None)
    parser.add_argument("--port-file", type=Path)
    parser.add_argument("--url")
    parser.add_argument("--out")
    parser.add_argument("--skip-locust", action="store_true")
    args = parser.parse_args()
    raise_fd_limit(args.users + 200)
    if args.role == "server":
        asyncio.run(serve(args.users, args.broadcasts, args.interval, args.port_file))
        return
    if args.role is not None:
        client_main(args)
        return
    roles = ["raw", "tracereplay"]
    if not args.skip_locust:
        if locust_available():
            roles.append("locust")
        else:
            print(
                "locust-plugins not installed: the Locust row is skipped (pip install locust locust-plugins)"
            )
    results = {role: run_role(role, args) for role in roles}
    expected = args.users * args.broadcasts
    print(
        f"\n{args.users:,} websocket users, {args.broadcasts} broadcasts {args.interval:g} s apart; "
        f"client on CPU 0, server on CPU 1; {os.cpu_count()} CPUs, shared with other work"
    )
    print(
        f"{'client':12} {'receipts':>19} {'conn s':>8} {'RSS MB':>7} {'CPU s':>7} {'CPU µs/msg':>10} "
        f"{'min ms':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    for role, result in results.items():
        print(report(role, result, expected))


if __name__ == "__main__":
    main()
