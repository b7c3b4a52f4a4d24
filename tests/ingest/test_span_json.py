"""Jaeger and Zipkin shapes beyond the samples: bare span arrays, embedded processes, missing fields."""

from __future__ import annotations

import json

import pytest
from population import make_population, sdk_spans

from tracereplay.errors import InputError
from tracereplay.ingest import read_dumps, read_dumps_with_summary


def _jaeger_span(i: int, *, process: dict | None = None, parent: str | None = None,
                 kind: str | None = "server"):
    span = {"traceID": f"{i:032x}", "spanID": f"{i:016x}", "operationName": "GET /items/{id}",
            "startTime": 1_767_225_600_000_000 + i * 1_000_000, "duration": 2500,
            "tags": [{"key": "http.method", "type": "string", "value": "get"},
                     {"key": "http.url", "type": "string", "value": f"https://x.example/items/{i}?a=1"},
                     {"key": "http.status_code", "type": "int64", "value": 200},
                     {"key": "enduser.id", "type": "string", "value": f"user{i % 2}"}],
            "references": []}
    if kind is not None:
        span["tags"].append({"key": "span.kind", "type": "string", "value": kind})
    if process is not None:
        span["process"] = process
    if parent is not None:
        span["references"] = [{"refType": "CHILD_OF", "traceID": span["traceID"], "spanID": parent}]
    return span


def test_jaeger_bare_span_array_with_embedded_process(tmp_path):
    spans = [_jaeger_span(i, process={"serviceName": "items"}) for i in range(4)]
    spans.append(_jaeger_span(9, process={"serviceName": "db"}, parent=f"{1:016x}"))
    spans.append(_jaeger_span(10, process={"serviceName": "items"}, kind=None))  # a root without a kind
    path = tmp_path / "spans.json"
    path.write_text(json.dumps(spans))
    events, summary = read_dumps_with_summary(path, keep_user_ids=True)
    assert summary.files[0].format == "jaeger"
    assert len(events) == 5 and summary.dropped == {"not the entry service": 1}
    assert set(events["action"]) == {"GET /items/{id}"}
    assert events["path"].iloc[0] == "/items/0" and events["duration_ms"].iloc[0] == 2.5
    assert events["ts"].iloc[1].value == 1_767_225_601_000_000_000


def test_jaeger_single_trace_object_with_processes(tmp_path):
    trace = {"traceID": "1", "spans": [dict(_jaeger_span(1), processID="p9")],
             "processes": {"p9": {"serviceName": "items"}}}
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(trace, indent=2))
    assert len(read_dumps(path)) == 1


def test_zipkin_from_the_sdk_encoder_keeps_server_halves_and_drops_untimed_spans(tmp_path):
    from opentelemetry.exporter.zipkin.json.v2 import JsonV2Encoder
    from opentelemetry.exporter.zipkin.node_endpoint import NodeEndpoint

    population = make_population(users=2, sessions_per_user=1)
    endpoint = NodeEndpoint(ipv4="10.0.0.1")
    endpoint.service_name = "chat"
    spans = json.loads(JsonV2Encoder().serialize(sdk_spans(population), endpoint))
    # the caller's CLIENT half of the first request shares the server span's id (Zipkin's shared spans)
    server = next(s for s in spans if s["kind"] == "SERVER")
    spans.append(dict(server, kind="CLIENT", shared=None, localEndpoint={"serviceName": "browser"}))
    untimed = dict(server, id="ffffffffffffffff")
    del untimed["timestamp"], untimed["duration"]
    spans.append(untimed)
    path = tmp_path / "zipkin.json"
    path.write_text(json.dumps(spans))
    events, summary = read_dumps_with_summary(path, keep_user_ids=True)
    assert len(events) == len(population)
    assert summary.dropped == {"span kind": len(population) + 1, "no timestamp": 1}
    assert set(events["user"]) == {r.user for r in population}


def test_zipkin_wrong_shape(tmp_path):
    path = tmp_path / "z.json"
    path.write_text('[{"traceId": "1", "id": "2", "kind": "SERVER", "timestamp": "later"}]')
    with pytest.raises(InputError, match=r"z\.json: line 1: not Zipkin v2 JSON"):
        read_dumps(path)
