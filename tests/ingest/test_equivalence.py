"""The same population written as OTLP protobuf, OTLP/JSON and Segment events gives the same table."""

from __future__ import annotations

import pandas as pd
from population import make_population, write_otlp, write_otlp_json, write_segment

from tracereplay.ingest import read_dumps


def _shape(frame: pd.DataFrame) -> pd.DataFrame:
    """What must agree across formats: users, sessions and actions, row by row in time order."""
    return frame[["user", "session", "action"]].reset_index(drop=True)


def test_protobuf_json_and_segment_agree(tmp_path):
    population = make_population(users=8, sessions_per_user=3, requests_per_session=6, seed=21)
    protobuf = read_dumps(write_otlp(tmp_path / "p.pb", population), salt=b"same key")
    json_lines = read_dumps(write_otlp_json(tmp_path / "j.jsonl", population, lines=True), salt=b"same key")
    segment = read_dumps(write_segment(tmp_path / "s.jsonl", population), salt=b"same key")
    assert len(protobuf) == len(json_lines) == len(segment) == len(population)
    assert _shape(protobuf).equals(_shape(json_lines))
    assert _shape(protobuf).equals(_shape(segment))
    assert protobuf["action"].value_counts().to_dict() == segment["action"].value_counts().to_dict()
    assert protobuf["user"].nunique() == 8 and protobuf["session"].nunique() == 24
    # Segment times are milliseconds: equal up to the truncation
    delta = (protobuf["ts"] - segment["ts"]).abs().max()
    assert delta < pd.Timedelta(milliseconds=1)


def test_with_and_without_session_ids_across_formats(tmp_path):
    population = make_population(users=5, sessions_per_user=4, requests_per_session=4, seed=5)
    explicit = read_dumps(write_otlp(tmp_path / "e.pb", population), salt=b"k")
    implicit = read_dumps(write_otlp_json(tmp_path / "i.json", population, with_session=False), salt=b"k")

    def partition(frame: pd.DataFrame) -> set[frozenset[int]]:
        return {frozenset(g["ts"].astype("int64")) for _, g in frame.groupby("session")}

    assert partition(explicit) == partition(implicit)
    assert explicit["session"].nunique() == 20
