"""Compare a run with a baseline run: side-by-side figures, deltas, and regressions that are real.

A change is flagged only when it is both **statistically real** and **material**:

- latency, per action and percentile (p50, p90, p95, p99, p99.9): each run's percentile gets a
  distribution-free confidence interval from the binomial distribution of order statistics
  (``scipy.stats.binom``; no resampling, exact for any sample size, read off the histograms). The change
  is real when the two intervals do not overlap, and material when it is at least ``min_change``
  (relative, default 10 %) *and* ``min_change_ms`` (absolute, default 1 ms);
- error rate, per action: a one-sided Fisher exact test (``scipy.stats.fisher_exact``) at ``alpha``, and
  an increase of at least ``min_error_rate_change`` (absolute, default 0.5 percentage points);
- throughput (rps) is shown with its delta but never flagged: it is set by the load, not the system.

Order-statistic intervals assume independent samples; latencies within a run are correlated in time,
which makes any such test optimistic. The non-overlap rule (stricter than a test at ``alpha``) and the
minimum effect size are what keep noise from being reported as a regression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tracereplay import histogram
from tracereplay.checked import to_float
from tracereplay.report.summary import PERCENTILE_KEYS, PERCENTILES, TOTAL, Summary, _clean

MIN_SAMPLES = 20


@dataclass(frozen=True, kw_only=True)
class CompareSettings:
    """How big and how certain a change must be to be flagged."""

    alpha: float = 0.01
    min_change: float = 0.10
    min_change_ms: float = 1.0
    min_error_rate_change: float = 0.005


@dataclass(frozen=True, kw_only=True)
class Change:
    """One flagged change."""

    action: str
    metric: str
    baseline: float
    candidate: float
    regression: bool  # False: an improvement
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        return _clean(self.__dict__.copy())


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """The candidate run against the baseline: ``table`` side by side, ``changes`` flagged."""

    table: pd.DataFrame  # action, metric, baseline, candidate, delta, delta_pct, flag
    changes: list[Change] = field(default_factory=list)
    settings: CompareSettings = field(default_factory=CompareSettings)

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.regression]

    @property
    def improvements(self) -> list[Change]:
        return [c for c in self.changes if not c.regression]

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": dict(self.settings.__dict__),
            "regressions": [c.to_dict() for c in self.regressions],
            "improvements": [c.to_dict() for c in self.improvements],
            "table": [_clean(r) for r in self.table.to_dict("records")],
        }


SHOWN = ("count", "rps", "error_rate", *PERCENTILE_KEYS, "mean_ms")


def compare_runs(
    candidate: Summary, baseline: Summary, settings: CompareSettings | None = None
) -> Comparison:
    """Compare ``candidate`` with ``baseline`` action by action (and in total), on the headline latency."""
    settings = settings or CompareSettings()
    actions = [*sorted(set(candidate.action_names()) | set(baseline.action_names())), TOTAL]
    rows: list[dict[str, Any]] = []
    changes: list[Change] = []
    for action in actions:
        base, cand = _figures(baseline, action), _figures(candidate, action)
        flags: dict[str, Change] = {}
        if base and cand:
            flags.update(_latency_changes(action, baseline, candidate, settings))
            error_change = _error_change(action, base, cand, settings)
            if error_change:
                flags["error_rate"] = error_change
        changes.extend(flags.values())
        for metric in SHOWN:
            b, c = (base or {}).get(metric), (cand or {}).get(metric)
            rows.append(
                {
                    "action": action,
                    "metric": metric,
                    "baseline": b,
                    "candidate": c,
                    "delta": _delta(b, c),
                    "delta_pct": _delta_pct(b, c),
                    "flag": ("regression" if flags[metric].regression else "improvement")
                    if metric in flags
                    else "",
                }
            )
    return Comparison(table=pd.DataFrame(rows), changes=changes, settings=settings)


def _figures(summary: Summary, action: str) -> dict[str, Any] | None:
    if action == TOTAL:
        return summary.total
    table = summary.actions.set_index("action")
    return table.loc[action].to_dict() if action in table.index else None


def _latency_changes(
    action: str, baseline: Summary, candidate: Summary, settings: CompareSettings
) -> dict[str, Change]:
    base_counts, base_largest = baseline.histogram(action)
    cand_counts, cand_largest = candidate.histogram(action)
    n_base, n_cand = int(base_counts.sum()), int(cand_counts.sum())
    if min(n_base, n_cand) < MIN_SAMPLES:
        return {}
    found = {}
    for key, p in zip(PERCENTILE_KEYS, PERCENTILES, strict=True):
        b_low, b_mid, b_high = _interval(base_counts, base_largest, p / 100, settings.alpha)
        c_low, c_mid, c_high = _interval(cand_counts, cand_largest, p / 100, settings.alpha)
        material = abs(c_mid - b_mid) >= max(settings.min_change * b_mid, settings.min_change_ms)
        if material and c_low > b_high:
            regression = True
        elif material and c_high < b_low:
            regression = False
        else:
            continue
        evidence = (
            f"{100 * (1 - settings.alpha):g}% CIs {b_low:.2f}–{b_high:.2f} ms vs {c_low:.2f}–{c_high:.2f} ms"
        )
        found[key] = Change(
            action=action,
            metric=key,
            baseline=b_mid,
            candidate=c_mid,
            regression=regression,
            evidence=evidence,
        )
    return found


def _interval(counts: np.ndarray, largest: np.ndarray, q: float, alpha: float) -> tuple[float, float, float]:
    """(lower, estimate, upper) of the q-quantile: order statistics whose ranks bound it with 1 − alpha.

    The lower bound reads the low edge of its bucket and the upper the largest sample in its bucket, so
    the histogram's quantisation only ever widens the interval. When the sample is too small for a bound
    (e.g. the upper bound of p99.9 from 2 000 samples lies beyond the largest sample) that bound is open:
    0 or infinity.
    """
    from scipy import stats  # slow to import: only when comparing

    n = int(counts.sum())
    rank = max(math.ceil(q * n - 1e-9), 1)
    low_rank = int(stats.binom.ppf(alpha / 2, n, q))
    high_rank = int(stats.binom.ppf(1 - alpha / 2, n, q)) + 1
    cumulative = np.cumsum(counts)
    lower = 0.0
    if low_rank >= 1:
        low_index = int(np.searchsorted(cumulative, low_rank))
        lower = float(histogram.lowest_equivalent_us(np.array([low_index]))[0]) / 1000.0
    estimate = float(histogram.value_at_rank_ms(counts, largest, np.array([rank]))[0])
    upper = math.inf
    if high_rank <= n:
        upper = float(histogram.value_at_rank_ms(counts, largest, np.array([high_rank]))[0])
    return lower, estimate, upper


def _error_change(
    action: str, base: dict[str, Any], cand: dict[str, Any], settings: CompareSettings
) -> Change | None:
    b_err, b_n, c_err, c_n = int(base["errors"]), int(base["count"]), int(cand["errors"]), int(cand["count"])
    if not b_n or not c_n:
        return None
    b_rate, c_rate = b_err / b_n, c_err / c_n
    if abs(c_rate - b_rate) < settings.min_error_rate_change:
        return None
    from scipy import stats

    table = [[c_err, c_n - c_err], [b_err, b_n - b_err]]
    alternative = "greater" if c_rate > b_rate else "less"
    _odds_ratio, p = stats.fisher_exact(table, alternative=alternative)  # a (statistic, pvalue) tuple
    p_value = to_float(p)
    if p_value >= settings.alpha:
        return None
    return Change(
        action=action,
        metric="error_rate",
        baseline=b_rate,
        candidate=c_rate,
        regression=c_rate > b_rate,
        evidence=f"Fisher exact p={p_value:.2g}",
    )


def _delta(b: Any, c: Any) -> float | None:
    if b is None or c is None or _nan(b) or _nan(c):
        return None
    return float(c) - float(b)


def _delta_pct(b: Any, c: Any) -> float | None:
    delta = _delta(b, c)
    return None if delta is None or not b else 100.0 * delta / float(b)


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
