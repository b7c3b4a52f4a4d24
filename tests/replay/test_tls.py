"""https targets with both HTTP clients, against a real aiohttp server over TLS on 127.0.0.1.

A throwaway CA and server certificates are made with the ``openssl`` CLI; nothing is mocked. Checked:
verification against ``ca_cert`` (and failing without it, as the ``tls`` error kind, the run going on),
``insecure``, the host-name check, SNI, a failed handshake, keep-alive reuse of TLS connections, a bad
``--ca-cert`` file, and the options through a real ``tracereplay run`` process.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tracereplay.errors import ConfigError, InputError
from tracereplay.replay import ErrorKind, Request, RequestFailed, Script, run_async
from tracereplay.replay.config import RunConfig
from tracereplay.replay.tls import client_context
from tracereplay.replay.transports.aiohttp_client import AiohttpTransport
from tracereplay.replay.transports.fast import FastTransport
from tracereplay.replay.transports.settings import TransportSettings
from tracereplay.report import load_run, summarize

CLIENTS = {"fast": FastTransport, "aiohttp": AiohttpTransport}
PEERS = web.AppKey("peers", list)  # the client address (so: the connection) of each request served


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA certificate (PEM): what --ca-cert is given
    cert: Path  # server certificate for localhost and 127.0.0.1, signed by the CA
    key: Path
    other_cert: Path  # signed by the same CA, but for another host name only
    other_key: Path


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True, timeout=60)


def _server_cert(directory: Path, name: str, san: str) -> tuple[Path, Path]:
    """A leaf certificate signed by ca.pem, with the extensions strict verifiers ask for."""
    (directory / f"{name}.ext").write_text(
        f"subjectAltName={san}\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=directory)
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}", "-out", f"{name}.csr",
             cwd=directory)  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-sha256", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=directory,
    )  # fmt: skip
    return directory / f"{name}.pem", directory / f"{name}.key"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=tracereplay test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash", cwd=directory,
    )  # fmt: skip
    cert, key = _server_cert(directory, "server", "DNS:localhost,IP:127.0.0.1")
    other_cert, other_key = _server_cert(directory, "other", "DNS:other.test")
    return Pki(directory / "ca.pem", cert, key, other_cert, other_key)


def hello_app() -> web.Application:
    """Answers /hello; remembers each request's client address, i.e. which connection carried it."""
    app = web.Application()
    app[PEERS] = []

    async def hello(request: web.Request) -> web.Response:
        request.app[PEERS].append(request.transport.get_extra_info("peername"))
        return web.json_response({"hello": "tls"})

    app.router.add_get("/hello", hello)
    return app


def server_context(cert: Path, key: Path, names: list[str] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if names is not None:  # the SNI names clients send (None when they send none)
        context.sni_callback = lambda _sock, name, _ctx: names.append(name)
    return context


@pytest.fixture
async def serve_tls():
    """Start an aiohttp app on 127.0.0.1 (over TLS when given a context); returns (base URL, app)."""
    servers: list[TestServer] = []

    async def start(context: ssl.SSLContext | None) -> tuple[str, web.Application]:
        app = hello_app()
        server = TestServer(app, host="127.0.0.1")
        await server.start_server(ssl=context)
        servers.append(server)
        return str(server.make_url("")).rstrip("/"), app

    yield start
    for server in servers:
        await server.close()


async def fetch(client: str, url: str, context: ssl.SSLContext | None, count: int = 1, parallel: int = 1):
    """``count`` GET /hello in ``parallel`` loops over one transport; the statuses."""
    transport = CLIENTS[client](url, TransportSettings(request_timeout=5.0), ssl_context=context)
    statuses: list[int] = []

    async def loop(n: int) -> None:
        for _ in range(n):
            statuses.append((await transport.send(Request("GET", "/hello"))).status)

    async with transport:
        await asyncio.gather(*(loop(count // parallel) for _ in range(parallel)))
    return statuses


async def failure_of(client: str, url: str, context: ssl.SSLContext | None) -> RequestFailed:
    with pytest.raises(RequestFailed) as caught:
        await fetch(client, url, context)
    return caught.value


@pytest.mark.parametrize("client", CLIENTS)
async def test_verified_with_the_ca_and_connections_are_reused(pki, serve_tls, client):
    url, app = await serve_tls(server_context(pki.cert, pki.key))
    assert url.startswith("https://127.0.0.1:")
    statuses = await fetch(client, url, client_context(ca_cert=pki.ca), count=60, parallel=3)
    assert statuses == [200] * 60
    connections = set(app[PEERS])
    assert 1 <= len(connections) <= 3, f"{len(connections)} TLS connections for 60 requests 3 at a time"


@pytest.mark.parametrize("client", CLIENTS)
async def test_an_unknown_ca_is_a_tls_error_by_default(pki, serve_tls, client):
    url, app = await serve_tls(server_context(pki.cert, pki.key))
    failure = await failure_of(client, url, None)  # no context given: the transports' own default
    assert failure.kind is ErrorKind.TLS, failure
    assert "certificate verify failed" in failure.detail.lower()
    failure = await failure_of(client, url, client_context())
    assert failure.kind is ErrorKind.TLS, failure
    assert app[PEERS] == []  # no request reached the server


@pytest.mark.parametrize("client", CLIENTS)
async def test_insecure_accepts_any_certificate(pki, serve_tls, client):
    url, _ = await serve_tls(server_context(pki.other_cert, pki.other_key))  # wrong name, unknown CA
    assert await fetch(client, url, client_context(insecure=True), count=5) == [200] * 5


@pytest.mark.parametrize("client", CLIENTS)
async def test_the_host_name_is_checked(pki, serve_tls, client):
    url, _ = await serve_tls(server_context(pki.other_cert, pki.other_key))  # trusted CA, for other.test
    failure = await failure_of(client, url, client_context(ca_cert=pki.ca))
    assert failure.kind is ErrorKind.TLS, failure
    assert "127.0.0.1" in failure.detail


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_failed_handshake_is_a_tls_error(serve_tls, client):
    url, _ = await serve_tls(None)  # plain HTTP: the answer to the ClientHello is not TLS
    failure = await failure_of(client, url.replace("http://", "https://"), client_context())
    assert failure.kind is ErrorKind.TLS, failure
    assert "certificate" not in failure.detail.lower()


@pytest.mark.parametrize("client", CLIENTS)
async def test_sni_sends_the_target_host_name(pki, serve_tls, client):
    names: list[str | None] = []
    url, _ = await serve_tls(server_context(pki.cert, pki.key, names))
    port = int(url.rsplit(":", 1)[1])
    if ("127.0.0.1", port) not in {a[4][:2] for a in socket.getaddrinfo("localhost", port, socket.AF_INET)}:
        pytest.skip("localhost does not resolve to 127.0.0.1 here")
    assert await fetch(client, f"https://localhost:{port}", client_context(ca_cert=pki.ca)) == [200]
    assert names == ["localhost"]
    names.clear()
    assert await fetch(client, url, client_context(ca_cert=pki.ca)) == [200]
    assert names == [None]  # an IP address is verified against the certificate, never sent as SNI


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_run_records_tls_failures_and_goes_on(pki, serve_tls, tmp_path, client, caplog):
    url, app = await serve_tls(server_context(pki.cert, pki.key))
    script = Script.from_actions(["GET /hello", "GET /hello", "GET /hello"])
    common = dict(users=2, duration=0.8, think_scale=0, max_rps=150, http=client)
    failed = await run_async(script, target=url, out=str(tmp_path / "no-ca"), **common)
    assert failed.exit_reason == "duration"
    assert failed.requests > 10 and failed.errors == failed.requests  # every user kept going
    frame = pd.read_parquet(tmp_path / "no-ca" / "requests-0.parquet")
    assert set(frame["error_kind"]) == {"tls"} and frame["status"].isna().all()
    assert summarize(load_run(tmp_path / "no-ca")).errors_by_kind() == {"tls": failed.requests}
    warnings = [r.getMessage() for r in caplog.records if r.name == "tracereplay.replay.tls"]
    assert len(warnings) == 1 and "certificate verify failed" in warnings[0].lower(), warnings
    assert "--ca-cert" in warnings[0]  # said once, with what helps
    assert app[PEERS] == []

    for name, tls in (("ca", {"ca_cert": str(pki.ca)}), ("insecure", {"insecure": True})):
        app[PEERS].clear()
        done = await run_async(script, target=url, out=str(tmp_path / name), **common, **tls)
        assert done.exit_reason == "duration" and done.errors == 0 and done.requests > 10, name
        assert len(app[PEERS]) == done.requests
        assert len(set(app[PEERS])) <= 2, f"{name}: {len(set(app[PEERS]))} connections for 2 users"


def test_a_bad_ca_file_is_one_input_error_naming_it(pki, tmp_path):
    target = "https://127.0.0.1:9"
    missing = tmp_path / "missing.pem"
    with pytest.raises(InputError, match=r"missing\.pem: no such CA certificate file"):
        RunConfig(target=target, users=1, ca_cert=str(missing)).validate()
    key_only = tmp_path / "key.pem"
    key_only.write_bytes(pki.key.read_bytes())
    with pytest.raises(InputError, match=r"key\.pem: not a PEM CA certificate"):
        RunConfig(target=target, users=1, ca_cert=str(key_only)).validate()
    damaged = tmp_path / "damaged.pem"
    damaged.write_text(pki.ca.read_text()[:200] + "\n-----END CERTIFICATE-----\n")
    with pytest.raises(InputError, match=r"damaged\.pem: not a valid PEM CA certificate"):
        RunConfig(target=target, users=1, ca_cert=str(damaged)).validate()
    with pytest.raises(ConfigError, match="not both"):
        RunConfig(target=target, users=1, ca_cert=str(pki.ca), insecure=True).validate()
    valid = RunConfig(target=target, users=1, ca_cert=str(pki.ca)).validate()
    assert valid.to_dict()["ca_cert"] == str(pki.ca)


async def tracereplay_run(*args: str) -> tuple[int, str, str]:
    """``tracereplay run`` as a real process; the event loop keeps serving the TLS target meanwhile."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tracereplay", "run", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return process.returncode, out.decode(), err.decode()


async def test_tracereplay_run_with_ca_cert(pki, serve_tls, tmp_path):
    url, app = await serve_tls(server_context(pki.cert, pki.key))
    script = tmp_path / "hello.toml"
    script.write_text('think = "20ms"\nactions = ["GET /hello", "GET /hello"]\n')
    common = ["--target", url, "--users", "2", "--duration", "1500ms", "--max-rps", "100", "-q", "--json"]

    # two workers: the option reaches the spawned worker processes too (uvloop, as every CLI run)
    ok = ("--workers", "2", "--http", "aiohttp", "--ca-cert", str(pki.ca), "-o", str(tmp_path / "ok"))
    code, out, err = await tracereplay_run(str(script), *common, *ok)
    assert code == 0, err
    result = json.loads(out)
    assert result["requests"] > 10 and result["errors"] == 0 and result["workers"] == 2
    assert len(set(app[PEERS])) <= 2 * 2  # a connection per user at most, not one per request
    meta = json.loads((tmp_path / "ok" / "run.json").read_text())
    assert meta["config"]["ca_cert"] == str(pki.ca) and meta["config"]["insecure"] is False

    no_ca = ("--workers", "1", "--http", "fast", "-o", str(tmp_path / "no"))
    code, out, err = await tracereplay_run(str(script), *common, *no_ca)
    assert code == 0, err  # failed requests are results: the run itself ended as planned
    assert err.count("certificate verify failed") == 1 and "--insecure" in err
    result = json.loads(out)
    assert result["requests"] > 10 and result["errors"] == result["requests"]
    assert set(pd.read_parquet(tmp_path / "no" / "requests-0.parquet")["error_kind"]) == {"tls"}

    bad = tmp_path / "ca.der"
    subprocess.run(["openssl", "x509", "-in", pki.ca, "-outform", "DER", "-out", bad], check=True, timeout=30)
    bad_run = ("--ca-cert", str(bad), "-o", str(tmp_path / "bad"))
    code, out, err = await tracereplay_run(str(script), *common, *bad_run)
    assert code == 1 and out == ""
    assert err.startswith("tracereplay: error:") and str(bad) in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_worker_builds_one_tls_context_for_an_https_target_only(pki):
    """An http run builds none (each loads the system's CAs); an https one gets the run's settings, the
    target's scheme read as the URL parser reads it (case, leading blanks)."""
    assert RunConfig(target="http://127.0.0.1:9", users=1, ca_cert=str(pki.ca)).tls_context() is None
    insecure = RunConfig(target=" HTTPS://127.0.0.1:9", users=1, insecure=True).validate().tls_context()
    assert insecure is not None and insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname
    verified = RunConfig(target="https://127.0.0.1:9", users=1, ca_cert=str(pki.ca)).tls_context()
    assert verified is not None and verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
