"""The vectorised histogram must match the HdrHistogram library's layout and the exact percentiles."""

from __future__ import annotations

import numpy as np
from hdrh.histogram import HdrHistogram

from tests.report.conftest import nearest_rank
from tracereplay import histogram


def test_counts_index_matches_the_hdrh_library() -> None:
    reference = HdrHistogram(1, histogram.HIGHEST_TRACKABLE_US, histogram.SIGNIFICANT_FIGURES)
    assert reference.counts_len == histogram.COUNTS_LEN
    rng = np.random.default_rng(7)
    powers = 2 ** np.arange(1, 31)
    values = np.concatenate(
        [
            np.arange(0, 5000),
            rng.integers(0, histogram.HIGHEST_TRACKABLE_US, 5000),
            powers,
            powers - 1,
            powers + 1,
        ]
    )
    index = histogram.index_for(values)
    assert list(index) == [reference._counts_index_for(int(v)) for v in values]
    assert list(histogram.highest_equivalent_us(index)) == [
        reference.get_highest_equivalent_value(int(v)) for v in values
    ]
    assert list(histogram.lowest_equivalent_us(index)) == [
        reference.get_lowest_equivalent_value(int(v)) for v in values
    ]


def test_percentiles_are_nearest_rank_within_the_documented_precision() -> None:
    rng = np.random.default_rng(3)
    samples = rng.lognormal(np.log(30), 1.2, size=20_000)
    counts, largest = histogram.dense_counts(np.zeros(len(samples), dtype=np.int64), samples, 1)
    wanted = [1.0, 50.0, 90.0, 99.0, 99.9, 100.0]
    got = histogram.percentiles_ms(counts, largest, wanted)[0]
    exact = np.array([nearest_rank(samples, p) for p in wanted])
    # a real sample, never below the exact percentile, at most one bucket (0.1 %) above it
    assert set(got) <= set(samples)
    assert np.all(got >= exact)
    assert np.all(got <= exact * (1 + histogram.RELATIVE_PRECISION) + 0.0005)
    assert got[-1] == samples.max()


def test_small_latencies_are_exact_to_the_microsecond() -> None:
    samples = np.arange(1, 101) * 0.01  # 0.01 ms … 1.00 ms
    counts, largest = histogram.dense_counts(np.zeros(100, dtype=np.int64), samples, 1)
    got = histogram.percentiles_ms(counts, largest, [50.0, 90.0, 99.0])[0]
    np.testing.assert_allclose(got, [0.50, 0.90, 0.99], atol=1e-9)


def test_groups_are_separate_and_empty_groups_are_nan() -> None:
    groups = np.array([0, 0, 0, 2, 2])
    latency = np.array([1.0, 2.0, 3.0, 10.0, np.nan])
    counts, largest = histogram.dense_counts(groups, latency, 3)
    assert counts.sum(axis=1).tolist() == [3, 0, 1]
    got = histogram.percentiles_ms(counts, largest, [50.0])
    assert got[0, 0] == 2.0 and np.isnan(got[1, 0]) and got[2, 0] == 10.0


def test_sparse_percentiles_agree_with_dense() -> None:
    rng = np.random.default_rng(5)
    groups = rng.integers(0, 4, size=5000)
    latency = rng.exponential(50, size=5000)
    dense = histogram.percentiles_ms(*histogram.dense_counts(groups, latency, 4), [50.0, 99.0])
    index = histogram.index_for(histogram.to_microseconds(latency))
    keys, inverse, counts = np.unique(
        groups * histogram.COUNTS_LEN + index, return_inverse=True, return_counts=True
    )
    largest = np.full(len(keys), -np.inf)
    np.maximum.at(largest, inverse, latency)
    unique, sparse = histogram.sparse_percentiles_ms(
        keys // histogram.COUNTS_LEN, keys % histogram.COUNTS_LEN, counts, largest, [50.0, 99.0]
    )
    assert unique.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(sparse, dense)


def test_the_fused_hot_path_index_matches_the_reference() -> None:
    latency_ms = np.concatenate(
        [
            np.random.default_rng(9).lognormal(3, 2, 50_000),
            np.arange(0, 5000) / 1000,
            [0.0, 3.6e6, 1e9, np.nan],
        ]
    )
    np.testing.assert_array_equal(
        histogram.index_ms(latency_ms), histogram.index_for(histogram.to_microseconds(latency_ms))
    )


def test_the_live_histogram_merged_from_pieces_gives_the_report_figures() -> None:
    """Per-second, per-worker LatencyHistograms, merged, read the same as the report's dense counts."""
    rng = np.random.default_rng(7)
    samples = np.round(rng.lognormal(2.0, 1.2, 20_000), 3)
    merged = histogram.LatencyHistogram.empty()
    for piece in np.array_split(samples, 37):
        second = histogram.LatencyHistogram.empty()
        second.record(piece)
        merged.add(histogram.LatencyHistogram.from_wire(second.to_wire()))  # across a process boundary
    counts, largest = histogram.dense_counts(np.zeros(len(samples), dtype=np.int64), samples, 1)
    wanted = list(histogram.RUN_PERCENTILES)
    report = histogram.percentiles_ms(counts, largest, wanted)[0]
    summary = merged.summary()
    assert [summary[f"p{p:g}"] for p in wanted] == list(report)
    assert summary["max"] == samples.max() and merged.count == len(samples)
    assert np.isclose(summary["mean"], samples.mean())
    exact = np.array([nearest_rank(samples, p) for p in wanted])
    got = np.array([summary[f"p{p:g}"] for p in wanted])
    assert np.all(got >= exact) and np.all(got <= exact * (1 + histogram.RELATIVE_PRECISION))


def test_an_empty_live_histogram_has_no_figures() -> None:
    empty = histogram.LatencyHistogram.empty()
    empty.record(np.array([np.nan]))
    assert empty.summary() == {} and empty.percentile_ms(99) is None and empty.count == 0
