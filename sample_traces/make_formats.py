"""Write the small per-format sample dumps under sample_traces/<format>/, each with its expected table.

One population of a web shop's users (seeded, so the same bytes come out each time) is written as:

  otlp-json/traces.jsonl    OTLP/JSON lines (collector file exporter), from OpenTelemetry SDK spans
  zipkin/spans.json         Zipkin v2 JSON, from the SDK spans through opentelemetry-exporter-zipkin-json
  jaeger/traces.json        Jaeger UI / query API download ({"data": [trace…]}, processes by id)
  segment/events.jsonl      Segment track/page/identify calls
  mixpanel/export.jsonl     Mixpanel raw export (properties.time in seconds)
  snowplow/enriched.tsv     Snowplow enriched events, TSV (131 fields)
  snowplow/enriched.jsonl   the same as JSON (the analytics SDKs' shape)
  csv/events.csv            a plain CSV (uid, when, event, session) for --columns

Each folder's expected.csv is the ground truth of the population (not an ingest result): one row a user
action, with the raw user id, the population's session number, the action name that format yields, and
the HTTP fields where the format has them. Trace formats also carry noise that ingest must drop (a client
child span per request, a health probe with no user); Segment has identify calls.

    .venv/bin/python sample_traces/make_formats.py          # needs the test extra (opentelemetry-sdk …)
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
T0_NS = 1_767_258_000 * 10**9  # 2026-01-01T09:00:00Z
SESSION_PAUSE_S = 2 * 3600     # longer than the default 30 min session gap

# (method, route, path template, analytics event name)
ROUTES = (
    ("GET", "/", "/", "Viewed Home"),
    ("GET", "/products/{product_id}", "/products/{}", "Viewed Product"),
    ("POST", "/cart/items", "/cart/items", "Added To Cart"),
    ("GET", "/cart", "/cart", "Viewed Cart"),
    ("POST", "/checkout", "/checkout", "Checked Out"),
)


@dataclass(frozen=True)
class Action:
    user: str
    session: int          # population session number (ground truth)
    session_id: str       # what a client would send as session.id
    ts_ns: int
    duration_ns: int
    route: int
    path: str
    status: int


def population(seed: int = 3) -> list[Action]:
    rng = np.random.default_rng(seed)
    out: list[Action] = []
    session = 0
    for u in range(4):
        t = T0_NS + u * 7 * 10**9
        for _ in range(2):
            for step in range(int(rng.integers(3, 7))):
                route = 0 if step == 0 else int(rng.integers(1, len(ROUTES)))
                template = ROUTES[route][2]
                path = template.format(int(rng.integers(100, 999))) if "{}" in template else template
                duration = int(rng.integers(3, 60)) * 10**6
                status = 503 if rng.random() < 0.08 else 200
                out.append(Action(f"customer-{u}", session, f"sid{u}x{session}", t, duration, route, path,
                                  status))
                t += duration + int(rng.uniform(2, 40) * 1e9)
            session += 1
            t += SESSION_PAUSE_S * 10**9
    return sorted(out, key=lambda a: a.ts_ns)


def _iso(ns: int, digits: int = 3) -> str:
    moment = datetime.fromtimestamp(ns // 10**9, tz=UTC)
    fraction = f"{ns % 10**9:09d}"[:digits]
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction}Z"


def _write_expected(folder: Path, actions: list[Action], *, analytics: bool, ts_unit_ns: int = 1,
                    rounded: bool = False) -> None:
    with open(folder / "expected.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ts_ns", "user", "session", "action", "method", "route", "path", "status", "error"])
        for a in actions:
            method, route, _, event = ROUTES[a.route]
            units = (a.ts_ns + ts_unit_ns // 2) // ts_unit_ns if rounded else a.ts_ns // ts_unit_ns
            ts = units * ts_unit_ns
            if analytics:
                writer.writerow([ts, a.user, a.session, event, "", "", "", "", ""])
            else:
                writer.writerow([ts, a.user, a.session, f"{method} {route}", method, route, a.path, a.status,
                                 a.status >= 500])


# --- trace formats ----------------------------------------------------------------------------------------

def _sdk_spans(actions: list[Action]) -> list:
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.trace import SpanKind, Status, StatusCode

    class Seeded(IdGenerator):  # stable ids, so the files are reproducible
        def __init__(self) -> None:
            self.rng = np.random.default_rng(11)

        def generate_span_id(self) -> int:
            return int(self.rng.integers(1, 2**63))

        def generate_trace_id(self) -> int:
            return int(self.rng.integers(1, 2**63)) << 64 | int(self.rng.integers(1, 2**63))

    exporter = InMemorySpanExporter()
    # Resource(...) rather than Resource.create(...): no random service.instance.id, reproducible bytes
    provider = TracerProvider(resource=Resource({"service.name": "shop"}), id_generator=Seeded())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("sample_traces.make_formats")
    for a in actions:
        method, route, _, _ = ROUTES[a.route]
        attributes = {"http.request.method": method, "http.route": route, "url.path": a.path,
                      "http.response.status_code": a.status, "enduser.id": a.user, "session.id": a.session_id,
                      "user_agent.original": "Mozilla/5.0 (sample)"}
        span = tracer.start_span(f"{method} {route}", kind=SpanKind.SERVER, start_time=a.ts_ns,
                                 attributes=attributes)
        child = tracer.start_span("SELECT shop", kind=SpanKind.CLIENT,
                                  context=trace.set_span_in_context(span), start_time=a.ts_ns + 1_000_000,
                                  attributes={"db.system": "postgresql"})
        child.end(end_time=a.ts_ns + 2_000_000)
        if a.status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=a.ts_ns + a.duration_ns)
    probe = tracer.start_span("GET /healthz", kind=SpanKind.SERVER, start_time=actions[0].ts_ns + 500,
                              attributes={"http.request.method": "GET", "url.path": "/healthz",
                                          "http.response.status_code": 200})
    probe.end(end_time=actions[0].ts_ns + 900_500)
    return list(exporter.get_finished_spans())


def write_otlp_json(actions: list[Action]) -> None:
    import base64

    from google.protobuf import json_format
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    folder = HERE / "otlp-json"
    folder.mkdir(exist_ok=True)
    document = json_format.MessageToDict(encode_spans(_sdk_spans(actions)), use_integers_for_enums=True)
    lines = []
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:  # OTLP/JSON ids are hex, not protobuf JSON's base64
                        span[key] = base64.b64decode(span[key]).hex()
            # the collector's file exporter writes one request a line; split per scope for a few lines
            for i in range(0, len(scope_spans["spans"]), 10):
                part = dict(scope_spans, spans=scope_spans["spans"][i:i + 10])
                lines.append(json.dumps({"resourceSpans": [dict(resource_spans, scopeSpans=[part])]}))
    (folder / "traces.jsonl").write_text("\n".join(lines) + "\n")
    _write_expected(folder, actions, analytics=False)


def write_zipkin(actions: list[Action]) -> None:
    from opentelemetry.exporter.zipkin.json.v2 import JsonV2Encoder
    from opentelemetry.exporter.zipkin.node_endpoint import NodeEndpoint

    folder = HERE / "zipkin"
    folder.mkdir(exist_ok=True)
    endpoint = NodeEndpoint(ipv4="10.1.0.5", port=8080)
    endpoint.service_name = "shop"
    spans = json.loads(JsonV2Encoder().serialize(_sdk_spans(actions), endpoint))
    (folder / "spans.json").write_text(json.dumps(spans, indent=1))
    _write_expected(folder, actions, analytics=False, ts_unit_ns=1000, rounded=True)  # the encoder rounds


def write_jaeger(actions: list[Action]) -> None:
    folder = HERE / "jaeger"
    folder.mkdir(exist_ok=True)
    traces = []
    for i, a in enumerate(actions):
        method, route, _, _ = ROUTES[a.route]
        trace_id = f"{i + 1:032x}"
        tags = [{"key": "span.kind", "type": "string", "value": "server"},
                {"key": "http.method", "type": "string", "value": method},
                {"key": "http.route", "type": "string", "value": route},
                {"key": "http.target", "type": "string", "value": a.path},
                {"key": "http.status_code", "type": "int64", "value": a.status},
                {"key": "enduser.id", "type": "string", "value": a.user},
                {"key": "session.id", "type": "string", "value": a.session_id}]
        if a.status >= 500:
            tags.append({"key": "error", "type": "bool", "value": True})
        server = {"traceID": trace_id, "spanID": f"{2 * i + 1:016x}", "operationName": f"{method} {route}",
                  "references": [], "startTime": a.ts_ns // 1000, "duration": a.duration_ns // 1000,
                  "tags": tags, "logs": [], "processID": "p1", "warnings": None}
        client = {"traceID": trace_id, "spanID": f"{2 * i + 2:016x}", "operationName": "SELECT shop",
                  "references": [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": server["spanID"]}],
                  "startTime": a.ts_ns // 1000 + 1000, "duration": 1000,
                  "tags": [{"key": "span.kind", "type": "string", "value": "client"}], "logs": [],
                  "processID": "p1", "warnings": None}
        processes = {"p1": {"serviceName": "shop", "tags": [{"key": "hostname", "type": "string",
                                                              "value": "shop-1"}]}}
        traces.append({"traceID": trace_id, "spans": [server, client], "processes": processes,
                       "warnings": None})
    document = {"data": traces, "total": 0, "limit": 0, "offset": 0, "errors": None}
    (folder / "traces.json").write_text(json.dumps(document, indent=1))
    _write_expected(folder, actions, analytics=False, ts_unit_ns=1000)


# --- analytics formats ------------------------------------------------------------------------------------

def write_segment(actions: list[Action]) -> None:
    folder = HERE / "segment"
    folder.mkdir(exist_ok=True)
    lines = []
    for i, a in enumerate(actions):
        event = ROUTES[a.route][3]
        if i % 7 == 0:  # identify calls describe the user, they are not actions
            lines.append({"type": "identify", "userId": a.user, "traits": {"plan": "free"},
                          "timestamp": _iso(a.ts_ns - 10**6), "messageId": f"id-{i}"})
        call = {"type": "track", "event": event, "userId": a.user, "anonymousId": f"anon-{a.user}",
                "properties": {"path": a.path}, "context": {"sessionId": a.session_id},
                "timestamp": _iso(a.ts_ns), "messageId": f"msg-{i}"}
        if a.route == 0:
            call = {"type": "page", "name": event, "userId": a.user, "properties": {"path": a.path},
                    "context": {"sessionId": a.session_id}, "timestamp": _iso(a.ts_ns),
                    "messageId": f"msg-{i}"}
        lines.append(call)
    (folder / "events.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    _write_expected(folder, actions, analytics=True, ts_unit_ns=10**6)


def write_mixpanel(actions: list[Action]) -> None:
    folder = HERE / "mixpanel"
    folder.mkdir(exist_ok=True)
    lines = [json.dumps({"event": ROUTES[a.route][3],
                         "properties": {"time": a.ts_ns // 10**9, "distinct_id": a.user,
                                        "$insert_id": f"i{i}", "mp_lib": "web",
                                        "$current_url": f"https://shop.example{a.path}"}})
             for i, a in enumerate(actions)]
    (folder / "export.jsonl").write_text("\n".join(lines) + "\n")
    _write_expected(folder, actions, analytics=True, ts_unit_ns=10**9)


def write_snowplow(actions: list[Action]) -> None:
    from tracereplay.ingest.readers.snowplow import FIELDS

    folder = HERE / "snowplow"
    folder.mkdir(exist_ok=True)
    tsv, jsonl = [], []
    for i, a in enumerate(actions):
        record = dict.fromkeys(FIELDS, "")
        moment = _iso(a.ts_ns).replace("T", " ").rstrip("Z")
        record.update({
            "app_id": "shop", "platform": "web", "collector_tstamp": moment, "dvce_created_tstamp": moment,
            "derived_tstamp": moment, "event": "unstruct", "event_id": f"00000000-0000-4000-8000-{i:012d}",
            "v_collector": "ssc-2.0", "v_etl": "snowplow-enrich-3", "domain_userid": f"duid-{a.user}",
            "user_id": a.user, "domain_sessionid": a.session_id, "page_urlpath": a.path,
            "event_vendor": "com.shop", "event_name": ROUTES[a.route][3].lower().replace(" ", "_"),
            "event_format": "jsonschema", "event_version": "1-0-0",
        })
        tsv.append("\t".join(record[name] for name in FIELDS))
        as_json = {k: v for k, v in record.items() if v}
        for key in ("collector_tstamp", "dvce_created_tstamp", "derived_tstamp"):
            as_json[key] = _iso(a.ts_ns)
        jsonl.append(json.dumps(as_json))
    (folder / "enriched.tsv").write_text("\n".join(tsv) + "\n")
    (folder / "enriched.jsonl").write_text("\n".join(jsonl) + "\n")
    with open(folder / "expected.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ts_ns", "user", "session", "action", "method", "route", "path", "status", "error"])
        for a in actions:
            writer.writerow([a.ts_ns // 10**6 * 10**6, a.user, a.session,
                             ROUTES[a.route][3].lower().replace(" ", "_"), "", "", "", "", ""])


def write_csv(actions: list[Action]) -> None:
    folder = HERE / "csv"
    folder.mkdir(exist_ok=True)
    with open(folder / "events.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["uid", "when", "event", "visit"])
        for a in actions:
            writer.writerow([a.user, a.ts_ns // 10**6, ROUTES[a.route][3], a.session_id])
    _write_expected(folder, actions, analytics=True, ts_unit_ns=10**6)


def main() -> None:
    actions = population()
    for write in (write_otlp_json, write_zipkin, write_jaeger, write_segment, write_mixpanel, write_snowplow,
                  write_csv):
        write(actions)
    print(f"{len(actions)} actions of {len({a.user for a in actions})} users written to {HERE}")


if __name__ == "__main__":
    main()
