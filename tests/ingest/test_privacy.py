"""What never reaches the output: raw ids, e-mails, tokens, cookies, authorization headers, query strings."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from population import T0_NS

from tracereplay.ingest import ingest
from tracereplay.ingest.events import read_events

SECRETS = ("Bearer sk-live-123", "sessioncookie=abc", "jane.doe@example.com", "tok_9f8e7d6c5b4a39281706",
           "reset-code-XYZ", "192.168.7.7", "Jane's Browser")


def _dump(target):
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "web"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("privacy")
    paths = ["/users/jane.doe@example.com/profile", "/reset/tok_9f8e7d6c5b4a39281706?code=reset-code-XYZ",
             "/orders/12345"]
    for i, path in enumerate(paths):
        span = tracer.start_span("GET", kind=SpanKind.SERVER, start_time=T0_NS + i * 10**9, attributes={
            "user.email": "jane.doe@example.com", "http.request.method": "GET",
            "url.path": path.split("?")[0], "url.full": f"https://shop.example{path}",
            "http.request.header.authorization": ["Bearer sk-live-123"],
            "http.request.header.cookie": ["sessioncookie=abc"], "client.address": "192.168.7.7",
            "user_agent.original": "Jane's Browser", "session.id": "sessioncookie=abc",
        })
        span.end(end_time=T0_NS + i * 10**9 + 10**6)
    target.write_bytes(encode_spans(exporter.get_finished_spans()).SerializeToString())
    return target


def test_no_secret_reaches_the_output(tmp_path):
    out = tmp_path / "events.parquet"
    summary = ingest([_dump(tmp_path / "t.pb")], out)
    assert summary.identity == {"user.email": 3}
    data = out.read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in data, secret
    events = read_events(out)
    assert events["path"].tolist() == ["/users/{email}/profile", "/reset/{token}", "/orders/12345"]
    actions = ["GET /users/{email}/profile", "GET /reset/{token}", "GET /orders/{id}"]
    assert events["action"].tolist() == actions
    assert events["user"].nunique() == 1 and events["user"].iloc[0].startswith("u")
    assert events["session"].nunique() == 1 and events["session"].iloc[0].startswith("s")
