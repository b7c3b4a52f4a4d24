"""Both transports against a raw server that misbehaves on purpose (``transport_servers.HostileServer``).

Every case runs through ``FastTransport`` and ``AiohttpTransport``; they must agree, except where RFC 9112
lets a client choose, and those choices are spelled out here and in ``docs/http.md``. Cases named
``bug N`` are the numbered client bugs of issue 14: each failed on the former ``replay/fasthttp.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import pytest

from tracereplay.replay.transports.aiohttp_client import AiohttpTransport
from tracereplay.replay.transports.base import ErrorKind, Request, RequestFailed, Response, Transport
from tracereplay.replay.transports.fast import FastTransport
from tracereplay.replay.transports.settings import MIB, TransportSettings

from .transport_servers import HostileServer

KINDS = {"fast": FastTransport, "aiohttp": AiohttpTransport}


@pytest.fixture(params=sorted(KINDS))
def kind(request) -> str:
    return request.param


@pytest.fixture
async def hostile():
    server = await HostileServer().start()
    yield server
    await server.stop()


def client(kind: str, url: str, **settings) -> Transport:
    return KINDS[kind](url, TransportSettings(**{"request_timeout": 3.0, **settings}))


async def fails(transport: Transport, request: Request, **kwargs) -> RequestFailed:
    with pytest.raises(RequestFailed) as caught:
        await transport.send(request, **kwargs)
    return caught.value


async def timed(coroutine) -> tuple[object, float]:
    start = time.monotonic()
    result = await coroutine
    return result, time.monotonic() - start


GET = Request("GET", "/ok")


# ------------------------------------------------------------------------------------ the numbered bugs
async def test_bug1_a_head_answer_ends_at_its_head(kind, hostile):
    async with client(kind, hostile.url) as transport:
        response, took = await timed(transport.send(Request("HEAD", "/head")))
        assert isinstance(response, Response)
        assert response.status == 200 and response.body == b"" and response.size == 0
        assert response.headers["Content-Length"] == "1000" and took < 1.5  # not the request timeout
        assert (await transport.send(GET)).body == b"ok"  # the next answer is the next request's


@pytest.mark.parametrize("path", ["/continue", "/early-hints"])
async def test_bug2_interim_answers_are_skipped_and_never_answer_the_next_request(kind, hostile, path):
    async with client(kind, hostile.url) as transport:
        response = await transport.send(Request("GET", path))
        assert response.status == 200 and response.body == b"final"
        assert "Link" not in response.headers  # the 103's headers are not the answer's
        assert (await transport.send(GET)).body == b"ok"


async def test_bug3_a_negative_chunk_size_is_a_protocol_error_not_a_frozen_loop(kind, hostile):
    async with client(kind, hostile.url) as transport:
        failure, took = await timed(fails(transport, Request("GET", "/negative-chunk")))
        assert failure.kind is ErrorKind.PROTOCOL and took < 1.5
        assert await hostile.wait_closed(1)  # the connection is dropped, never reused
        assert (await transport.send(GET)).body == b"ok"


async def test_bug5_a_304_has_no_body_whatever_its_length_says(kind, hostile):
    async with client(kind, hostile.url) as transport:
        response, took = await timed(transport.send(Request("GET", "/304")))
        assert isinstance(response, Response)
        assert response.status == 304 and response.body == b"" and took < 1.5
        assert (await transport.send(GET)).body == b"ok"
        assert hostile.opened == 1  # nothing followed the head: the connection is reused


async def test_bug5_a_chunked_204_ends_at_its_head_and_its_stray_chunk_drops_the_connection(kind, hostile):
    # RFC 9112 6.3: a 204 ends at its head; the "0\r\n\r\n" after it is data past the answer, which a
    # client may discard (RFC 9112 / 7230 3.3.3). The fast transport delivers the 204 and closes the
    # connection; aiohttp's parser reads the stray bytes as the next status line and fails the request.
    async with client(kind, hostile.url) as transport:
        if kind == "fast":
            response, took = await timed(transport.send(Request("GET", "/chunked-204")))
            assert isinstance(response, Response) and response.status == 204 and response.body == b""
        else:
            failure, took = await timed(fails(transport, Request("GET", "/chunked-204")))
            assert isinstance(failure, RequestFailed) and failure.kind is ErrorKind.PROTOCOL
        assert took < 1.5  # never the request timeout
        assert await hostile.wait_closed(1)
        assert (await transport.send(GET)).body == b"ok"


async def test_bug5_a_negative_content_length_is_a_protocol_error_at_once(kind, hostile):
    async with client(kind, hostile.url) as transport:
        failure, took = await timed(fails(transport, Request("GET", "/negative-length")))
        assert failure.kind is ErrorKind.PROTOCOL and took < 1.5
        assert await hostile.wait_closed(1)


async def test_bug6_a_folded_header_is_unfolded_and_every_cookie_kept(kind, hostile):
    async with client(kind, hostile.url) as transport:
        response = await transport.send(Request("GET", "/folded"))
        assert response.status == 200 and response.body == b"ok"
        assert response.headers["x-folded"] == "one two"  # RFC 9112 5.2: obs-fold becomes a space
        assert response.headers.getall("Set-Cookie") == ["a=1; Path=/", "b=2"]
        assert len(response.headers) == 4


UNSAFE = [
    pytest.param(
        Request("GET", "/ok", {"X-Evil": "1\r\nGET /smuggled HTTP/1.1\r\nHost: x"}), "X-Evil", id="crlf"
    ),
    pytest.param(Request("GET", "/ok", {"X-Evil": "1\nGET /smuggled HTTP/1.1"}), "X-Evil", id="lf"),
    pytest.param(Request("GET", "/ok", {"X-Evil": "1\rx"}), "X-Evil", id="cr"),
    pytest.param(Request("GET", "/ok", {"X-Evil": "a\x00b"}), "X-Evil", id="nul"),
    pytest.param(Request("GET", "/ok", {"X-Evil\r\nX-Smuggled": "1"}), "X-Evil", id="crlf-name"),
    pytest.param(Request("GET", "/ok", {"Bad Name": "1"}), "Bad Name", id="space-name"),
    pytest.param(Request("GET", "/ok HTTP/1.1\r\nX: y"), "path", id="crlf-path"),
    pytest.param(Request("GET", "/ok\x00"), "path", id="nul-path"),
    pytest.param(Request("GET /smuggled HTTP/1.1\r\n", "/ok"), "method", id="crlf-method"),
    pytest.param(
        Request("GET", "/ok", {"Content-Length": "50"}, data=b"short"), "Content-Length", id="wrong-cl"
    ),
    pytest.param(
        Request("POST", "/ok", {"Transfer-Encoding": "chunked"}, data=b"x"), "Transfer-Encoding", id="te"
    ),
]


@pytest.mark.parametrize(("request_", "named"), UNSAFE)
async def test_bug7_an_unsafe_request_is_a_protocol_error_and_never_sent(kind, hostile, request_, named):
    async with client(kind, hostile.url) as transport:
        failure = await fails(transport, request_)
        assert failure.kind is ErrorKind.PROTOCOL and named in failure.detail and "not sent" in failure.detail
        assert hostile.opened == 0 and hostile.requests == []  # not one byte went out
        assert (await transport.send(GET)).body == b"ok"
        assert hostile.paths() == ["/ok"]


async def test_bug8_user_headers_replace_the_defaults_never_duplicate_them(kind, hostile):
    headers = {"host": "example.test", "content-length": "7", "User-Agent": "me", "X-Trace": "é"}
    async with client(kind, hostile.url) as transport:
        await transport.send(Request("POST", "/echo", headers, data=b"payload"))
        await transport.send(
            Request("POST", "/echo", {"Content-Type": "text/x", "X-A": "1", "x-a": "2"}, {"j": 1})
        )
    first, second = hostile.requests
    assert sorted(first.header_names()) == ["content-length", "host", "user-agent", "x-trace"]
    assert (first.header("Host"), first.header("User-Agent"), first.body) == (
        "example.test",
        "me",
        b"payload",
    )
    assert first.header("X-Trace") == "é"  # sent as UTF-8
    names = second.header_names()
    assert sorted(names) == ["content-length", "content-type", "host", "user-agent", "x-a"]
    assert (
        second.header("Content-Type") == "text/x"
        and second.header("x-a") == "2"
        and second.body == b'{"j":1}'
    )


TARGETS = [
    ("/é/日本", None, "/%C3%A9/%E6%97%A5%E6%9C%AC"),  # UTF-8, each byte %XX
    ("/a b", None, "/a%20b"),
    ("/a%20b/%C3%A9", None, "/a%20b/%C3%A9"),  # already encoded: kept
    ("/100%/x%zz", None, "/100%25/x%25zz"),  # a % that starts no escape is encoded
    ("/x?q=a b&r=é", None, "/x?q=a%20b&r=%C3%A9"),
    ("/frag#x", None, "/frag%23x"),  # no fragment is ever sent: '#' is data
    ("no-slash", None, "/no-slash"),
    ("/p", {"q": "a b", "r": "é&"}, "/p?q=a+b&r=%C3%A9%26"),  # params: form-encoded
    ("/p?x=1", {"y": "2"}, "/p?x=1&y=2"),
    ("/keep/:@!$&'()*+,;=-._~", None, "/keep/:@!$&'()*+,;=-._~"),
]


@pytest.mark.parametrize(("path", "params", "sent"), TARGETS)
async def test_bug9_paths_are_percent_encoded_as_utf8(kind, hostile, path, params, sent):
    async with client(kind, hostile.url) as transport:
        assert (await transport.send(Request("GET", path, params=params))).status == 200
    assert hostile.paths() == [sent]


async def test_bug10_two_different_content_lengths_are_refused_and_the_connection_dropped(kind, hostile):
    async with client(kind, hostile.url) as transport:
        await transport.send(GET)
        failure = await fails(transport, Request("GET", "/two-lengths"))
        assert failure.kind is ErrorKind.PROTOCOL
        assert await hostile.wait_closed(1)
        assert (await transport.send(GET)).body == b"ok"
    assert [seen.connection for seen in hostile.requests] == [0, 0, 1]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_bug11_a_non_idempotent_request_is_never_retried_after_a_close(kind, hostile, method):
    async with client(kind, hostile.url) as transport:
        await transport.send(GET)  # a pooled connection, reused below
        failure = await fails(transport, Request(method, "/drop-once", data=b"order #1"))
        assert failure.kind is ErrorKind.RESET
        await asyncio.sleep(0.1)
    assert hostile.paths() == ["/ok", "/drop-once"]  # the order was placed once, whatever happened to it


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_an_idempotent_request_is_retried_once_after_a_close(kind, hostile, method):
    async with client(kind, hostile.url) as transport:
        await transport.send(GET)
        response = await transport.send(Request(method, "/drop-once"))
        assert response.body == b"second time"
        failure = await fails(transport, Request(method, "/drop"))  # dropped every time: once more only
        assert failure.kind is ErrorKind.RESET
    assert hostile.paths() == ["/ok", "/drop-once", "/drop-once", "/drop", "/drop"]


async def test_bug12_cancelled_sends_abort_their_connections(kind, hostile):
    transport = client(kind, hostile.url)
    async with transport:
        tasks = [asyncio.create_task(transport.send(Request("GET", "/hang"))) for _ in range(20)]
        deadline = time.monotonic() + 5
        while len(hostile.requests) < 20 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert len(hostile.requests) == 20
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert await hostile.wait_closed(20), f"{hostile.opened - hostile.closed} connections left open"


async def test_aclose_aborts_sends_in_flight_and_later_sends_fail(kind, hostile):
    transport = client(kind, hostile.url)
    tasks = [asyncio.create_task(transport.send(Request("GET", "/hang"))) for _ in range(5)]
    deadline = time.monotonic() + 5
    while len(hostile.requests) < 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await transport.aclose()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 3)
    assert all(isinstance(r, RequestFailed | asyncio.CancelledError) for r in results), results
    assert await hostile.wait_closed(5)
    assert (await fails(transport, GET)).kind is ErrorKind.RESET


# ------------------------------------------------------------------------------------ framing and bodies
async def test_chunked_bodies_across_reads_and_bare_lf_heads(kind, hostile):
    async with client(kind, hostile.url) as transport:
        assert (await transport.send(Request("GET", "/chunked"))).body == b"hello world"
        lf = await transport.send(Request("GET", "/bare-lf"))  # RFC 9112 2.2: a recipient MAY accept LF
        assert lf.body == b"ok" and lf.headers["X-Lf"] == "yes"


async def test_a_body_without_length_ends_when_the_server_closes(kind, hostile):
    async with client(kind, hostile.url) as transport:
        for _ in range(2):  # a new connection each time: the server closes
            response = await transport.send(Request("GET", "/until-close"))
            assert response.status == 200 and response.body == b"all of it"
    assert hostile.opened == 2


async def test_bytes_after_a_complete_answer_close_the_connection(kind, hostile):
    async with client(kind, hostile.url) as transport:
        assert (await transport.send(Request("GET", "/leftover"))).body == b"ok"
        assert await hostile.wait_closed(1)
        assert (await transport.send(GET)).body == b"ok"  # not the STALE answer nobody asked for
    assert [seen.connection for seen in hostile.requests] == [0, 1]


async def test_connection_close_is_honoured(kind, hostile):
    async with client(kind, hostile.url) as transport:
        assert (await transport.send(Request("GET", "/connection-close"))).body == b"bye"
        assert (await transport.send(GET)).body == b"ok"
    assert [seen.connection for seen in hostile.requests] == [0, 1]


async def test_a_body_cut_by_a_close_is_a_reset(kind, hostile):
    async with client(kind, hostile.url) as transport:
        assert (await fails(transport, Request("GET", "/close-mid-body"))).kind is ErrorKind.RESET


async def test_a_body_past_max_body_bytes_is_counted_and_dropped(kind, hostile):
    async with client(kind, hostile.url, max_body_bytes=MIB) as transport:
        response = await transport.send(Request("GET", "/huge?mib=4"))
        assert response.status == 200 and len(response.body) == MIB and response.size == 4 * MIB
        assert response.truncated and response.body == b"z" * MIB and response.json() is None
        assert (await transport.send(GET)).body == b"ok"
    assert [seen.connection for seen in hostile.requests] == [0, 0]  # read to its end: reusable


@pytest.mark.parametrize(
    "path",
    [
        "/switch",  # 101 nobody asked for
        "/garbage",  # not HTTP
        "/nul-header",  # NUL in a header value (RFC 9110 5.5)
        "/huge-head",  # a 100 kB header line: more than either client reads
        "/length-and-chunked",  # RFC 9112 6.1: "ought to be handled as an error"
    ],
)
async def test_invalid_answers_are_protocol_errors_and_drop_the_connection(kind, hostile, path):
    async with client(kind, hostile.url) as transport:
        failure, took = await timed(fails(transport, Request("GET", path)))
        assert failure.kind is ErrorKind.PROTOCOL, failure
        assert took < 1.5
        assert await hostile.wait_closed(1)
        assert (await transport.send(GET)).body == b"ok"


async def test_repeated_equal_content_lengths_are_refused(kind, hostile):
    # RFC 9112 6.3 lets a recipient either reject or merge them; both transports reject (llhttp's choice)
    async with client(kind, hostile.url) as transport:
        assert (await fails(transport, Request("GET", "/same-lengths"))).kind is ErrorKind.PROTOCOL


# ------------------------------------------------------------------------------------ time and connections
async def test_a_trickling_answer_is_cut_at_the_deadline(kind, hostile):
    async with client(kind, hostile.url, request_timeout=0.5) as transport:
        failure, took = await timed(fails(transport, Request("GET", "/trickle")))
        assert failure.kind is ErrorKind.TIMEOUT and 0.4 < took < 2.0


async def test_a_per_request_timeout_overrides_the_setting(kind, hostile):
    async with client(kind, hostile.url, request_timeout=10) as transport:
        failure, took = await timed(fails(transport, Request("GET", "/hang"), timeout=0.3))
        assert failure.kind is ErrorKind.TIMEOUT and 0.25 < took < 1.5
        assert (await transport.send(Request("GET", "/slow"), timeout=5)).body == b"slow"


async def test_each_request_on_a_reused_connection_keeps_its_own_deadline(kind, hostile):
    # the fast transport keeps one timer per connection, armed by an earlier request: a later request's
    # deadline, shorter or longer, is the one that counts
    async with client(kind, hostile.url) as transport:
        assert (await transport.send(GET, timeout=0.25)).body == b"ok"
        for _ in range(5):  # 0.5 s on the same connection, past the first request's deadline
            assert (await transport.send(Request("GET", "/slow"), timeout=5)).body == b"slow"
        assert (await transport.send(GET, timeout=10)).body == b"ok"
        failure, took = await timed(fails(transport, Request("GET", "/hang"), timeout=0.3))
        assert failure.kind is ErrorKind.TIMEOUT and 0.25 < took < 1.5
        assert hostile.opened == 1  # all on one connection


async def test_the_connect_timeout_bounds_connecting(kind):
    # a listener that never accepts, its backlog full: further connection attempts hang in SYN_SENT
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        try:
            async with client(kind, f"http://127.0.0.1:{port}", connect_timeout=0.3, request_timeout=10) as t:
                failure, took = await timed(fails(t, GET))
            assert failure.kind is ErrorKind.TIMEOUT and took < 2.0, (failure, took)
        finally:
            for filler in fillers:
                filler.close()


async def test_a_refused_connection_is_a_connect_failure(kind):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: refused
        async with client(kind, f"http://127.0.0.1:{port}") as transport:
            assert (await fails(transport, GET)).kind is ErrorKind.CONNECT


async def test_keep_alive_reuses_one_connection_in_turn(kind, hostile):
    async with client(kind, hostile.url) as transport:
        for _ in range(3):
            assert (await transport.send(GET)).body == b"ok"
    assert hostile.opened == 1


async def test_keep_alive_off_closes_every_connection(kind, hostile):
    async with client(kind, hostile.url, keep_alive=False) as transport:
        for _ in range(3):
            assert (await transport.send(GET)).body == b"ok"
    assert hostile.opened == 3 and all(s.header("Connection") == "close" for s in hostile.requests)


async def test_max_connections_caps_open_connections(kind, hostile):
    async with client(kind, hostile.url, max_connections=2) as transport:
        answers = await asyncio.gather(*(transport.send(Request("GET", "/slow")) for _ in range(8)))
    assert [a.body for a in answers] == [b"slow"] * 8 and hostile.most_active <= 2


async def test_both_transports_put_the_same_request_on_the_wire(hostile):
    request = Request("POST", "/echo/é x", {"Authorization": "Bearer t", "Cookie": "a=1"}, {"k": [1, "é"]})
    for kind in KINDS:
        async with client(kind, hostile.url) as transport:
            await transport.send(request)
    fast, aio = (seen.raw for seen in hostile.requests)
    assert sorted(fast.split(b"\r\n")) == sorted(aio.split(b"\r\n"))
