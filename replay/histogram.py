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
