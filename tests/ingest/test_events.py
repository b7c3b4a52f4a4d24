"""The event-table contract: conform fills optional columns with the right dtypes, write/read round-trip."""

from __future__ import annotations

import pandas as pd
import pytest

from tracereplay.errors import InputError
from tracereplay.ingest.events import EVENT_COLUMNS, conform, read_events, write_events


def _minimal() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": pd.to_datetime([2_000, 1_000], unit="ns", utc=True),
            "user": ["b", "a"],
            "session": ["s2", "s1"],
            "action": ["GET /y", "GET /x"],
        }
    )


def test_conform_adds_every_optional_column_empty_and_sorts_by_time():
    table = conform(_minimal(), source="test")
    assert tuple(table.columns) == EVENT_COLUMNS
    assert table["user"].tolist() == ["a", "b"]
    assert table["duration_ms"].isna().all() and str(table["duration_ms"].dtype) == "float64"
    assert table["status"].isna().all() and str(table["status"].dtype) == "Int64"
    assert not table["error"].any()
    assert set(table["source"]) == {"test"}


def test_write_then_read_round_trips_and_keeps_extra_columns(tmp_path):
    frame = _minimal().assign(trace_id=["t2", "t1"], status=[200, 503], duration_ms=[1.5, 2.5])
    path = write_events(frame, tmp_path / "events.any-extension")
    back = read_events(path)
    assert back["trace_id"].tolist() == ["t1", "t2"]
    assert back["status"].tolist() == [503, 200]
    assert back["duration_ms"].tolist() == [2.5, 1.5]
    assert not list(tmp_path.glob(".*partial"))


def test_reading_a_file_that_is_not_parquet_names_the_file(tmp_path):
    bad = tmp_path / "events.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match=r"events\.parquet"):
        read_events(bad)
