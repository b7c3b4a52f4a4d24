"""The session view of a run: how many sessions, how many actions each, how long each lasted.

Folded chunk by chunk: each chunk contributes per-session partials (first start, last end, actions)
computed with numpy on the column's dictionary codes, keyed by a 64-bit hash of the session key, and
merged at the end, so a session spanning row groups or files counts once. Hashing the keys (each
distinct key once per chunk) keeps the merge in numpy: about 32 bytes a session instead of a string
hash table. Two keys with the same 64-bit hash would count as one session; for a million sessions the
odds of any such collision are about 1 in 10¹³.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from tracereplay.report.columns import BatchArrays

_COMPACT_ROWS = 1 << 22


class SessionAccumulator:
    """Collects per-session first start, last end and action count."""

    def __init__(self) -> None:
        self._keys: list[np.ndarray] = []  # int64 hashes of the session keys
        self._first: list[np.ndarray] = []
        self._last: list[np.ndarray] = []
        self._actions: list[np.ndarray] = []
        self._rows = 0

    def add(self, arrays: BatchArrays, ends_ns: np.ndarray) -> None:
        if arrays.session is None:
            return
        dictionary, codes = _dictionary_codes(arrays.session)
        valid = codes >= 0
        if not valid.any():
            return
        codes = codes[valid]
        actions = np.bincount(codes, minlength=len(dictionary))
        first = np.full(len(dictionary), np.iinfo(np.int64).max)
        last = np.full(len(dictionary), np.iinfo(np.int64).min)
        np.minimum.at(first, codes, arrays.ts_ns[valid])
        np.maximum.at(last, codes, ends_ns[valid])
        seen = np.flatnonzero(actions)
        names = dictionary.take(pa.array(seen)).to_pylist()
        self._keys.append(np.fromiter(map(hash, names), dtype=np.int64, count=len(names)))
        self._first.append(first[seen])
        self._last.append(last[seen])
        self._actions.append(actions[seen].astype(np.int64))
        self._rows += len(seen)
        if self._rows > _COMPACT_ROWS and len(self._keys) > 1:
            merged = self._merged()
            self._keys, self._first, self._last, self._actions = ([a] for a in merged)
            self._rows = len(merged[0])

    def _merged(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        keys = np.concatenate(self._keys) if self._keys else np.zeros(0, dtype=np.int64)
        unique, inverse = np.unique(keys, return_inverse=True)
        first = np.full(len(unique), np.iinfo(np.int64).max)
        last = np.full(len(unique), np.iinfo(np.int64).min)
        if len(keys):
            np.minimum.at(first, inverse, np.concatenate(self._first))
            np.maximum.at(last, inverse, np.concatenate(self._last))
        actions = np.bincount(
            inverse, weights=np.concatenate(self._actions) if len(keys) else None, minlength=len(unique)
        ).astype(np.int64)
        return unique, first, last, actions

    def result(self) -> dict[str, Any]:
        """``sessions``, ``actions_per_session`` and ``session_duration_s`` (mean, p50, p90, max)."""
        _, first, last, actions = self._merged()
        return {
            "sessions": len(actions),
            "actions_per_session": _stats(actions.astype(np.float64)),
            "session_duration_s": _stats((last - first) / 1e9),
        }


def _dictionary_codes(column: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """One dictionary and int64 codes (-1 for null) for a string or dictionary column, chunked or not."""
    if isinstance(column, pa.ChunkedArray):
        if pa.types.is_dictionary(column.type) and column.num_chunks:
            unified = column.unify_dictionaries()
            indices = pa.chunked_array([c.indices for c in unified.chunks]).combine_chunks()
            column = pa.DictionaryArray.from_arrays(indices, unified.chunk(0).dictionary)
        else:
            column = column.combine_chunks()
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    codes = column.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return column.dictionary, codes


def _stats(values: np.ndarray) -> dict[str, float | None]:
    if not len(values):
        return {"mean": None, "p50": None, "p90": None, "max": None}
    p50, p90 = np.quantile(values, [0.5, 0.9], method="inverted_cdf")
    return {"mean": float(values.mean()), "p50": float(p50), "p90": float(p90), "max": float(values.max())}
