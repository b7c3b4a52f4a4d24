"""Per-action figures of a run: counts, errors by kind, and latency histograms of both latency kinds.

:class:`ActionAccumulator` folds decoded chunks (:mod:`.columns`) into dense arrays indexed by action code,
so a 10 M-request run costs a few hundred kilobytes per action, whatever its length.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tracereplay import histogram
from tracereplay.report.columns import BatchArrays, Codes

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)
PERCENTILE_KEYS = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms")
LATENCY_KEYS = (*PERCENTILE_KEYS, "max_ms", "mean_ms")
COUNT_KEYS = ("count", "errors", "expected", "error_rate", "rps")
TOTAL = "TOTAL"
PERCENTILE_METHOD = "nearest-rank; HdrHistogram layout, 3 significant digits (<=0.1% above the exact sample)"


class Latency(enum.Enum):
    """Which latency the headline figures use."""

    CORRECTED = "corrected"  # from the intended (scheduled) start: includes time spent waiting to send
    MEASURED = "measured"  # from the actual start of the request


@dataclass
class LatencyStats:
    """Per-action histograms of one latency kind, plus exact sums (for the mean).

    The exact maximum needs no array of its own: it is the largest sample of the highest bucket.
    """

    counts: np.ndarray  # (actions, COUNTS_LEN)
    largest: np.ndarray  # (actions, COUNTS_LEN): the largest sample in each bucket, -inf if none
    sums: np.ndarray  # (actions,)

    @classmethod
    def empty(cls, n: int) -> LatencyStats:
        return cls(
            counts=np.zeros((n, histogram.COUNTS_LEN), dtype=np.int64),
            largest=np.full((n, histogram.COUNTS_LEN), -np.inf),
            sums=np.zeros(n),
        )

    def grow(self, n: int) -> None:
        extra = n - len(self.sums)
        if extra > 0:
            more = LatencyStats.empty(extra)
            self.counts = np.vstack([self.counts, more.counts])
            self.largest = np.vstack([self.largest, more.largest])
            self.sums = np.concatenate([self.sums, more.sums])

    def add(self, action: np.ndarray, latency_ms: np.ndarray, n_actions: int, index: np.ndarray) -> None:
        """Fold samples in; ``index`` is each sample's histogram index (:func:`histogram.index_ms`)."""
        self.grow(n_actions)
        keep = ~np.isnan(latency_ms)
        action, latency_ms, index = action[keep], latency_ms[keep], index[keep]
        # straight into the (actions × buckets) arrays: the cost follows the samples, not the buckets
        keys = action * histogram.COUNTS_LEN + index
        np.add.at(self.counts.reshape(-1), keys, 1)
        np.maximum.at(self.largest.reshape(-1), keys, latency_ms)
        self.sums += np.bincount(action, weights=latency_ms, minlength=n_actions)

    def table(self) -> pd.DataFrame:
        """Rows: actions then the total; columns: :data:`LATENCY_KEYS`."""
        counts = np.vstack([self.counts, self.counts.sum(axis=0)])
        largest = np.vstack([self.largest, self.largest.max(axis=0, initial=-np.inf)])
        samples = counts.sum(axis=1)
        sums = np.append(self.sums, self.sums.sum())
        maxima = np.where(samples > 0, largest.max(axis=1, initial=-np.inf), np.nan)
        values = histogram.percentiles_ms(counts, largest, list(PERCENTILES))
        frame = pd.DataFrame(values, columns=list(PERCENTILE_KEYS))
        frame["max_ms"] = maxima
        with np.errstate(invalid="ignore", divide="ignore"):
            frame["mean_ms"] = np.where(samples > 0, sums / np.maximum(samples, 1), np.nan)
        return frame


class ActionAccumulator:
    """Counts, errors (by kind), bytes, time span and both latency histograms, per action."""

    def __init__(self) -> None:
        self.actions, self.kinds = Codes(), Codes()
        self.stats = {kind.value: LatencyStats.empty(0) for kind in Latency}
        self.counts = np.zeros(0, dtype=np.int64)
        self.errors = np.zeros(0, dtype=np.int64)
        self.expected = np.zeros(0, dtype=np.int64)  # expected HTTP error statuses (not errors)
        self.bytes = 0.0
        self.first_ns, self.last_ns = np.iinfo(np.int64).max, np.iinfo(np.int64).min
        self._error_pairs: list[np.ndarray] = []  # (action, kind) of every error row

    def add(self, arrays: BatchArrays, ends_ns: np.ndarray) -> None:
        n = len(self.actions)
        self.counts = _grow(self.counts, n) + np.bincount(arrays.action, minlength=n)
        errors = np.bincount(arrays.action, weights=arrays.error, minlength=n)
        self.errors = _grow(self.errors, n) + errors.astype(np.int64)
        expected = np.bincount(arrays.action, weights=arrays.expected, minlength=n)
        self.expected = _grow(self.expected, n) + expected.astype(np.int64)
        measured_index = histogram.index_ms(arrays.measured_ms)
        # corrected equals measured for every request sent on time: index only the others again
        late = arrays.corrected_ms != arrays.measured_ms
        corrected_index = measured_index.copy()
        corrected_index[late] = histogram.index_ms(arrays.corrected_ms[late])
        self.stats[Latency.MEASURED.value].add(arrays.action, arrays.measured_ms, n, measured_index)
        self.stats[Latency.CORRECTED.value].add(arrays.action, arrays.corrected_ms, n, corrected_index)
        self._error_pairs.append(np.stack([arrays.action[arrays.error], arrays.kind[arrays.error]], axis=1))
        if arrays.bytes is not None:
            self.bytes += float(np.nansum(arrays.bytes))
        self.first_ns = min(self.first_ns, int(arrays.ts_ns.min()))
        self.last_ns = max(self.last_ns, int(ends_ns.max()))

    @property
    def has_data(self) -> bool:
        return bool(self.counts.sum())

    def finish(self) -> None:
        """Give every array a row for every action seen (a late action may be missing from early ones)."""
        n = len(self.actions)
        for item in self.stats.values():
            item.grow(n)
        self.counts, self.errors = _grow(self.counts, n), _grow(self.errors, n)
        self.expected = _grow(self.expected, n)

    def latency_tables(self) -> dict[str, pd.DataFrame]:
        """Kind → :data:`LATENCY_KEYS` indexed by action, with a ``TOTAL`` row last."""
        index = pd.Index([*self.actions.names, TOTAL], name="action")
        return {kind: stats.table().set_axis(index) for kind, stats in self.stats.items()}

    def histograms(self, order: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Kind → (counts, largest) with rows in ``order`` (action names and ``TOTAL``)."""
        names = [*self.actions.names, TOTAL]
        rows = [names.index(a) for a in order]
        return {
            kind: (
                np.vstack([item.counts, item.counts.sum(axis=0)])[rows],
                np.vstack([item.largest, item.largest.max(axis=0, initial=-np.inf)])[rows],
            )
            for kind, item in self.stats.items()
        }

    def errors_table(self) -> pd.DataFrame:
        """``action, error_kind, count`` of the error rows, by action then most frequent kind first."""
        stacked = np.concatenate(self._error_pairs) if self._error_pairs else np.zeros((0, 2), dtype=np.int64)
        if not len(stacked):
            return pd.DataFrame(
                {
                    "action": pd.Series([], dtype=str),
                    "error_kind": pd.Series([], dtype=str),
                    "count": pd.Series([], dtype=np.int64),
                }
            )
        unique, count = np.unique(stacked, axis=0, return_counts=True)
        frame = pd.DataFrame(
            {
                "action": [self.actions.names[a] for a in unique[:, 0]],
                "error_kind": [self.kinds.names[k] for k in unique[:, 1]],
                "count": count.astype(np.int64),
            }
        )
        ordered = frame.sort_values(["action", "count"], ascending=[True, False], kind="stable")
        return ordered.reset_index(drop=True)


def _grow(values: np.ndarray, n: int) -> np.ndarray:
    if len(values) >= n:
        return values
    return np.concatenate([values, np.zeros(n - len(values), dtype=values.dtype)])
