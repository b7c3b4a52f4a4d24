"""Both transports against a real nginx on 127.0.0.1 (Debian's nginx, run as a non-daemon child).

nginx is the well-behaved peer: what it accepts and answers is what a staging server does. ``$connection``
and ``$connection_requests`` in its answers tell which connection served a request, so keep-alive reuse
is read from the server's side.
"""

from __future__ import annotations

import pytest

from tracereplay.replay.transports.aiohttp_client import AiohttpTransport
from tracereplay.replay.transports.base import ErrorKind, Request, RequestFailed, Transport
from tracereplay.replay.transports.fast import FastTransport
from tracereplay.replay.transports.settings import MIB, TransportSettings

from .transport_servers import start_nginx, stop_nginx

KINDS = {"fast": FastTransport, "aiohttp": AiohttpTransport}
PAGE = b"<html><body>home, sweet home</body></html>"
LOCATIONS = r"""
    location = /conn { return 200 "$connection $connection_requests"; }
    location = /seen { return 200 "$request_method $request_uri|$http_host|$content_length|$http_user_agent";
    }
    location = /nothing { return 204; }
    location = /moved { return 302 /index.html; }
    location = /limited { keepalive_requests 2; return 200 "$connection $connection_requests"; }
    location = /sub.html { sub_filter 'home' 'HOME'; sub_filter_once off; }
"""


@pytest.fixture(scope="module")
def nginx(tmp_path_factory):
    files: dict[str, bytes | int] = {
        "index.html": PAGE,
        "sub.html": PAGE,  # sub_filter drops the length: nginx answers chunked
        "é.txt": b"non-Latin-1 name",
        "a b.txt": b"a space",
        "big.bin": 64 * MIB,  # sparse: zeros, no disk
    }
    process, url = start_nginx(tmp_path_factory.mktemp("nginx"), LOCATIONS, files=files)
    yield url
    stop_nginx(process)


@pytest.fixture(params=sorted(KINDS))
def kind(request) -> str:
    return request.param


def client(kind: str, url: str, **settings) -> Transport:
    return KINDS[kind](url, TransportSettings(**{"request_timeout": 5.0, **settings}))


async def test_keep_alive_one_connection_serves_requests_in_turn(kind, nginx):
    async with client(kind, nginx) as transport:
        answers = [(await transport.send(Request("GET", "/conn"))).body.split() for _ in range(3)]
    assert len({connection for connection, _ in answers}) == 1
    assert [count for _, count in answers] == [b"1", b"2", b"3"]


async def test_head_ends_at_its_head_and_the_connection_is_reused(kind, nginx):
    async with client(kind, nginx) as transport:
        head = await transport.send(Request("HEAD", "/index.html"))
        assert head.status == 200 and head.body == b"" and head.headers["Content-Length"] == str(len(PAGE))
        get = await transport.send(Request("GET", "/index.html"))
        assert get.body == PAGE and get.size == len(PAGE) and get.headers["Content-Type"] == "text/html"
        first, _ = (await transport.send(Request("GET", "/conn"))).body.split()
        second, count = (await transport.send(Request("GET", "/conn"))).body.split()
        assert first == second and count != b"1"


async def test_user_host_and_content_length_replace_the_defaults(kind, nginx):
    # sent twice, nginx answers 400 ("client sent duplicate host header")
    headers = {"host": "staging.example", "Content-Length": "5", "User-Agent": "replayer"}
    async with client(kind, nginx) as transport:
        answer = await transport.send(Request("POST", "/seen", headers, data=b"hello"))
    assert answer.status == 200 and answer.body == b"POST /seen|staging.example|5|replayer"


@pytest.mark.parametrize(
    ("path", "body"),
    [("/é.txt", b"non-Latin-1 name"), ("/a b.txt", b"a space"), ("/a%20b.txt", b"a space")],
)
async def test_paths_are_percent_encoded_as_utf8(kind, nginx, path, body):
    async with client(kind, nginx) as transport:
        answer = await transport.send(Request("GET", path))
    assert (answer.status, answer.body) == (200, body)


async def test_chunked_204_304_and_redirects(kind, nginx):
    async with client(kind, nginx) as transport:
        chunked = await transport.send(Request("GET", "/sub.html"))
        assert (
            chunked.headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in chunked.headers
        )
        assert chunked.body == PAGE.replace(b"home", b"HOME")
        assert (await transport.send(Request("GET", "/nothing"))).status == 204
        etag = (await transport.send(Request("GET", "/index.html"))).headers["ETag"]
        cached = await transport.send(Request("GET", "/index.html", {"If-None-Match": etag}))
        assert cached.status == 304 and cached.body == b""
        moved = await transport.send(Request("GET", "/moved"))  # never followed: the next action decides
        assert moved.status == 302 and moved.headers["Location"].endswith("/index.html")
        assert (await transport.send(Request("GET", "/missing"))).status == 404
        _, count = (await transport.send(Request("GET", "/conn"))).body.split()
        assert count == b"7"  # every answer above came on one connection


async def test_a_server_closing_after_keepalive_requests_is_followed(kind, nginx):
    async with client(kind, nginx) as transport:
        answers = [(await transport.send(Request("GET", "/limited"))).body.split() for _ in range(5)]
    assert [count for _, count in answers] == [b"1", b"2", b"1", b"2", b"1"]
    assert len({connection for connection, _ in answers}) == 3


async def test_a_large_body_is_counted_past_max_body_bytes(kind, nginx):
    async with client(kind, nginx, max_body_bytes=MIB) as transport:
        answer = await transport.send(Request("GET", "/big.bin"))
        assert answer.status == 200 and answer.size == 64 * MIB
        assert answer.body == bytes(MIB) and answer.truncated
        assert (await transport.send(Request("GET", "/index.html"))).body == PAGE


async def test_a_smuggling_attempt_never_reaches_nginx(kind, nginx):
    evil = Request("GET", "/conn", {"X-A": "1\r\nContent-Length: 0\r\n\r\nGET /seen HTTP/1.1"})
    async with client(kind, nginx) as transport:
        with pytest.raises(RequestFailed) as caught:
            await transport.send(evil)
        assert caught.value.kind is ErrorKind.PROTOCOL
        _, count = (await transport.send(Request("GET", "/conn"))).body.split()
    assert count == b"1"  # the first request nginx saw on its first connection
