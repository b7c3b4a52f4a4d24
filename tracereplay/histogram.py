"""Latency histograms and the one percentile rule of tracereplay.

Every latency figure the project prints or writes comes from here: the live line, ``run.json``'s totals
and the end-of-run line (:class:`LatencyHistogram`, filled once a second by the live counter), and ``report``,
its HTML page, ``compare`` and thresholds (the dense and sparse functions below, filled from the requests
files). One layout and one rule, so one run has one p99.

Layout: HdrHistogram's, values in integer microseconds, 1 µs … 1 h, three significant digits. Values below
2 048 µs are exact to the microsecond; above, a bucket is at most 1/1 024 of its value wide. Longer values
are clamped into the last bucket. ``tests/tracereplay/test_histogram.py`` checks the counts index and the
equivalent-value ranges against the ``hdrh`` library itself.

Why not ``hdrh.HdrHistogram`` itself: its ``record_value`` is a Python call per sample (~1 µs each, 10 s
on a 10 M-request run), and its ``get_value_at_percentile`` rounds the rank (``int(p·n/100 + 0.5)``) and
answers a bucket's upper edge, which is not a latency any request had. Here the counts index is computed
for whole arrays at once and filled with ``numpy.bincount``.

The rule: **nearest rank** (numpy's ``method="inverted_cdf"``). The p-th percentile is the smallest sample
such that at least p % of the samples are ≤ it (rank ⌈p·n/100⌉, at least 1). Next to each bucket's count
we keep the largest sample that fell in it, and report that for the bucket holding the nearest-rank
sample: the result is always a real sample, never below the exact percentile, at most one bucket width
(0.1 %) above it, and exact whenever that bucket holds one distinct value. Two histograms of the same
samples give the same figures however the samples were split (per second, per worker) before merging.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SIGNIFICANT_FIGURES = 3
HIGHEST_TRACKABLE_US = 3_600_000_000  # one hour

_SUB_BUCKET_HALF_MAGNITUDE = int(np.ceil(np.log2(2 * 10**SIGNIFICANT_FIGURES))) - 1  # 10
SUB_BUCKET_COUNT = 1 << (_SUB_BUCKET_HALF_MAGNITUDE + 1)  # 2048
SUB_BUCKET_HALF_COUNT = SUB_BUCKET_COUNT // 2  # 1024


def _bucket_count(highest: int) -> int:
    smallest_untrackable, needed = SUB_BUCKET_COUNT, 1
    while smallest_untrackable <= highest:
        smallest_untrackable <<= 1
        needed += 1
    return needed


BUCKET_COUNT = _bucket_count(HIGHEST_TRACKABLE_US)
COUNTS_LEN = (BUCKET_COUNT + 1) * SUB_BUCKET_HALF_COUNT
RELATIVE_PRECISION = 1.0 / SUB_BUCKET_HALF_COUNT


def to_microseconds(latency_ms: np.ndarray) -> np.ndarray:
    """Milliseconds (float, NaN allowed) → integer microseconds clamped to the trackable range."""
    us = np.rint(np.asarray(latency_ms, dtype=np.float64) * 1000.0)
    return np.clip(np.nan_to_num(us, nan=0.0), 0, HIGHEST_TRACKABLE_US).astype(np.int64)


def index_for(values_us: np.ndarray) -> np.ndarray:
    """HdrHistogram's counts index for each value (integer µs), vectorised."""
    values = np.asarray(values_us, dtype=np.int64)
    # bucket = position of the highest set bit of (value | mask) minus the sub-bucket magnitude
    mask = SUB_BUCKET_COUNT - 1
    _, pow2ceiling = np.frexp((values | mask).astype(np.float64))  # exact for ints below 2**53
    bucket = pow2ceiling.astype(np.int64) - (_SUB_BUCKET_HALF_MAGNITUDE + 1)
    sub_bucket = values >> bucket
    return ((bucket + 1) << _SUB_BUCKET_HALF_MAGNITUDE) + (sub_bucket - SUB_BUCKET_HALF_COUNT)


def _bucket_and_sub(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    index = np.asarray(index, dtype=np.int64)
    bucket = (index >> _SUB_BUCKET_HALF_MAGNITUDE) - 1
    sub_bucket = (index & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT
    first = bucket < 0
    sub_bucket = np.where(first, sub_bucket - SUB_BUCKET_HALF_COUNT, sub_bucket)
    bucket = np.where(first, 0, bucket)
    return bucket, sub_bucket


def lowest_equivalent_us(index: np.ndarray) -> np.ndarray:
    """The smallest value (µs) that falls in each counts index."""
    bucket, sub_bucket = _bucket_and_sub(index)
    return sub_bucket << bucket


def highest_equivalent_us(index: np.ndarray) -> np.ndarray:
    """The largest value (µs) that falls in each counts index."""
    bucket, sub_bucket = _bucket_and_sub(index)
    return (sub_bucket << bucket) + (np.int64(1) << bucket) - 1


def midpoint_ms(index: np.ndarray) -> np.ndarray:
    """The middle of each counts index's value range, in ms (for plots and resampling)."""
    return (lowest_equivalent_us(index) + highest_equivalent_us(index)) / 2000.0


def index_ms(latency_ms: np.ndarray) -> np.ndarray:
    """:func:`index_for` of :func:`to_microseconds`, in fewer passes (the hot path); NaN gives index 0."""
    us = np.multiply(latency_ms, 1000.0)
    np.rint(us, out=us)
    np.nan_to_num(us, copy=False, nan=0.0)
    np.clip(us, 0, HIGHEST_TRACKABLE_US, out=us)
    # the highest set bit of (value | (SUB_BUCKET_COUNT - 1)) is that of max(value, SUB_BUCKET_COUNT - 1)
    _, exponent = np.frexp(np.maximum(us, SUB_BUCKET_COUNT - 1))
    bucket = exponent.astype(np.int64) - (_SUB_BUCKET_HALF_MAGNITUDE + 1)
    values = us.astype(np.int64)
    return ((bucket + 1) << _SUB_BUCKET_HALF_MAGNITUDE) + (values >> bucket) - SUB_BUCKET_HALF_COUNT


def dense_counts(groups: np.ndarray, latency_ms: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts and per-bucket largest sample (ms), each of shape ``(n_groups, COUNTS_LEN)``.

    ``groups`` labels each sample with an int in ``[0, n_groups)``; NaN latencies are skipped; a bucket
    with no samples has a largest sample of ``-inf``.
    """
    latency_ms = np.asarray(latency_ms, dtype=np.float64)
    keep = ~np.isnan(latency_ms)
    latency_ms = latency_ms[keep]
    keys = np.asarray(groups, dtype=np.int64)[keep] * COUNTS_LEN + index_ms(latency_ms)
    counts = np.bincount(keys, minlength=n_groups * COUNTS_LEN).reshape(n_groups, COUNTS_LEN)
    largest = np.full(n_groups * COUNTS_LEN, -np.inf)
    np.maximum.at(largest, keys, latency_ms)
    return counts, largest.reshape(n_groups, COUNTS_LEN)


def percentiles_ms(counts: np.ndarray, largest: np.ndarray, percentiles: list[float]) -> np.ndarray:
    """Nearest-rank percentiles (ms) from counts and per-bucket largest samples, ``(groups, COUNTS_LEN)``.

    Returns shape ``(groups, len(percentiles))``; NaN for groups with no samples.
    """
    counts, largest = np.atleast_2d(counts), np.atleast_2d(largest)
    cumulative = np.cumsum(counts, axis=1)
    totals = cumulative[:, -1]
    out = np.full((counts.shape[0], len(percentiles)), np.nan)
    present = np.flatnonzero(totals > 0)
    for column, p in enumerate(percentiles):
        ranks = _ranks(totals[present], p)
        idx = (cumulative[present] < ranks[:, None]).sum(axis=1)
        out[present, column] = largest[present, idx]
    return out


def _ranks(totals: np.ndarray, p: float) -> np.ndarray:
    """1-based nearest ranks: ceil(p/100 · n), at least 1 (the tiny epsilon absorbs float error in p·n)."""
    return np.maximum(np.ceil(totals * (p / 100.0) - 1e-9), 1).astype(np.int64)


def value_at_rank_ms(counts: np.ndarray, largest: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """The value (ms, as :func:`percentiles_ms` reads it) of the ``ranks``-th smallest sample (1-based)."""
    cumulative = np.cumsum(np.asarray(counts).ravel())
    ranks = np.clip(np.asarray(ranks, dtype=np.int64), 1, max(int(cumulative[-1]), 1))
    return np.asarray(largest).ravel()[np.searchsorted(cumulative, ranks)]


def sparse_percentiles_ms(
    groups: np.ndarray, index: np.ndarray, counts: np.ndarray, largest: np.ndarray, percentiles: list[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Percentiles per group from sparse ``(group, index, count, largest sample)`` rows.

    Returns ``(unique_groups, values)`` with values of shape ``(len(unique_groups), len(percentiles))``.
    """
    order = np.lexsort((index, groups))
    groups, counts, largest = groups[order], counts[order], largest[order]
    unique, starts = np.unique(groups, return_index=True)
    ends = np.append(starts[1:], len(groups))
    cumulative = np.cumsum(counts)
    before = np.where(starts > 0, cumulative[starts - 1], 0)
    totals = cumulative[ends - 1] - before
    values = np.empty((len(unique), len(percentiles)))
    for column, p in enumerate(percentiles):
        positions = np.searchsorted(cumulative, before + _ranks(totals, p))
        values[:, column] = largest[positions]
    return unique, values


#: The percentiles ``run.json``'s totals and the end-of-run line carry (``report`` adds p95 and p99.9).
RUN_PERCENTILES = (50.0, 90.0, 99.0, 99.9)


@dataclass(eq=False)
class LatencyHistogram:
    """One mergeable latency histogram: counts and largest sample per bucket, plus the exact sum (mean).

    The live counter (``replay/live.py``) fills one per second (the live line) and one per run
    (``run.json``); workers merge them with :meth:`add`, across processes via :meth:`to_wire`. Percentiles
    follow the module's one rule, so the figures equal ``report``'s for the same requests.
    """

    counts: np.ndarray  # (COUNTS_LEN,) int64
    largest: np.ndarray  # (COUNTS_LEN,) float64 ms, -inf where empty
    sum_ms: float = 0.0

    @classmethod
    def empty(cls) -> LatencyHistogram:
        return cls(np.zeros(COUNTS_LEN, dtype=np.int64), np.full(COUNTS_LEN, -np.inf))

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def record(self, latency_ms: np.ndarray, index: np.ndarray | None = None) -> None:
        """Add every sample of ``latency_ms`` (NaN skipped); ``index`` is :func:`index_ms` of it if known."""
        latency_ms = np.asarray(latency_ms, dtype=np.float64)
        keep = ~np.isnan(latency_ms)
        if not keep.all():
            latency_ms = latency_ms[keep]
            index = None if index is None else np.asarray(index)[keep]
        if latency_ms.size == 0:
            return
        index = index_ms(latency_ms) if index is None else index
        self.counts += np.bincount(index, minlength=COUNTS_LEN)[:COUNTS_LEN]
        np.maximum.at(self.largest, index, latency_ms)
        self.sum_ms += float(latency_ms.sum())

    def add(self, other: LatencyHistogram) -> None:
        self.counts += other.counts
        np.maximum(self.largest, other.largest, out=self.largest)
        self.sum_ms += other.sum_ms

    def percentile_ms(self, percentile: float) -> float | None:
        """The nearest-rank percentile (ms), None when empty."""
        value = percentiles_ms(self.counts, self.largest, [percentile])[0, 0]
        return None if np.isnan(value) else float(value)

    def summary(self) -> dict[str, float]:
        """``p50``/``p90``/``p99``/``p99.9``/``max``/``mean`` in ms (empty when there are no samples)."""
        n = self.count
        if n == 0:
            return {}
        values = percentiles_ms(self.counts, self.largest, list(RUN_PERCENTILES))[0]
        return {
            **{f"p{p:g}": float(v) for p, v in zip(RUN_PERCENTILES, values, strict=True)},
            "max": float(self.largest.max()),
            "mean": self.sum_ms / n,
        }

    def to_wire(self) -> dict[str, Any]:
        """Plain data for a process boundary: only the buckets in use."""
        used = np.flatnonzero(self.counts)
        return {
            "index": used.astype(np.int32).tobytes(),
            "counts": self.counts[used].tobytes(),
            "largest": self.largest[used].tobytes(),
            "sum_ms": self.sum_ms,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> LatencyHistogram:
        histogram = cls.empty()
        used = np.frombuffer(data["index"], dtype=np.int32)
        histogram.counts[used] = np.frombuffer(data["counts"], dtype=np.int64)
        histogram.largest[used] = np.frombuffer(data["largest"], dtype=np.float64)
        histogram.sum_ms = float(data["sum_ms"])
        return histogram
