"""Ingest throughput and memory: OTLP protobuf, OTLP/JSON and access-log dumps → events.parquet, beside peers.

    .venv/bin/python benchmarks/ingest.py                    # 1 M spans / lines, every format, with the peers
    .venv/bin/python benchmarks/ingest.py --spans 5000000 --only otlp --no-peers     # the memory goal
    .venv/bin/python benchmarks/ingest.py --only access-log  # 1 M access-log lines beside a naive re loop

Makes a dump of N server spans (10 attributes each, like an HTTP server's: method, route, path, status,
user, session, user agent, client and server address, protocol) written straight with the protobuf classes
(the Collector file exporter's layout: 4-byte length, then an ExportTraceServiceRequest of 1 000 spans) and
the same spans as OTLP/JSON lines. Every measurement runs in a fresh subprocess pinned to one core (core 0:
the goals are per core), imports included, and reports its own wall time and peak RSS (``ru_maxrss``).
Peers, measured on the same bytes:

* ``ParseFromString`` — protobuf's own decoding of every message, nothing else (the floor for a reader
  that uses the protobuf library);
* a per-span dict loop — decode, then build one dict per span with its attributes (the naive reader),
  without even writing Parquet;
* for JSON: ``orjson.loads`` of every line (the floor) and the same per-span dict loop;
* for access logs: a naive ``re`` loop — one compiled Combined regex matched per line, the timestamp parsed
  with ``datetime.strptime``, one dict a line (what a hand-written log parser does), no Parquet.

The access log is the real ``../shared/data/apache_logs`` (10 000 lines of a real site) repeated to N lines,
each copy shifted by 4 days and given its own client addresses, so that times, users and sessions grow
with N as in a longer real log while the pages stay real.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPANS_PER_MESSAGE = 1000
T0_NS = 1_767_225_600 * 10**9
REAL_LOG = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "apache_logs"
COMBINED = re.compile(r'^(\S+) \S+ (\S+) \[([^\]]+)\] "(\S+) (\S+)[^"]*" (\d{3}) (\S+) "([^"]*)" "([^"]*)"')


# --- making the dumps -------------------------------------------------------------------------------------


def make_protobuf(path: Path, spans: int) -> None:
    """Framed ExportTraceServiceRequest messages; per-span bytes assembled from protobuf-encoded parts."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans, Span, Status

    def kv(key: str, value: str | int) -> bytes:
        any_value = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
        return _field(9, KeyValue(key=key, value=any_value).SerializeToString())

    constant = b"".join(
        [
            kv("http.request.method", "GET"),
            kv("http.route", "/api/v4/channels/{channel_id}/posts"),
            kv("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"),
            kv("server.address", "chat"),
            kv("network.protocol.version", "1.1"),
        ]
    )
    users = [kv("enduser.id", f"user-{u:06d}") for u in range(20_000)]
    clients = [kv("client.address", f"10.0.{u // 250}.{u % 250}") for u in range(20_000)]
    paths = [kv("url.path", f"/api/v4/channels/{c:08x}/posts") for c in range(5_000)]
    statuses = {code: kv("http.response.status_code", code) for code in (200, 404, 500)}
    name = _field(5, Span(name="GET /api/v4/channels/{channel_id}/posts").name.encode())
    kind = Span(kind=Span.SPAN_KIND_SERVER).SerializeToString()
    error_status = _field(15, Status(code=Status.STATUS_CODE_ERROR).SerializeToString())
    resource = _field(
        1,
        Resource(
            attributes=[KeyValue(key="service.name", value=AnyValue(string_value="chat"))]
        ).SerializeToString(),
    )
    scope_header = ScopeSpans().SerializeToString()
    with open(path, "wb") as out:
        for first in range(0, spans, SPANS_PER_MESSAGE):
            encoded = []
            for i in range(first, min(first + SPANS_PER_MESSAGE, spans)):
                user = (i * 7919) % 20_000
                start = T0_NS + i * 1_000_000
                status = 500 if i % 97 == 0 else 404 if i % 31 == 0 else 200
                body = b"".join(
                    [
                        _field(1, i.to_bytes(16, "big")),
                        _field(2, (i + 1).to_bytes(8, "big")),
                        name,
                        kind,
                        b"\x39" + start.to_bytes(8, "little"),  # start_time_unix_nano, fixed64
                        b"\x41" + (start + 4_000_000).to_bytes(8, "little"),  # end_time_unix_nano
                        constant,
                        users[user],
                        clients[user],
                        paths[i % 5_000],
                        statuses[status],
                        kv("session.id", f"s-{user}-{i // 200_000}"),
                        error_status if status == 500 else b"",
                    ]
                )
                encoded.append(_field(2, body))
            scope = _field(2, scope_header + b"".join(encoded))
            message = _field(1, resource + scope)  # ResourceSpans{resource=1, scope_spans=2}, field 1
            out.write(len(message).to_bytes(4, "big") + message)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def make_json(path: Path, spans: int) -> None:
    """The same spans as OTLP/JSON lines (one request of 1 000 spans a line), hex ids, int64 as strings."""
    import orjson

    def attr(key: str, value: str | int) -> dict:
        any_value = {"intValue": str(value)} if isinstance(value, int) else {"stringValue": value}
        return {"key": key, "value": any_value}

    constant = [
        attr("http.request.method", "GET"),
        attr("http.route", "/api/v4/channels/{channel_id}/posts"),
        attr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"),
        attr("server.address", "chat"),
        attr("network.protocol.version", "1.1"),
    ]
    resource = {"attributes": [attr("service.name", "chat")]}
    with open(path, "wb") as out:
        for first in range(0, spans, SPANS_PER_MESSAGE):
            encoded = []
            for i in range(first, min(first + SPANS_PER_MESSAGE, spans)):
                user = (i * 7919) % 20_000
                start = T0_NS + i * 1_000_000
                status = 500 if i % 97 == 0 else 404 if i % 31 == 0 else 200
                span = {
                    "traceId": i.to_bytes(16, "big").hex(),
                    "spanId": (i + 1).to_bytes(8, "big").hex(),
                    "name": "GET /api/v4/channels/{channel_id}/posts",
                    "kind": 2,
                    "startTimeUnixNano": str(start),
                    "endTimeUnixNano": str(start + 4_000_000),
                    "attributes": [
                        *constant,
                        attr("enduser.id", f"user-{user:06d}"),
                        attr("client.address", f"10.0.{user // 250}.{user % 250}"),
                        attr("url.path", f"/api/v4/channels/{i % 5_000:08x}/posts"),
                        attr("http.response.status_code", status),
                        attr("session.id", f"s-{user}-{i // 200_000}"),
                    ],
                    "status": {"code": 2} if status == 500 else {},
                }
                encoded.append(span)
            scope = {"scope": {}, "spans": encoded}
            document = {"resourceSpans": [{"resource": resource, "scopeSpans": [scope]}]}
            out.write(orjson.dumps(document) + b"\n")


def make_access_log(path: Path, lines: int) -> None:
    """The real log repeated to ``lines`` lines: copy k is 4 k days later and its clients are k.x.y.z."""
    from datetime import datetime, timedelta

    real = REAL_LOG.read_bytes().splitlines(keepends=True)
    stamp = re.compile(rb"\[(\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2}) ")
    with open(path, "wb") as out:
        copy = 0
        while lines > 0:
            shift = timedelta(days=4 * copy)

            def later(match: re.Match, shift=shift) -> bytes:
                moment = datetime.strptime(match.group(1).decode(), "%d/%b/%Y:%H:%M:%S") + shift
                return b"[" + moment.strftime("%d/%b/%Y:%H:%M:%S").encode() + b" "

            block = b"".join(real[:lines])
            block = stamp.sub(later, block)
            if copy:  # other clients: the first octet becomes the copy number
                block = re.sub(rb"(?m)^\d+\.", str(copy % 256).encode() + b".", block)
            out.write(block)
            lines -= min(lines, len(real))
            copy += 1


def _frames(path: Path):
    with open(path, "rb") as stream:
        while header := stream.read(4):
            yield stream.read(int.from_bytes(header, "big"))


# --- what each subprocess measures ------------------------------------------------------------------------


def child(mode: str, dump: Path, out: Path) -> dict:
    if hasattr(os, "sched_setaffinity"):  # the goals are for one core: every measurement gets core 0 only
        os.sched_setaffinity(0, {0})
    started = time.perf_counter()
    spans = 0
    if mode == "ingest":
        from tracereplay.ingest import ingest

        summary = ingest([dump], out, salt=b"benchmark")
        spans = summary.spans_read
    elif mode == "parse-floor":
        from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

        for message in _frames(dump):
            data = TracesData.FromString(message)
            spans += sum(len(ss.spans) for rs in data.resource_spans for ss in rs.scope_spans)
    elif mode == "dict-loop":
        from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

        rows = []
        for message in _frames(dump):
            for rs in TracesData.FromString(message).resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        attributes = {
                            kv.key: kv.value.string_value or kv.value.int_value for kv in span.attributes
                        }
                        rows.append(
                            {
                                "name": span.name,
                                "start": span.start_time_unix_nano,
                                "end": span.end_time_unix_nano,
                                "kind": span.kind,
                                **attributes,
                            }
                        )
        spans = len(rows)
    elif mode == "json-floor":
        import orjson

        with open(dump, "rb") as stream:
            for line in stream:
                document = orjson.loads(line)
                spans += sum(len(ss["spans"]) for rs in document["resourceSpans"] for ss in rs["scopeSpans"])
    elif mode == "json-dict-loop":
        rows = []
        with open(dump, "rb") as stream:
            for line in stream:
                for rs in json.loads(line)["resourceSpans"]:
                    for ss in rs["scopeSpans"]:
                        for span in ss["spans"]:
                            attributes = {
                                kv["key"]: next(iter(kv["value"].values())) for kv in span["attributes"]
                            }
                            rows.append(
                                {
                                    "name": span["name"],
                                    "start": int(span["startTimeUnixNano"]),
                                    "end": int(span["endTimeUnixNano"]),
                                    **attributes,
                                }
                            )
        spans = len(rows)
    elif mode == "re-loop":
        from datetime import datetime

        rows = []
        with open(dump, encoding="utf-8", errors="replace") as stream:  # the naive log parser
            for line in stream:
                match = COMBINED.match(line)
                if match is None:
                    continue
                client, user, when, method, target, status, _size, _referer, agent = match.groups()
                rows.append({"client": client, "user": user,
                             "ts": datetime.strptime(when, "%d/%b/%Y:%H:%M:%S %z"), "method": method,
                             "path": target.split("?", 1)[0], "status": int(status), "agent": agent})
        spans = len(rows)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_mb = usage.ru_maxrss / 1024
    # CPU seconds (user + system, imports included): what one core spent, whatever else the machine runs
    cpu = usage.ru_utime + usage.ru_stime
    return {"mode": mode, "spans": spans, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak_mb}


def measure(mode: str, dump: Path, out: Path) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(dump), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the median is shown)")
    parser.add_argument("--only", choices=["otlp", "otlp-json", "access-log"], help="one format only")
    parser.add_argument("--no-peers", action="store_true", help="measure tracereplay only")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "DUMP", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, dump, out = args.child
        print(json.dumps(child(mode, Path(dump), Path(out))))
        return

    with tempfile.TemporaryDirectory(prefix="tracereplay-bench-") as tmp:
        work = Path(tmp)
        protobuf, json_lines = work / "spans.otlp.pb", work / "spans.otlp.jsonl"
        plan = []
        if args.only in (None, "otlp", "otlp-json"):
            _make(make_protobuf, protobuf, args.spans, f"{args.spans:,} spans, protobuf")
        if args.only in (None, "otlp"):
            plan += [("otlp", "ingest", protobuf)]
            if not args.no_peers:
                plan += [("otlp", "parse-floor", protobuf), ("otlp", "dict-loop", protobuf)]
        if args.only in (None, "otlp-json"):
            _make(make_json, json_lines, args.spans, "OTLP/JSON")
            plan += [("otlp-json", "ingest", json_lines)]
            if not args.no_peers:
                plan += [("otlp-json", "json-floor", json_lines), ("otlp-json", "json-dict-loop", json_lines)]
        if args.only in (None, "access-log"):
            access_log = work / "access.log"
            _make(make_access_log, access_log, args.spans, f"an access log of {args.spans:,} lines")
            plan += [("access-log", "ingest", access_log)]
            if not args.no_peers:
                plan += [("access-log", "re-loop", access_log)]
        print(f"\n{'format':10} {'what':16} {'spans/s (median)':>17} {'runs':>30} {'peak RSS':>10}"
              f" {'per CPU-second':>15}")
        baseline: dict[str, float] = {}
        for fmt, mode, dump in plan:
            runs = [measure(mode, dump, work / "events.parquet") for _ in range(args.repeat)]
            rates = [r["spans"] / r["seconds"] for r in runs]
            median = statistics.median(rates)
            baseline.setdefault(fmt, median)
            ratio = "" if mode == "ingest" else f"  (ingest = {baseline[fmt] / median:.2f}×)"
            shown = " ".join(f"{r / 1000:,.0f}k" for r in rates)
            peak = max(r["peak_rss_mb"] for r in runs)
            per_cpu = statistics.median(r["spans"] / r["cpu_seconds"] for r in runs)
            print(f"{fmt:10} {mode:16} {median:>17,.0f} {shown:>30} {peak:>8,.0f}MB {per_cpu:>15,.0f}{ratio}",
                  flush=True)
        load = os.getloadavg()[0]
        print(f"\nmachine: {os.cpu_count()} cores, load {load:.1f}; python {sys.version.split()[0]}")


def _make(make, path: Path, count: int, what: str) -> None:
    started = time.perf_counter()
    make(path, count)
    seconds = time.perf_counter() - started
    print(f"made {what}: {path.stat().st_size / 1e6:,.0f} MB in {seconds:.1f}s", flush=True)


if __name__ == "__main__":
    main()
