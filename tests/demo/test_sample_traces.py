"""The committed demo dump is real OTLP from the SDK, and the generator reproduces it from a seed."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tracereplay.demo import sample_dump_path

REPO = Path(__file__).resolve().parents[2]
GENERATE = REPO / "sample_traces" / "generate.py"
DUMP = REPO / "sample_traces" / "demo.otlp.pb"
AUTH_ACTIONS = {
    "GET /api/v4/users/me", "GET /api/v4/users/me/teams", "GET /api/v4/teams/{team_id}/channels",
    "GET /api/v4/channels/{channel_id}/posts", "POST /api/v4/posts", "POST /api/v4/channels/members/me/view",
    "POST /api/v4/users/logout", "GET /api/v4/users/{user_id}",
}


def parse(path: Path) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(path.read_bytes())
    return request


def attrs(span) -> dict:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in span.attributes}


@pytest.fixture(scope="module")
def dump() -> ExportTraceServiceRequest:
    return parse(DUMP)


def test_dump_is_small_and_is_the_one_the_package_ships():
    assert DUMP.stat().st_size <= 2_000_000
    assert sample_dump_path().read_bytes() == DUMP.read_bytes()


def test_dump_has_server_spans_with_http_semantic_conventions(dump):
    resource = {kv.key: kv.value.string_value for kv in dump.resource_spans[0].resource.attributes}
    assert resource["service.name"] == "demo-chat"
    assert resource["telemetry.sdk.name"] == "opentelemetry"
    spans = [s for rs in dump.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert 5000 <= len(spans) <= 30000
    assert all(s.kind == Span.SPAN_KIND_SERVER for s in spans)
    assert all(s.end_time_unix_nano > s.start_time_unix_nano for s in spans)
    user_spans = 0
    for span in spans:
        a = attrs(span)
        assert span.name == f"{a['http.request.method']} {a['http.route']}"
        assert a["url.path"].startswith("/api/v4/") and "{" not in a["url.path"]
        assert a["http.response.status_code"] in (200, 201, 401)
        if span.name in AUTH_ACTIONS:
            assert len(a["enduser.id"]) == 26 and len(a["session.id"]) == 26
            user_spans += 1
    assert user_spans > len(spans) / 2


def test_dump_shows_two_behaviours_and_the_log_in_loop(dump):
    spans = [s for rs in dump.resource_spans for ss in rs.scope_spans for s in ss.spans]
    names = Counter(s.name for s in spans)
    assert names["POST /api/v4/users"] >= 100, "a few hundred-ish users sign up"
    assert names["POST /api/v4/users/login"] > 2.5 * names["POST /api/v4/users"], "several sessions per user"
    assert names["POST /api/v4/users/logout"] == names["GET /api/v4/users/me"]

    posts_by_user: Counter[str] = Counter()
    reads_by_user: Counter[str] = Counter()
    for span in spans:
        a = attrs(span)
        if span.name == "POST /api/v4/posts":
            posts_by_user[a["enduser.id"]] += 1
        elif span.name == "GET /api/v4/channels/{channel_id}/posts":
            reads_by_user[a["enduser.id"]] += 1
    ratios = [posts_by_user[u] / reads_by_user[u] for u in reads_by_user]
    # posters post about every other read; readers almost never: two separate groups, nobody in between
    posters = sum(r >= 0.38 for r in ratios)
    readers = sum(r < 0.3 for r in ratios)
    assert posters >= 30 and readers >= 60 and posters + readers == len(ratios), (posters, readers)

    days = {(s.start_time_unix_nano // 86_400_000_000_000) for s in spans}
    assert len(days) >= 2


def test_generator_is_seeded_and_reproducible(tmp_path):
    outs = [tmp_path / "a.otlp.pb", tmp_path / "b.otlp.pb", tmp_path / "c.otlp.pb"]
    for out, seed in zip(outs, (5, 5, 6), strict=True):
        cmd = [sys.executable, str(GENERATE), "--users", "4", "--days", "0.5", "--seed", str(seed)]
        cmd += ["-o", str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "spans=" in done.stdout
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert outs[0].read_bytes() != outs[2].read_bytes()
    spans = [s for rs in parse(outs[0]).resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert sum(s.name == "POST /api/v4/users" for s in spans) == 4
