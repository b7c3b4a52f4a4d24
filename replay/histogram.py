"""Latency histograms: HdrHistogram fed in batches from numpy arrays.

``HdrHistogram.record_value`` costs ~2 µs in Python, too much per request on the hot path. The recorder
instead keeps each second's latencies in a column and adds them here in one vectorised step, computing the
same counts index as HdrHistogram does value by value.
"""

from __future__ import annotations

import numpy as np
from hdrh.histogram import HdrHistogram

#: Latencies are kept in microseconds, from 1 µs to 1 hour, with 3 significant digits.
LOWEST_US, HIGHEST_US, DIGITS = 1, 3_600_000_000, 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def record_many(histogram: HdrHistogram, values_us: np.ndarray) -> None:
    """Record every value of ``values_us`` (integer microseconds) into ``histogram``, vectorised."""
    values = np.asarray(values_us, dtype=np.int64)
    values = np.clip(values[values >= 0], 0, histogram.highest_trackable_value)
    if values.size == 0:
        return
    h = histogram
    # bit length of (value | sub_bucket_mask), as HdrHistogram's 64 - clz(...)
    masked = values | np.int64(h.sub_bucket_mask)
    pow2ceiling = np.frexp(masked.astype(np.float64))[1].astype(np.int64)
    bucket = pow2ceiling - h.unit_magnitude - (h.sub_bucket_half_count_magnitude + 1)
    sub_bucket = values >> (bucket + h.unit_magnitude)
    index = ((bucket + 1) << h.sub_bucket_half_count_magnitude) + (sub_bucket - h.sub_bucket_half_count)
    index = index[(index >= 0) & (index < h.counts_len)]
    counts = np.ctypeslib.as_array(h.counts)
    counts += np.bincount(index, minlength=h.counts_len).astype(counts.dtype)[: h.counts_len]
    h.total_count += int(index.size)
    h.min_value = min(h.min_value, int(values.min()))
    h.max_value = max(h.max_value, int(values.max()))


def value_at_percentile(histogram: HdrHistogram, percentile: float) -> int:
    """``histogram.get_value_at_percentile`` computed with numpy (the Python loop costs ~5 ms a call)."""
    h = histogram
    total = h.total_count
    if total == 0:
        return 0
    target = max(int(min(percentile, 100.0) * total / 100 + 0.5), 1)
    counts = np.ctypeslib.as_array(h.counts)
    index = int(np.searchsorted(np.cumsum(counts), target))
    bucket = (index >> h.sub_bucket_half_count_magnitude) - 1
    sub_bucket = (index & (h.sub_bucket_half_count - 1)) + h.sub_bucket_half_count
    if bucket < 0:
        sub_bucket -= h.sub_bucket_half_count
        bucket = 0
    value = sub_bucket << (bucket + h.unit_magnitude)
    return h.get_highest_equivalent_value(value) if percentile else h.get_lowest_equivalent_value(value)


def mean_value(histogram: HdrHistogram) -> float:
    """The mean, from bucket midpoints as HdrHistogram does, vectorised."""
    h = histogram
    if h.total_count == 0:
        return 0.0
    counts = np.ctypeslib.as_array(h.counts)
    index = np.flatnonzero(counts)
    bucket = (index >> h.sub_bucket_half_count_magnitude) - 1
    sub_bucket = (index & (h.sub_bucket_half_count - 1)) + h.sub_bucket_half_count
    low = bucket < 0
    sub_bucket = np.where(low, sub_bucket - h.sub_bucket_half_count, sub_bucket)
    bucket = np.where(low, 0, bucket)
    lowest = sub_bucket << (bucket + h.unit_magnitude)
    size = 1 << (h.unit_magnitude + bucket + (sub_bucket >= h.sub_bucket_count))
    middle = lowest + (size >> 1)
    return float(np.sum(middle * counts[index]) / h.total_count)
