"""The session view of a run: how many sessions, how many actions each, how long each lasted.

Folded chunk by chunk with Arrow's hash aggregation: each chunk contributes per-session partials (first
start, last end, actions), merged at the end, so a session spanning row groups or files counts once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tracereplay.report.columns import BatchArrays

_COMPACT_ROWS = 1 << 20
_MERGE = [("first", "min"), ("last", "max"), ("actions", "sum")]


class SessionAccumulator:
    """Collects per-session first start, last end and action count."""

    def __init__(self) -> None:
        self._parts: list[pa.Table] = []
        self._rows = 0

    def add(self, arrays: BatchArrays, ends_ns: np.ndarray) -> None:
        if arrays.session is None:
            return
        table = pa.table(
            {
                "session": arrays.session,
                "first": pa.array(arrays.ts_ns),
                "last": pa.array(ends_ns),
                "actions": pa.array(np.ones(len(arrays), dtype=np.int64)),
            }
        )
        table = table.filter(pc.is_valid(table["session"]))
        if not len(table):
            return
        part = _named(table.group_by("session", use_threads=True).aggregate(_MERGE))
        self._parts.append(part)
        self._rows += len(part)
        if self._rows > _COMPACT_ROWS and len(self._parts) > 1:
            self._parts = [self._merged()]
            self._rows = len(self._parts[0])

    def _merged(self) -> pa.Table:
        if len(self._parts) == 1:
            return self._parts[0]
        combined = pa.concat_tables(self._parts, promote_options="permissive")
        return _named(combined.group_by("session", use_threads=True).aggregate(_MERGE))

    def table(self) -> pa.Table:
        """One row per session: ``session, first, last, actions`` (times in ns since the epoch)."""
        if not self._parts:
            return pa.table(
                {
                    "session": pa.array([], pa.string()),
                    "first": pa.array([], pa.int64()),
                    "last": pa.array([], pa.int64()),
                    "actions": pa.array([], pa.int64()),
                }
            )
        return self._merged()

    def result(self) -> dict[str, Any]:
        """``sessions``, ``actions_per_session`` and ``session_duration_s`` (mean, p50, p90, max)."""
        table = self.table()
        if not len(table):
            return {
                "sessions": 0,
                "actions_per_session": _stats(np.array([])),
                "session_duration_s": _stats(np.array([])),
            }
        duration_s = (table["last"].to_numpy() - table["first"].to_numpy()) / 1e9
        return {
            "sessions": len(table),
            "actions_per_session": _stats(table["actions"].to_numpy().astype(np.float64)),
            "session_duration_s": _stats(duration_s),
        }


def _named(aggregated: pa.Table) -> pa.Table:
    """Arrow names aggregates ``first_min`` …; give them back their own names."""
    return aggregated.select(["session", "first_min", "last_max", "actions_sum"]).rename_columns(
        ["session", "first", "last", "actions"]
    )


def _stats(values: np.ndarray) -> dict[str, float | None]:
    if not len(values):
        return {"mean": None, "p50": None, "p90": None, "max": None}
    p50, p90 = np.quantile(values, [0.5, 0.9], method="inverted_cdf")
    return {"mean": float(values.mean()), "p50": float(p50), "p90": float(p90), "max": float(values.max())}
