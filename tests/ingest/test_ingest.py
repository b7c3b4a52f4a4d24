"""End to end through the public API, on OTLP files written by the real OpenTelemetry SDK."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from population import ROUTES, T0_NS, make_population, write_otlp

from tracereplay.errors import ConfigError, InputError
from tracereplay.ingest import ingest, read_dumps, read_dumps_with_summary
from tracereplay.ingest.events import EVENT_COLUMNS, read_events


def _partition(frame: pd.DataFrame, key: str) -> set[frozenset[int]]:
    """Sessions as sets of row timestamps, independent of their labels."""
    return {frozenset(group["ts"].astype("int64")) for _, group in frame.groupby(key)}


@pytest.fixture
def population():
    return make_population()


def test_sdk_dump_gives_users_sessions_actions(tmp_path, population):
    dump = write_otlp(tmp_path / "t.pb", population)
    events, summary = read_dumps_with_summary(dump, salt=b"k")
    assert list(events.columns[: len(EVENT_COLUMNS)]) == list(EVENT_COLUMNS)
    assert len(events) == len(population) == summary.spans_kept
    assert summary.spans_read == 2 * len(population)  # each request also has a client child span
    assert summary.dropped == {"span kind": len(population)}
    assert events["user"].nunique() == summary.users == 6
    assert events["session"].nunique() == summary.sessions == 18
    assert set(events["action"]) == {f"{m} {r}" for m, r, _ in ROUTES}
    assert events["ts"].is_monotonic_increasing
    expected = sorted(r.ts_ns for r in population)
    assert events["ts"].astype("int64").tolist() == expected
    by_ts = {r.ts_ns: r for r in population}
    for row in events.itertuples():
        request = by_ts[row.ts.value]
        assert row.action == f"{request.method} {request.route}"
        assert row.path == request.path
        assert row.status == request.status
        assert row.error == (request.status >= 500)
        assert row.duration_ms == pytest.approx(request.duration_ns / 1e6)
    assert summary.identity == {"enduser.id": len(population)}


def test_users_are_pseudonymised_and_the_salt_is_kept_beside_the_output(tmp_path, population):
    dump = write_otlp(tmp_path / "t.pb", population)
    out = tmp_path / "events.parquet"
    summary = ingest([dump], out)
    salt_file = tmp_path / "events.parquet.salt"
    assert summary.salt_file == str(salt_file) and salt_file.exists()
    salt_hex = salt_file.read_text().strip()
    raw = out.read_bytes()
    for secret in ("example.com", "sess-0-0-tok", salt_hex):
        assert secret.encode() not in raw
    events = read_events(out)
    assert not events["user"].str.contains("@").any()
    # the kept salt makes a second ingest give the same pseudonyms
    again = tmp_path / "again.parquet"
    (tmp_path / "again.parquet.salt").write_text(salt_hex)
    ingest([dump], again)
    assert read_events(again)["user"].tolist() == events["user"].tolist()
    # and a different salt gives different ones
    other = read_dumps(dump, salt=b"another key")
    assert set(other["user"]).isdisjoint(set(events["user"]))


def test_keep_user_ids_writes_raw_ids(tmp_path, population):
    dump = write_otlp(tmp_path / "t.pb", population)
    out = tmp_path / "events.parquet"
    summary = ingest([dump], out, keep_user_ids=True)
    assert summary.salt_file is None and not (tmp_path / "events.parquet.salt").exists()
    assert set(read_events(out)["user"]) == {r.user for r in population}


def test_gap_sessions_equal_explicit_sessions_when_pauses_exceed_the_gap(tmp_path, population):
    with_ids = read_dumps(write_otlp(tmp_path / "a.pb", population), salt=b"k")
    without = read_dumps(write_otlp(tmp_path / "b.pb", population, with_session=False), salt=b"k")
    assert _partition(with_ids, "session") == _partition(without, "session")
    assert without["session"].str.startswith(tuple(without["user"].unique())).all()


def test_session_gap_option_splits_and_merges(tmp_path, population):
    dump = write_otlp(tmp_path / "b.pb", population, with_session=False)
    assert read_dumps(dump, session_gap="10h")["session"].nunique() == 6  # one session per user
    assert read_dumps(dump, session_gap="1s")["session"].nunique() == len(population)


def test_explicit_session_id_wins_over_the_gap(tmp_path, population):
    dump = write_otlp(tmp_path / "a.pb", population)
    assert read_dumps(dump, session_gap="1s")["session"].nunique() == 18


def test_old_semconv_and_templated_paths_without_route(tmp_path, population):
    dump = write_otlp(tmp_path / "old.pb", population, new_semconv=False, with_route=False)
    events = read_dumps(dump, salt=b"k")
    assert len(events) == len(population)
    assert not events["path"].str.contains("token=").any()
    assert events["route"].isna().all()
    templated = {"GET /api/v4/channels/{id}/posts", "POST /api/v4/posts", "GET /api/v4/users/me",
                 "PUT /api/v4/users/{id}/status"}
    assert set(events["action"]) <= templated
    assert events["action"].nunique() == 4
    assert sorted(events["status"].tolist()) == sorted(r.status for r in population)


def test_entry_service_is_kept_and_downstream_server_spans_dropped(tmp_path, population):
    dump = write_otlp(tmp_path / "t.pb", population, extra_downstream=True)
    events, summary = read_dumps_with_summary(dump, salt=b"k")
    assert len(events) == len(population)
    assert summary.dropped == {"span kind": len(population), "not the entry service": len(population)}
    # db-api spans carry no user: kept by --service, then dropped for lack of an identity, all counted
    with pytest.raises(InputError, match=r"90 service not selected, 90 no user identity"):
        read_dumps(dump, services=["db-api"])
    picked = read_dumps(dump, services=["db-api"], user_keys=["url.path"], keep_user_ids=True)
    assert set(picked["action"]) == {"GET /rows"} and len(picked) == len(population)


def test_span_kind_and_name_filters(tmp_path, population):
    dump = write_otlp(tmp_path / "t.pb", population)
    _, summary = read_dumps_with_summary(dump, salt=b"k", span_name=r"^POST ")
    assert summary.spans_kept == sum(r.method == "POST" for r in population)
    assert summary.dropped["span name filter"] == len(population) - summary.spans_kept
    with pytest.raises(InputError, match="no span matched"):
        read_dumps(dump, span_kinds=["consumer"])


def test_user_key_order_first_present_wins(tmp_path, population):
    dump = write_otlp(tmp_path / "t.pb", population)
    events, summary = read_dumps_with_summary(dump, user_keys=["nope", "user_agent.original"],
                                              keep_user_ids=True)
    assert set(events["user"]) == {"pytest"} and summary.identity == {"user_agent.original": len(population)}


def test_options_are_validated_all_at_once():
    with pytest.raises(ConfigError) as info:
        read_dumps("x", format="nope", span_kinds=["weird"], session_gap="0s")
    assert len(info.value.problems) == 3


def test_output_is_written_in_row_groups(tmp_path):
    population = make_population(users=20, sessions_per_user=5, requests_per_session=10)
    dump = write_otlp(tmp_path / "t.pb", population)
    out = tmp_path / "e.parquet"
    ingest([dump], out, row_group_rows=100)
    assert pq.ParquetFile(out).metadata.num_row_groups == int(np.ceil(len(population) / 100))
    events = read_events(out)
    assert events["ts"].min().value >= T0_NS and events["ts"].is_monotonic_increasing


DEMO_DUMP = Path(__file__).parents[2] / "sample_traces" / "demo.otlp.pb"


@pytest.mark.skipif(not DEMO_DUMP.exists(), reason="the demo dump is not in this checkout")
def test_demo_dump_recovers_the_documented_population():
    """sample_traces/README.md: 130 users, 407 sessions; 192 probe pings have no identity; 10 failed
    log-ins carry only a session id and join their session's user."""
    events, summary = read_dumps_with_summary(DEMO_DUMP, salt=b"k")
    assert summary.spans_read == 5629
    assert summary.dropped == {"no user identity": 192}
    assert summary.users == 130 and summary.sessions == 407 and summary.actions == 10
    assert summary.identity == {"enduser.id": 5427, "fallback: the session's user": 10}
    assert events.groupby("action").size()["GET /api/v4/channels/{channel_id}/posts"] == 1601


@pytest.mark.parametrize("scanner", [False, True], ids=["decoded", "scanned"])
def test_small_batches_give_the_same_table(tmp_path, population, monkeypatch, scanner):
    """Streaming: many small reader batches and row groups give the table one big batch gives."""
    from tracereplay.ingest.readers import otlp_proto

    monkeypatch.setattr(otlp_proto, "USE_SCANNER", scanner)
    dump = write_otlp(tmp_path / "t.pb", population, extra_downstream=True)
    whole = read_dumps(dump, salt=b"k")
    monkeypatch.setattr(otlp_proto, "CHUNK_BYTES", 300)  # a chunk per few resource spans
    _, summary = read_dumps_with_summary(dump, salt=b"k", row_group_rows=7)
    pieces = read_dumps(dump, salt=b"k", row_group_rows=7)
    assert pieces.equals(whole)
    assert summary.spans_read == 3 * len(population)


def test_several_files_and_formats_in_one_ingest(tmp_path, population):
    from population import write_segment

    first, second = population[: len(population) // 2], population[len(population) // 2:]
    events, summary = read_dumps_with_summary(
        [write_otlp(tmp_path / "a.pb", first), write_segment(tmp_path / "b.jsonl", second)], salt=b"k")
    assert [f.format for f in summary.files] == ["otlp", "segment"]
    assert len(events) == len(population) and set(events["source"]) == {"otlp", "segment"}
