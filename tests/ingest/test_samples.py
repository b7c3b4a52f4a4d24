"""The sample dumps in sample_traces/<format>/ against their expected tables (the population's truth)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tracereplay.ingest import read_dumps_with_summary
from tracereplay.ingest.sniff import detect_format, read_head

SAMPLES = Path(__file__).parents[2] / "sample_traces"

CASES = [
    # file, detected format, extra options, expected drops
    ("otlp-json/traces.jsonl", "otlp-json", {}, {"span kind": 37, "no user identity": 1}),
    ("zipkin/spans.json", "zipkin", {}, {"span kind": 37, "no user identity": 1}),
    ("jaeger/traces.json", "jaeger", {}, {"span kind": 37}),
    ("segment/events.jsonl", "segment", {}, {"not an action (identify)": 6}),
    ("mixpanel/export.jsonl", "mixpanel", {}, {}),
    ("snowplow/enriched.tsv", "snowplow", {}, {}),
    ("snowplow/enriched.jsonl", "snowplow", {}, {}),
    ("csv/events.csv", "csv", {"columns": "user=uid,ts=when,action=event,session=visit"}, {}),
]


def _sessions(frame: pd.DataFrame, key: str) -> set[frozenset[tuple[int, str]]]:
    return {frozenset(zip(g["ts_ns"], g["action"], strict=True)) for _, g in frame.groupby(key)}


@pytest.mark.parametrize(("name", "fmt", "options", "dropped"), CASES, ids=[c[0] for c in CASES])
def test_sample_matches_its_expected_table(name, fmt, options, dropped):
    path = SAMPLES / name
    assert path.stat().st_size <= 2 * 1024 * 1024
    assert detect_format(path, read_head(path)) == fmt
    events, summary = read_dumps_with_summary(path, keep_user_ids=True, **options)
    expected = pd.read_csv(path.parent / "expected.csv", keep_default_na=False, dtype=str)
    expected["ts_ns"] = expected["ts_ns"].astype("int64")
    assert summary.dropped == dropped
    assert len(events) == len(expected)
    got = pd.DataFrame({"ts_ns": events["ts"].astype("int64"), "user": events["user"],
                        "action": events["action"], "session": events["session"]})
    assert got["ts_ns"].tolist() == expected["ts_ns"].tolist()
    assert got["user"].tolist() == expected["user"].tolist()
    assert got["action"].tolist() == expected["action"].tolist()
    assert _sessions(got, "session") == _sessions(expected, "session")
    http = expected["method"] != ""
    if http.any():
        assert events["method"].tolist() == expected["method"].tolist()
        assert events["route"].tolist() == expected["route"].tolist()
        assert events["path"].tolist() == expected["path"].tolist()
        assert events["status"].astype(str).tolist() == expected["status"].tolist()
        assert events["error"].astype(str).tolist() == expected["error"].tolist()
