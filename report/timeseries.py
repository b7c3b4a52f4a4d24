"""The run over time: requests, rps, errors, error rate, active users and latency percentiles per bucket.

Buckets are aligned to the run's start (``run.json`` ``started``; to the epoch when unknown), so bucket
``k`` covers ``[start + k·bucket, start + (k+1)·bucket)`` in every run and two runs line up. Latency per
bucket is kept as sparse ``(bucket, histogram index) → count`` pairs (compacted as they grow), so memory
follows the number of distinct (bucket, latency bucket) pairs, not the number of requests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tracereplay import histogram
from tracereplay.checked import series
from tracereplay.errors import ConfigError
from tracereplay.report.columns import BatchArrays

OVER_TIME_PERCENTILES = (50.0, 95.0, 99.0)
OVER_TIME_COLUMNS = (
    "start",
    "t_s",
    "requests",
    "rps",
    "errors",
    "error_rate",
    "active_users",
    "p50_ms",
    "p95_ms",
    "p99_ms",
)
MAX_BUCKETS = 200_000
_COMPACT = 1 << 21


class TimeAccumulator:
    """Folds batches into per-bucket counts and latency histograms."""

    def __init__(self, bucket_s: float, *, corrected: bool = True, origin_ns: int | None = None) -> None:
        self.bucket_ns = round(bucket_s * 1e9)
        self.origin_ns = origin_ns or 0
        self.corrected = corrected
        self._keys: list[np.ndarray] = []  # bucket * COUNTS_LEN + histogram index
        self._counts: list[np.ndarray] = []
        self._largest: list[np.ndarray] = []
        self._buckets: list[np.ndarray] = []
        self._requests: list[np.ndarray] = []
        self._errors: list[np.ndarray] = []
        self._size = 0

    def add(self, arrays: BatchArrays) -> None:
        bucket = (arrays.ts_ns - self.origin_ns) // self.bucket_ns
        unique, inverse = np.unique(bucket, return_inverse=True)
        self._buckets.append(unique)
        self._requests.append(np.bincount(inverse))
        self._errors.append(np.bincount(inverse, weights=arrays.error).astype(np.int64))
        latency = arrays.corrected_ms if self.corrected else arrays.measured_ms
        keep = ~np.isnan(latency)
        latency = latency[keep]
        keys = bucket[keep] * histogram.COUNTS_LEN + histogram.index_for(histogram.to_microseconds(latency))
        keys, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        largest = np.full(len(keys), -np.inf)
        np.maximum.at(largest, inverse, latency)
        self._keys.append(keys)
        self._counts.append(counts)
        self._largest.append(largest)
        self._size += len(keys)
        if self._size > _COMPACT and len(self._keys) > 1:
            keys, counts, largest = _merge_sparse(self._keys, self._counts, self._largest)
            self._keys, self._counts, self._largest, self._size = [keys], [counts], [largest], len(keys)

    def result(self, users: pd.DataFrame, start_ns: int | None) -> pd.DataFrame:
        """The over-time table, one row per bucket from the first to the last (empty buckets included)."""
        buckets, requests = _sum_by_key(_cat(self._buckets), _cat(self._requests))
        _, errors = _sum_by_key(_cat(self._buckets), _cat(self._errors))
        active = _active_users(users, self.bucket_ns, self.origin_ns)
        edges = [b for b in (buckets, active.index.to_numpy()) if len(b)]
        if not edges:
            return pd.DataFrame({c: [] for c in OVER_TIME_COLUMNS})
        low = min(int(e.min()) for e in edges)
        high = max(int(e.max()) for e in edges)
        if high - low + 1 > MAX_BUCKETS:
            raise ConfigError(
                f"bucket of {self.bucket_ns / 1e9:g}s gives {high - low + 1} buckets; use a larger one"
            )
        full = np.arange(low, high + 1)
        frame = pd.DataFrame(index=pd.Index(full, name="bucket"))
        frame["requests"] = pd.Series(requests, index=buckets).reindex(full, fill_value=0).astype(np.int64)
        frame["errors"] = pd.Series(errors, index=buckets).reindex(full, fill_value=0).astype(np.int64)
        seconds = self.bucket_ns / 1e9
        frame["rps"] = frame["requests"] / seconds
        with np.errstate(invalid="ignore", divide="ignore"):
            frame["error_rate"] = np.where(
                frame["requests"] > 0, frame["errors"] / frame["requests"].clip(lower=1), np.nan
            )
        frame["active_users"] = active.reindex(full) if len(active) else np.nan
        keys, counts, largest = _merge_sparse(self._keys, self._counts, self._largest)
        for p in OVER_TIME_PERCENTILES:
            frame[f"p{p:g}_ms".replace(".", "")] = np.nan
        if len(keys):
            groups, values = histogram.sparse_percentiles_ms(
                keys // histogram.COUNTS_LEN,
                keys % histogram.COUNTS_LEN,
                counts,
                largest,
                list(OVER_TIME_PERCENTILES),
            )
            for column, p in enumerate(OVER_TIME_PERCENTILES):
                frame.loc[groups, f"p{p:g}_ms".replace(".", "")] = values[:, column]
        starts = self.origin_ns + full * self.bucket_ns
        frame["start"] = pd.to_datetime(starts, unit="ns", utc=True)
        origin = start_ns if start_ns is not None else int(starts[0])
        frame["t_s"] = (starts - origin) / 1e9
        return frame.reset_index(drop=True).loc[:, list(OVER_TIME_COLUMNS)]


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _sum_by_key(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not len(keys):
        return keys.astype(np.int64), values.astype(np.int64)
    unique, inverse = np.unique(keys, return_inverse=True)
    return unique, np.bincount(inverse, weights=values, minlength=len(unique)).astype(np.int64)


def _merge_sparse(
    keys: list[np.ndarray], counts: list[np.ndarray], largest: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    all_keys = _cat(keys)
    unique, inverse = np.unique(all_keys, return_inverse=True)
    summed = np.bincount(inverse, weights=_cat(counts), minlength=len(unique)).astype(np.int64)
    biggest = np.full(len(unique), -np.inf)
    if len(all_keys):
        np.maximum.at(biggest, inverse, np.concatenate(largest))
    return unique, summed, biggest


def _active_users(users: pd.DataFrame, bucket_ns: int, origin_ns: int) -> pd.Series:
    """Mean active users per bucket, summed over workers (each worker samples once a second)."""
    if "active_users" not in users or not len(users):
        return pd.Series(dtype=np.float64)
    ts_ns = users["ts"].astype("datetime64[ns, UTC]").astype("int64").to_numpy()
    frame = pd.DataFrame(
        {
            "bucket": (ts_ns - origin_ns) // bucket_ns,
            "worker": users["worker"].astype(str).to_numpy() if "worker" in users else "0",
            "active": users["active_users"].to_numpy(dtype=np.float64),
        }
    )
    per_worker = series(frame.groupby(["bucket", "worker"])["active"].mean())
    return series(per_worker.groupby("bucket").sum())
