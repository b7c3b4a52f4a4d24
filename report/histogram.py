"""Latency histograms with HdrHistogram's bucket layout, filled and read with numpy.

Why not record into ``hdrh.HdrHistogram`` directly: its ``record_value`` is a Python call per sample
(~1 µs each), which alone would spend 10 s on a 10 M-request run. This module computes the *same* counts
index as HdrHistogram (``_counts_index_for``) for whole arrays at once and fills the counts with
``numpy.bincount``; ``tests/report/test_histogram.py`` checks the index and the equivalent-value ranges
against the ``hdrh`` library itself.

Layout: values are integer microseconds, 1 µs … 1 h, three significant digits (HdrHistogram's usual
latency setting). Values below 2 048 µs are exact to the microsecond; above, a bucket is at most
1/1 024 of its value wide, so a percentile read from it is within 0.1 % of the exact sample value.
Longer values are clamped into the last bucket (the exact maximum is kept separately by the summary).

Percentiles follow the nearest-rank rule (numpy's ``method="inverted_cdf"``): the p-th percentile is
the smallest sample such that at least p % of the samples are ≤ it. Next to each bucket's count we keep
the largest sample that fell in it, and report that for the bucket holding the nearest-rank sample: the
result is always a real sample, never below the exact percentile, at most one bucket width (0.1 %)
above it, and exact whenever that bucket holds one distinct value (e.g. all samples below 2.048 ms that
differ by ≥ 1 µs, or repeated values).
"""

from __future__ import annotations

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
