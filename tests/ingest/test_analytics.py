"""Segment, Mixpanel, Snowplow and CSV details beyond the samples."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tracereplay.errors import InputError
from tracereplay.ingest import read_dumps, read_dumps_with_summary
from tracereplay.ingest.readers.snowplow import FIELDS


def test_segment_anonymous_fallback_pages_screens_and_batch_document(tmp_path):
    batch = {"batch": [
        {"type": "track", "event": "Clicked", "anonymousId": "anon-1",
         "timestamp": "2026-01-01T10:00:00.250Z"},
        {"type": "page", "name": "Home", "userId": "u1", "timestamp": "2026-01-01T10:00:01+01:00"},
        {"type": "screen", "name": "Settings", "userId": "u1", "timestamp": "2026-01-01T09:00:02Z"},
        {"type": "group", "groupId": "g", "userId": "u1", "timestamp": "2026-01-01T09:00:03Z"},
    ]}
    path = tmp_path / "batch.json"
    path.write_text(json.dumps(batch))
    events, summary = read_dumps_with_summary(path, keep_user_ids=True)
    assert summary.dropped == {"not an action (group)": 1}
    assert summary.identity == {"anonymousId": 1, "userId": 2}
    assert events["action"].tolist() == ["Home", "Settings", "Clicked"]
    expected = ["2026-01-01T09:00:01Z", "2026-01-01T09:00:02Z", "2026-01-01T10:00:00.250Z"]
    assert events["ts"].tolist() == [pd.Timestamp(t) for t in expected]


@pytest.mark.parametrize("unit", [1, 1000])
def test_mixpanel_time_in_seconds_or_milliseconds(tmp_path, unit):
    lines = [{"event": "Viewed", "properties": {"time": (1_767_225_600 + i) * unit, "distinct_id": "d1",
                                                "$user_id": "u1" if i else None}} for i in range(3)]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    events, summary = read_dumps_with_summary(path, keep_user_ids=True)
    assert events["ts"].iloc[2] == pd.Timestamp("2026-01-01T00:00:02Z")
    assert summary.identity == {"distinct_id": 1, "$user_id": 2}


def test_snowplow_user_fallbacks_structured_events_and_bad_rows(tmp_path):
    def row(**values: str) -> str:
        record = dict.fromkeys(FIELDS, "")
        record.update(values)
        return "\t".join(record[name] for name in FIELDS)

    lines = [
        row(event="page_view", event_name="page_view", page_urlpath="/items/42", network_userid="n1",
            collector_tstamp="2026-01-01 00:00:00.000", domain_sessionid="s1"),
        row(event="struct", event_name="event", se_category="video", se_action="play", domain_userid="d1",
            derived_tstamp="2026-01-01 00:00:01.000", collector_tstamp="2026-01-01 00:00:09.000"),
    ]
    path = tmp_path / "enriched.tsv"
    path.write_text("\n".join(lines) + "\n")
    events = read_dumps(path, keep_user_ids=True)
    assert events["action"].tolist() == ["page_view /items/{id}", "video/play"]
    assert events["user"].tolist() == ["n1", "d1"]
    assert events["ts"].iloc[1] == pd.Timestamp("2026-01-01T00:00:01Z")
    path.write_text("\n".join([*lines, "too\tfew"]) + "\n")
    with pytest.raises(InputError, match=r"enriched\.tsv: line 3: .* 2 tab-separated fields, expected 131"):
        read_dumps(path)


def test_csv_semicolons_iso_times_and_http_columns(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("when;who;verb;url;code;ms\n"
                    "2026-01-01T00:00:00Z;a;get;/users/7?x=1;200;12.5\n"
                    "2026-01-01T00:00:05Z;a;post;/users/8;503;40\n")
    events = read_dumps(path, keep_user_ids=True,
                        columns="ts=when,user=who,method=verb,path=url,status=code,duration_ms=ms")
    assert events["action"].tolist() == ["GET /users/{id}", "POST /users/{id}"]
    assert events["path"].tolist() == ["/users/7", "/users/8"]
    assert events["error"].tolist() == [False, True]
    assert events["duration_ms"].tolist() == [12.5, 40.0]


def test_parquet_event_table_reads_as_is(tmp_path):
    frame = pd.DataFrame({"ts": pd.to_datetime(["2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z"]),
                          "user": ["a", "b"], "action": ["x", "y"], "status": [200, 500]})
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    events = read_dumps(path, keep_user_ids=True)
    assert events["user"].tolist() == ["a", "b"] and events["error"].tolist() == [False, True]
