"""Summarise a run's websockets: connections, messages per type, disconnects by reason, delivery latency.

Reads the ``ws-<worker>`` tables (:data:`tracereplay.rundir.WS_SCHEMA`). A **delivery** is a ``receive``
row whose ``correlation`` matches an ``origin`` or ``send`` row (the tagged action): its latency is the
receipt's ``ts`` minus the origin's. Every worker writes ``ts`` from its monotonic clock plus one wall-clock
offset taken at its start, so within a worker the difference is the monotonic one (exact); across workers
it is a wall-clock difference, off by the drift between the workers' two offset readings (microseconds on
one host). A negative difference (that drift, or a clock step) counts as 0 ms and is counted in
``clock_skewed``. When a correlation id was tagged more than once, the first tag is the origin.

Per receiving event type (and in total): ``count`` deliveries, ``origins`` (distinct correlation ids
delivered), ``fanout`` (deliveries per origin, mean) and ``fanout_max``, ``p50_ms``/``p95_ms``/``p99_ms``
(nearest rank, :mod:`tracereplay.histogram`) and ``max_ms``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tracereplay import rundir
from tracereplay.errors import InputError
from tracereplay.histogram import LatencyHistogram

TOTAL = "(all)"
DELIVERY_PERCENTILES = (50.0, 95.0, 99.0)
DELIVERY_KEYS = ("count", "origins", "fanout", "fanout_max", "p50_ms", "p95_ms", "p99_ms", "max_ms")
#: Threshold metrics (``[TYPE:]delivery_p99_ms<250``): a delivery figure of one event type, or of all.
DELIVERY_METRICS = tuple(f"delivery_{key}" for key in DELIVERY_KEYS)
_COLUMNS = ["ts", "user", "conn", "kind", "type", "correlation", "duration_ms", "outcome", "bytes"]


@dataclass(frozen=True, kw_only=True)
class WebSocketSummary:
    """What a run's websockets did. :meth:`to_dict` is the ``"websocket"`` part of ``--json``."""

    connections: dict[str, Any]  # attempts, ok, failed (by outcome), users, set-up time percentiles
    messages: pd.DataFrame  # direction ("sent"/"received"), type, count, bytes
    disconnects: dict[str, int]  # reason → count
    deliveries: pd.DataFrame  # type (TOTAL last), DELIVERY_KEYS
    clock_skewed: int = 0  # deliveries whose receipt was stamped before its origin (counted as 0 ms)

    def delivery(self, event_type: str | None = None) -> dict[str, Any] | None:
        """One event type's delivery figures (or the total's), None if it had no delivery."""
        name = TOTAL if event_type is None else event_type
        rows = self.deliveries[self.deliveries["type"] == name]
        return _clean(rows.iloc[0].to_dict()) if len(rows) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "messages": [_clean(r) for r in self.messages.to_dict("records")],
            "disconnects": self.disconnects,
            "deliveries": [_clean(r) for r in self.deliveries.to_dict("records")],
            "clock_skewed": self.clock_skewed,
        }


def read_ws(files: Iterable[Path]) -> pd.DataFrame:
    """The ws rows of ``files`` (Parquet, or a crashed worker's stream) as one frame."""
    tables = []
    for path in files:
        try:
            if rundir.is_stream(path):
                batches = list(rundir.stream_batches(path))
                tables.append(pa.Table.from_batches(batches, rundir.stream_schema(path)))
            else:
                tables.append(pq.read_table(path))
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(path, f"not a readable websocket table ({str(exc).splitlines()[0]})") from None
    if not tables:
        return rundir.WS_SCHEMA.empty_table().to_pandas()
    table = pa.concat_tables(tables, promote_options="permissive")
    missing = set(_COLUMNS) - set(table.column_names)
    if missing:
        raise InputError(next(iter(files)), f"websocket table lacks column(s) {', '.join(sorted(missing))}")
    return table.to_pandas()


def summarize_ws(files: Iterable[Path]) -> WebSocketSummary | None:
    """The websocket summary of a run's ``ws-*`` files, None when it has none."""
    files = tuple(files)
    if not files:
        return None
    return summarize_rows(read_ws(files))


def summarize_rows(rows: pd.DataFrame) -> WebSocketSummary:
    deliveries, skewed = delivery_table(rows)
    return WebSocketSummary(
        connections=_connections(rows),
        messages=_messages(rows),
        disconnects=_counts(rows.loc[rows["kind"] == "disconnect", "outcome"]),
        deliveries=deliveries,
        clock_skewed=skewed,
    )


def deliveries_of(rows: pd.DataFrame) -> pd.DataFrame:
    """Every delivery: ``type``, ``correlation``, ``user`` (the receiver), ``sender``, ``latency_ms``."""
    tagged = rows.loc[rows["kind"].isin(["origin", "send"]) & rows["correlation"].notna()]
    origins = (
        tagged.sort_values("ts", kind="stable")
        .drop_duplicates("correlation")[["correlation", "ts", "user"]]
        .rename(columns={"ts": "sent", "user": "sender"})
    )
    received = rows.loc[(rows["kind"] == "receive") & rows["correlation"].notna()]
    receipts = received.loc[:, ["type", "correlation", "user", "ts"]]
    joined = receipts.merge(origins, on="correlation", how="inner")
    latency = (joined["ts"] - joined["sent"]).dt.total_seconds().to_numpy(dtype=np.float64) * 1e3
    return joined.assign(latency_ms=latency)[["type", "correlation", "user", "sender", "latency_ms"]]


def delivery_table(rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Per receiving event type and in total: DELIVERY_KEYS; and how many latencies were negative."""
    found = deliveries_of(rows)
    skewed = int(np.count_nonzero(found["latency_ms"].to_numpy(dtype=np.float64) < 0))
    found = found.assign(latency_ms=found["latency_ms"].clip(lower=0.0))
    records = [_figures(str(name), group) for name, group in found.groupby("type", sort=True)]
    if len(found):
        records.append(_figures(TOTAL, found))
    return pd.DataFrame(records, columns=["type", *DELIVERY_KEYS]), skewed


def _figures(name: str, group: pd.DataFrame) -> dict[str, Any]:
    latency = group["latency_ms"].to_numpy(dtype=np.float64)
    histogram = LatencyHistogram.empty()
    histogram.record(latency)
    per_origin = group.groupby("correlation", sort=False).size()
    figures: dict[str, Any] = {
        "type": name,
        "count": len(group),
        "origins": len(per_origin),
        "fanout": len(group) / len(per_origin),
        "fanout_max": int(per_origin.to_numpy().max()),
    }
    for p in DELIVERY_PERCENTILES:
        figures[f"p{p:g}_ms"] = histogram.percentile_ms(p)
    figures["max_ms"] = float(latency.max())
    return figures


def _connections(rows: pd.DataFrame) -> dict[str, Any]:
    connects = rows.loc[rows["kind"] == "connect"]
    ok = connects.loc[connects["outcome"] == "ok"]
    setup = LatencyHistogram.empty()
    setup.record(ok["duration_ms"].to_numpy(dtype=np.float64))
    out: dict[str, Any] = {
        "attempts": len(connects),
        "ok": len(ok),
        "failed": _counts(connects.loc[connects["outcome"] != "ok", "outcome"]),
        "users": len(set(connects["user"].dropna())),
    }
    if len(ok):
        out.update(
            setup_p50_ms=setup.percentile_ms(50.0),
            setup_p99_ms=setup.percentile_ms(99.0),
            setup_max_ms=float(ok["duration_ms"].to_numpy(dtype=np.float64).max()),
        )
    return out


def _messages(rows: pd.DataFrame) -> pd.DataFrame:
    moved = rows.loc[rows["kind"].isin(["send", "receive"])]
    moved = moved.assign(
        direction=np.where(moved["kind"] == "send", "sent", "received"),
        type=moved["type"].fillna("(untyped)"),
        bytes=moved["bytes"].fillna(0),
        failed=moved["outcome"].notna(),
    )
    grouped = moved.groupby(["direction", "type"], sort=True).agg(
        count=("kind", "size"), failed=("failed", "sum"), bytes=("bytes", "sum")
    )
    frame = grouped.reset_index()
    return frame.astype({"count": "int64", "failed": "int64", "bytes": "int64"})


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts(sort=False).sort_index().items()}


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and np.isnan(value):
            value = None
        out[key] = value
    return out
