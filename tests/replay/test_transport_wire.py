"""``wire.prepare``: the exact bytes a request becomes, and the requests refused before a byte is sent; and
how an answer's JSON body is decoded."""

from __future__ import annotations

import json as jsonlib

import pytest

from tracereplay.replay.transports.base import ErrorKind, Request, RequestFailed, Response
from tracereplay.replay.transports.settings import TransportSettings
from tracereplay.replay.transports.wire import Origin, encode_target, prepare

ORIGIN = Origin.parse("http://127.0.0.1:8080/base/")


def test_origin_host_header_and_prefix():
    assert (ORIGIN.host_header, ORIGIN.prefix, ORIGIN.url) == (
        "127.0.0.1:8080",
        "/base",
        "http://127.0.0.1:8080",
    )
    assert Origin.parse("https://example.test").host_header == "example.test"  # the default port is implied
    assert Origin.parse("http://[::1]:81").host_header == "[::1]:81"
    with pytest.raises(ValueError, match="not an http"):
        Origin.parse("ftp://example.test")


def test_a_request_becomes_these_bytes():
    prepared = prepare(Request("POST", "/é", {"Authorization": "Bearer t"}, {"a": 1}), ORIGIN)
    assert prepared.encode() == (
        b"POST /base/%C3%A9 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: tracereplay\r\n"
        b"Content-Type: application/json\r\nContent-Length: 7\r\nAuthorization: Bearer t\r\n\r\n"
        b'{"a":1}'
    )
    assert prepare(Request("GET", "/x"), ORIGIN).encode() == (
        b"GET /base/x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: tracereplay\r\n\r\n"
    )
    # a POST without a body still says its length; keep-alive off says so
    empty = prepare(Request("POST", "/x"), ORIGIN, keep_alive=False)
    assert (
        ("Content-Length", "0") in empty.headers and ("Connection", "close") in empty.headers and empty.close
    )


def test_user_headers_replace_defaults_case_insensitively_in_place():
    prepared = prepare(Request("GET", "/x", {"HOST": "h", "user-agent": "u", "X-A": "1", "x-a": "2"}), ORIGIN)
    assert prepared.headers == [("HOST", "h"), ("user-agent", "u"), ("x-a", "2")]
    assert prepare(Request("GET", "/x", {"Connection": "close"}), ORIGIN).close


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/ü ber", "/%C3%BC%20ber"),
        ("/%7Euser/%zz", "/%7Euser/%25zz"),
        ("/q?a=1&b=x y", "/q?a=1&b=x%20y"),
        ("/tab\there", "/tab%09here"),
        ("rel", "/rel"),
        ("/😀", "/%F0%9F%98%80"),
    ],
)
def test_paths_are_percent_encoded_as_utf8(path, target):
    assert encode_target(path) == target


@pytest.mark.parametrize(
    "request_",
    [
        Request("GET", "/x", {"X": "a\r\nb"}),
        Request("GET", "/x", {"X": "a\x00"}),
        Request("GET", "/x", {"X:Y": "1"}),
        Request("GET", "/x", {"": "1"}),
        Request("GET", "/x\n"),
        Request("G T", "/x"),
        Request("", "/x"),
        Request("PUT", "/x", {"content-length": "3"}, data=b"four"),
        Request("PUT", "/x", {"Transfer-Encoding": "chunked"}),
    ],
)
def test_unsafe_requests_are_refused_with_a_reason(request_):
    with pytest.raises(RequestFailed) as caught:
        prepare(request_, ORIGIN)
    assert caught.value.kind is ErrorKind.PROTOCOL and caught.value.detail.startswith("request not sent: ")


def test_settings_report_every_problem():
    assert TransportSettings().problems() == []
    bad = TransportSettings(connect_timeout=0, request_timeout=-1, max_body_bytes=-1, max_connections=-2)
    assert len(bad.problems()) == 4


@pytest.mark.parametrize(
    "body",
    [
        b'{"id":"abc","user_id":"u1","n":[1,2.5,-0,true,null]}',
        b"18446744073709551615",  # the largest integer orjson reads exactly
        b'{"id":123456789012345678901234567890}',  # past 64 bits: orjson would make it a float
        b"[-98765432109876543210]",
        b"NaN",  # the standard library reads these; orjson refuses them
        b"[1E400]",
        b"\xef\xbb\xbf{}",
        '{"é":"ü"}'.encode("utf-16"),
        b'"\\ud800"',
    ],
)
def test_json_answers_decode_as_the_standard_library_decodes_them(body):
    decoded = Response(200, {"Content-Type": "application/json"}, body).json()
    # repr: the same values of the same types (an int stays an int, to its last digit; NaN is NaN)
    assert repr(decoded) == repr(jsonlib.loads(body))


@pytest.mark.parametrize("body", [b"{", b"[1,2,]", b'"\xff"', b"<html>"])
def test_what_is_not_json_decodes_to_none(body):
    assert Response(200, {"Content-Type": "application/json"}, body).json() is None
