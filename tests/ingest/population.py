"""A known population of users, sessions and requests, written out by the real encoders of each format.

The same population becomes an OTLP protobuf file (OpenTelemetry SDK + its OTLP encoder), OTLP/JSON (the
SDK's spans through the protobuf JSON mapping, ids turned into hex as the collector writes them) and
Segment track events, so tests can check that every format yields the same users, sessions and actions.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

T0_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z

ROUTES = [
    ("GET", "/api/v4/channels/{channel_id}/posts", "/api/v4/channels/{}/posts"),
    ("POST", "/api/v4/posts", "/api/v4/posts"),
    ("GET", "/api/v4/users/me", "/api/v4/users/me"),
    ("PUT", "/api/v4/users/{user_id}/status", "/api/v4/users/{}/status"),
]


@dataclass(frozen=True)
class Request:
    user: str
    session: str
    ts_ns: int
    duration_ns: int
    method: str
    route: str
    path: str
    status: int


def make_population(*, users: int = 6, sessions_per_user: int = 3, requests_per_session: int = 5,
                    seed: int = 7, session_pause_s: float = 3 * 3600) -> list[Request]:
    """Requests of a few users; sessions are separated by ``session_pause_s`` (longer than 30 min)."""
    rng = np.random.default_rng(seed)
    out: list[Request] = []
    for u in range(users):
        t = T0_NS + int(rng.integers(0, 600)) * 10**9 + u * 1000  # distinct start times across users
        for s in range(sessions_per_user):
            for _ in range(requests_per_session):
                method, route, template = ROUTES[int(rng.integers(0, len(ROUTES)))]
                path = template.format(int(rng.integers(1, 10_000))) if "{}" in template else template
                duration = int(rng.integers(2, 80)) * 10**6
                status = 500 if rng.random() < 0.1 else 200
                out.append(Request(f"user{u}@example.com", f"sess-{u}-{s}-tok", t, duration, method, route,
                                   path, status))
                t += duration + int(rng.uniform(1, 20) * 1e9)
            t += int(session_pause_s * 1e9)
    return out


def sdk_spans(requests: Iterable[Request], *, service: str = "chat", with_session: bool = True,
              new_semconv: bool = True, extra_downstream: bool = False, with_route: bool = True) -> list:
    """Finished SDK spans for the requests, on a simulated clock."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.population")
    downstream = TracerProvider(resource=Resource.create({"service.name": "db-api"}))
    downstream.add_span_processor(SimpleSpanProcessor(exporter))
    db_tracer = downstream.get_tracer("tests.population")
    from opentelemetry import trace

    for r in requests:
        attrs: dict[str, object] = {"enduser.id": r.user, "user_agent.original": "pytest"}
        if with_session:
            attrs["session.id"] = r.session
        if new_semconv:
            attrs.update({"http.request.method": r.method, "url.path": r.path,
                          "http.response.status_code": r.status})
        else:
            attrs.update({"http.method": r.method, "http.target": r.path + "?token=secret",
                          "http.status_code": r.status})
        if with_route:
            attrs["http.route"] = r.route
        name = f"{r.method} {r.route}" if with_route else r.method
        span = tracer.start_span(name, kind=SpanKind.SERVER, start_time=r.ts_ns, attributes=attrs)
        ctx = trace.set_span_in_context(span)
        child = tracer.start_span("db query", kind=SpanKind.CLIENT, context=ctx, start_time=r.ts_ns + 1000)
        child_ctx = trace.set_span_in_context(child)
        child.end(end_time=r.ts_ns + 2000)
        if extra_downstream:
            inner = db_tracer.start_span("GET /rows", kind=SpanKind.SERVER, context=child_ctx,
                                         start_time=r.ts_ns + 1100,
                                         attributes={"http.request.method": "GET", "url.path": "/rows"})
            inner.end(end_time=r.ts_ns + 1900)
        if r.status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=r.ts_ns + r.duration_ns)
    return list(exporter.get_finished_spans())


def write_otlp(path: Path, requests: list[Request], **options: object) -> Path:
    """An ExportTraceServiceRequest file, as the SDK's OTLP exporter would send it."""
    path.write_bytes(encode_spans(sdk_spans(requests, **options)).SerializeToString())
    return path


def otlp_json_document(requests: list[Request], **options: object) -> dict:
    """The OTLP/JSON form (hex ids, int64 as strings) of the SDK's spans."""
    message = encode_spans(sdk_spans(requests, **options))
    document = json_format.MessageToDict(message)
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return document


def write_otlp_json(path: Path, requests: list[Request], *, lines: bool = False, **options: object) -> Path:
    document = otlp_json_document(requests, **options)
    if lines:  # the collector's file exporter: one ExportTraceServiceRequest a line
        rows = [json.dumps({"resourceSpans": [rs]}) for rs in document["resourceSpans"]]
        path.write_text("\n".join(rows) + "\n")
    else:
        path.write_text(json.dumps(document))
    return path


def write_segment(path: Path, requests: list[Request]) -> Path:
    """Segment track events (JSON lines), the action as the event name."""
    lines = []
    for i, r in enumerate(requests):
        ts = np.datetime64(r.ts_ns, "ns").astype("datetime64[ms]")
        lines.append(json.dumps({
            "type": "track", "event": f"{r.method} {r.route}", "userId": r.user, "anonymousId": f"anon-{i}",
            "messageId": f"m{i}", "timestamp": f"{ts}Z", "properties": {"path": r.path},
            "context": {"sessionId": r.session},
        }))
    path.write_text("\n".join(lines) + "\n")
    return path
