"""Real servers on 127.0.0.1 for the transport tests: a raw server misbehaving on purpose, and nginx.

:class:`HostileServer` reads real requests off the socket (so the tests see exactly the bytes a transport
sent) and answers each path with a scripted, often broken, HTTP answer: the cases a load generator meets
on staging servers, proxies and test doubles. It counts connections opened and closed, so a test can tell
whether a transport reused, closed or leaked one.

:func:`start_nginx` runs Debian's nginx as a non-daemon child on a free port with a config written into a
temporary folder (as ``tests/ingest/test_accesslog_nginx.py`` does).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class Seen:
    """One request as the server read it off the socket."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    connection: int  # which connection (0, 1, …) it came on
    raw: bytes

    def header_names(self) -> list[str]:
        return [name.lower() for name, _ in self.headers]

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, Seen, "HostileServer"], Awaitable[bool]]


def answer(status: str = "200 OK", body: bytes = b"ok", *headers: str) -> bytes:
    """A well-formed answer with a Content-Length."""
    head = "".join(f"{h}\r\n" for h in (f"HTTP/1.1 {status}", *headers, f"Content-Length: {len(body)}"))
    return head.encode() + b"\r\n" + body


def scripted(*parts: bytes, pause: float = 0.0, keep: bool = True) -> Handler:
    """A handler writing ``parts`` in turn (``pause`` seconds apart), then keeping the connection or not."""

    async def handle(reader, writer, seen, server) -> bool:
        for i, part in enumerate(parts):
            if i and pause:
                await asyncio.sleep(pause)
            writer.write(part)
            await writer.drain()
        return keep

    return handle


async def _drop(reader, writer, seen, server) -> bool:
    """Read the request, answer nothing, close: a server that timed the connection out as it arrived."""
    return False


async def _drop_once(reader, writer, seen, server) -> bool:
    """The first such request is dropped (closed unanswered); later ones are answered."""
    server.dropped += 1
    if server.dropped == 1:
        return False
    writer.write(answer(body=b"second time"))
    return True


async def _hang(reader, writer, seen, server) -> bool:
    """Never answer; hold the connection until the client goes away."""
    await reader.read()
    return False


async def _trickle(reader, writer, seen, server) -> bool:
    """Slowloris in reverse: a valid answer, one byte every 50 ms, for as long as the client listens."""
    for byte in answer(body=b"x" * 200):
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.05)
    return True


async def _close_mid_body(reader, writer, seen, server) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
    await writer.drain()
    return False


async def _huge(reader, writer, seen, server) -> bool:
    """``?mib=N``: an N MiB body with a Content-Length, written in 64 KiB pieces (never held whole)."""
    mib = int(seen.target.partition("mib=")[2] or 8)
    writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {mib << 20}\r\n\r\n".encode())
    piece = b"z" * 65536
    for _ in range(mib * 16):
        writer.write(piece)
        await writer.drain()
    return True


async def _huge_chunked(reader, writer, seen, server) -> bool:
    """``?mib=N``: an N MiB chunked body in 4 KiB chunks (many chunk-size lines to parse)."""
    mib = int(seen.target.partition("mib=")[2] or 8)
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"1000\r\n" + b"c" * 4096 + b"\r\n"
    batch = chunk * 64  # 256 KiB per write
    for _ in range(mib * 4):
        writer.write(batch)
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    return True


async def _slow(reader, writer, seen, server) -> bool:
    await asyncio.sleep(0.1)
    writer.write(answer(body=b"slow"))
    return True


async def _echo(reader, writer, seen, server) -> bool:
    writer.write(answer(body=seen.raw))
    return True


#: path → what the server does. The comments say what a correct client makes of it.
ROUTES: dict[str, Handler] = {
    "/ok": scripted(answer(body=b"ok")),
    "/echo": _echo,  # the request's own bytes as the body
    # HEAD: a Content-Length of the body a GET would get, and no body (RFC 9110 9.3.2)
    "/head": scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\n"),
    # interim answers first, the final answer 50 ms later (a late 200 must not answer the next request)
    "/continue": scripted(b"HTTP/1.1 100 Continue\r\n\r\n", answer(body=b"final"), pause=0.05),
    "/early-hints": scripted(
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        answer(body=b"final"),
        pause=0.05,
    ),
    # invalid framing: a negative chunk size, a negative or conflicting length
    "/negative-chunk": scripted(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-6\r\nabcdef\r\n0\r\n\r\n"
    ),
    "/negative-length": scripted(b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello"),
    "/two-lengths": scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\nokrest!"),
    "/same-lengths": scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"),
    "/length-and-chunked": scripted(
        b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    ),
    # a 204 may have no body; this one claims a chunked one and sends its last chunk
    "/chunked-204": scripted(b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "/304": scripted(b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 99\r\n\r\n'),
    # obs-fold (RFC 9112 5.2: a user agent unfolds it) next to two cookies
    "/folded": scripted(
        b"HTTP/1.1 200 OK\r\nX-Folded: one\r\n two\r\nSet-Cookie: a=1; Path=/\r\n"
        b"Set-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok"
    ),
    "/nul-header": scripted(b"HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\nContent-Length: 2\r\n\r\nok"),
    "/bare-lf": scripted(b"HTTP/1.1 200 OK\nContent-Length: 2\nX-Lf: yes\n\nok"),
    "/chunked": scripted(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n",
        b"5\r\nworld\r\n0\r\n\r\n",
        pause=0.02,
    ),
    "/until-close": scripted(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it", keep=False),
    "/connection-close": scripted(answer("200 OK", b"bye", "Connection: close"), keep=False),
    # a complete answer, then bytes nobody asked for in the same write
    "/leftover": scripted(answer(body=b"ok") + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nSTALE"),
    "/switch": scripted(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    ),
    "/garbage": scripted(b"SSH-2.0-OpenSSH_9.2\r\n\r\nnot http at all\r\n", keep=False),
    "/huge-head": scripted(
        b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"h" * 100_000 + b"\r\nContent-Length: 0\r\n\r\n"
    ),
    "/slow": _slow,
    "/drop": _drop,
    "/drop-once": _drop_once,
    "/hang": _hang,
    "/trickle": _trickle,
    "/close-mid-body": _close_mid_body,
    "/huge": _huge,
    "/huge-chunked": _huge_chunked,
}


@dataclass
class HostileServer:
    """A raw HTTP/1.1 server on 127.0.0.1 answering each path as :data:`ROUTES` says."""

    requests: list[Seen] = field(default_factory=list)
    opened: int = 0
    closed: int = 0
    dropped: int = 0
    active: int = 0
    most_active: int = 0
    url: str = ""
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> HostileServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):  # Server.close_clients() from Python 3.13 on
                writer.transport.abort()
            await self._server.wait_closed()

    def say(self, data: bytes) -> None:
        """Write ``data`` on every open connection now, unasked (an idle connection's "408" as it closes)."""
        for writer in self._writers:
            writer.write(data)

    def paths(self) -> list[str]:
        return [seen.target for seen in self.requests]

    async def wait_closed(self, count: int, within: float = 3.0) -> bool:
        """True once ``count`` connections have been closed (by either side), False after ``within`` s."""
        deadline = time.monotonic() + within
        while self.closed < count and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return self.closed >= count

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.opened
        self.opened += 1
        self._writers.add(writer)
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                seen = _parse(head, number)
                length = int(seen.header("content-length") or 0)
                seen.body = await reader.readexactly(length) if length else b""
                seen.raw = head + seen.body
                self.requests.append(seen)
                handler = ROUTES.get(seen.target.partition("?")[0].rstrip("/") or "/ok", ROUTES["/ok"])
                if not await handler(reader, writer, seen, self):
                    return
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # the client went away, or the test is over
        finally:
            self.active -= 1
            self.closed += 1
            self._writers.discard(writer)
            writer.close()


def _parse(head: bytes, connection: int) -> Seen:
    lines = head.decode("utf-8", "surrogateescape").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = [tuple(p.strip() for p in line.split(":", 1)) for line in lines[1:] if line]
    return Seen(method, target, headers, b"", connection, head)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- nginx
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def nginx_binary() -> str:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed; CI must run the transport matrix against a real nginx")
        pytest.skip("nginx is not installed (apt-get install -y nginx)")
    return binary


def start_nginx(root: Path, locations: str, *, files: dict[str, bytes | int]) -> tuple[subprocess.Popen, str]:
    """nginx serving ``root/site`` (``files``: name → content, or a size for a sparse file of zeros) with
    extra ``locations``; returns the process and its base URL."""
    site = root / "site"
    site.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = site / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, int):
            with path.open("wb") as sparse:
                sparse.truncate(content)  # no disk used: nginx sends zeros
        else:
            path.write_bytes(content)
    port = free_port()
    temp = "".join(
        f"{kind}_temp_path {root}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = root / "nginx.conf"
    config.write_text(f"""
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
user root;
events {{ worker_connections 256; }}
http {{
    {temp}
    access_log off;
    types {{ text/html html; text/plain txt; application/json json; }}
    default_type application/octet-stream;
    keepalive_timeout 30s;
    server {{
        listen 127.0.0.1:{port};
        root {site};
        {locations}
    }}
}}
""")
    process = subprocess.Popen([nginx_binary(), "-c", str(config), "-p", str(root)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("nginx did not start listening within 10 s")


def stop_nginx(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
