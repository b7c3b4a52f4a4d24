"""The session view of a run: how many sessions, how many actions each, how long each lasted.

Folded batch by batch: each batch contributes per-session partials (first start, last end, actions),
merged at the end, so a session that spans row groups or files is still counted once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tracereplay.report.columns import BatchArrays

_COMPACT_ROWS = 1 << 20


class SessionAccumulator:
    """Collects per-session first start, last end and action count."""

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []
        self._rows = 0

    def add(self, arrays: BatchArrays, ends_ns: np.ndarray) -> None:
        column = arrays.session
        if column is None:
            return
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(column)
        valid = column.indices.is_valid().to_numpy(zero_copy_only=False)
        if not valid.any():
            return
        indices = column.indices.fill_null(0).to_numpy().astype(np.int64)[valid]
        unique, inverse = np.unique(indices, return_inverse=True)
        first = np.full(len(unique), np.iinfo(np.int64).max)
        last = np.full(len(unique), np.iinfo(np.int64).min)
        np.minimum.at(first, inverse, arrays.ts_ns[valid])
        np.maximum.at(last, inverse, ends_ns[valid])
        names = column.dictionary.take(pa.array(unique)).to_numpy(zero_copy_only=False)
        self._parts.append(
            pd.DataFrame(
                {
                    "session": names,
                    "first": first,
                    "last": last,
                    "actions": np.bincount(inverse),
                }
            )
        )
        self._rows += len(unique)
        if self._rows > _COMPACT_ROWS and len(self._parts) > 1:
            self._parts = [self._merged()]
            self._rows = len(self._parts[0])

    def _merged(self) -> pd.DataFrame:
        frame = pd.concat(self._parts, ignore_index=True)
        return (
            frame.groupby("session", sort=False)
            .agg(first=("first", "min"), last=("last", "max"), actions=("actions", "sum"))
            .reset_index()
        )

    def table(self) -> pd.DataFrame:
        """One row per session: ``session, first, last, actions`` (times in ns since the epoch)."""
        if not self._parts:
            return pd.DataFrame({"session": [], "first": [], "last": [], "actions": []})
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
            "actions_per_session": _stats(table["actions"].to_numpy(dtype=np.float64)),
            "session_duration_s": _stats(duration_s),
        }


def _stats(values: np.ndarray) -> dict[str, float | None]:
    if not len(values):
        return {"mean": None, "p50": None, "p90": None, "max": None}
    p50, p90 = np.quantile(values, [0.5, 0.9], method="inverted_cdf")
    return {"mean": float(values.mean()), "p50": float(p50), "p90": float(p90), "max": float(values.max())}
