"""Split-half validation: how close a fitted model is to real users, as far as the data itself can tell.

A distance between a simulation and real traffic means little alone: two samples of the *same* real
population differ too, and by a lot when the data is small (a day of a web log: action-mix TVD ≈ 0.12).
So the event table is split by user into halves A and B (several seeded splits); the model is fitted on A
and simulates ``multiple`` × as many users as B has (so the simulation's own sampling noise is small);
each metric's distance model-vs-B is set against A-vs-B, the **noise floor**. A ratio near 1 means the
model is as close to B as another sample of the same users is; the verdict fails when a ratio (distances
averaged over the splits, then divided) exceeds ``limit``.

The floor itself moves a lot from split to split when a few heavy users dominate (pooled think KS
0.010–0.154 over 30 splits of a real web log), and the model's distance moves with it: the model learnt
A, so it is far from B exactly when A is. So each split's model distance stays paired with the same
split's floor (a floor averaged over extra resplits would break that pairing), and each ratio comes with
its **range**: the 5–95 % interval of the ratio over bootstrap resamples of the splits. A verdict whose
range straddles the limit is not settled by these splits (``settled``); more splits settle it.

    report = validate(events, splits=3, multiple=5)          # ValidationReport
    report.passed, report.ratio("think_ks")
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tracereplay.errors import ConfigError
from tracereplay.model.fidelity import DESCRIPTIONS, Verdict, compare
from tracereplay.model.fit import fit
from tracereplay.model.simulate import simulate

if TYPE_CHECKING:
    from rich.console import Console

# The metrics of the split-half test (issue 10): each is a distance the floor is measurable for.
METRICS: tuple[str, ...] = (
    "action_mix_tvd",
    "transition_distance",
    "think_ks",
    "session_length_ks",
    "session_median_think_ks",
    "session_gap_ks",
)
DEFAULT_LIMIT = 1.5
DEFAULT_MULTIPLE = 5
DEFAULT_SPLITS = 3
_RESAMPLES = 2000                  # bootstrap resamples of the splits for each ratio's range


@dataclass(frozen=True, kw_only=True)
class SplitResult:
    """One split: the distances model-vs-B and A-vs-B per metric (``None``: not measurable)."""

    seed: int
    users: tuple[int, int]                     # users in A, in B
    simulated_users: int
    model: dict[str, float | None]
    floor: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "users_a": self.users[0], "users_b": self.users[1],
                "simulated_users": self.simulated_users, "model": self.model, "floor": self.floor}


@dataclass(frozen=True, kw_only=True)
class MetricRatio:
    """A metric over all splits: mean distance model-vs-B, mean floor A-vs-B, and their ratio."""

    name: str
    model: float | None
    floor: float | None
    limit: float
    # 5–95 % of the ratio over bootstrap resamples of the splits (None: fewer than 2 splits measured it)
    interval: tuple[float, float] | None = None

    @property
    def ratio(self) -> float | None:
        if self.model is None or self.floor is None:
            return None
        return _ratio(self.model, self.floor)

    @property
    def settled(self) -> bool | None:
        """Whether the splits settle the verdict: the ratio's whole range is on one side of the limit."""
        if self.interval is None:
            return None
        low, high = self.interval
        return high <= self.limit or low > self.limit

    @property
    def passed(self) -> bool | None:
        ratio = self.ratio
        return None if ratio is None else ratio <= self.limit

    def to_dict(self) -> dict[str, Any]:
        ratio = self.ratio
        interval = None if self.interval is None else [_finite(v) for v in self.interval]
        return {"name": self.name, "description": DESCRIPTIONS[self.name], "model": self.model,
                "floor": self.floor, "ratio": None if ratio is None else _finite(ratio),
                "interval": interval, "settled": self.settled, "limit": self.limit, "passed": self.passed}


@dataclass(frozen=True, kw_only=True)
class ValidationReport(Verdict):
    """Every metric's distance to held-out users next to its noise floor, with a verdict on the ratios."""

    metrics: list[MetricRatio]
    splits: list[SplitResult]
    multiple: float
    limit: float
    source: dict[str, int] = field(default_factory=dict)      # events, users of the whole table

    @property
    def worst_ratio(self) -> float | None:
        ratios = [m.ratio for m in self.metrics if m.ratio is not None]
        return max(ratios) if ratios else None

    def ratio(self, name: str) -> float | None:
        return next(m.ratio for m in self.metrics if m.name == name)

    def __getitem__(self, name: str) -> MetricRatio:
        return next(m for m in self.metrics if m.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": "pass" if self.passed else "fail", "failures": self.failures,
                "limit": self.limit, "multiple": self.multiple, "source": self.source,
                "worst_ratio": self.worst_ratio, "metrics": [m.to_dict() for m in self.metrics],
                "splits": [s.to_dict() for s in self.splits]}

    def render(self, console: Console) -> None:
        from rich.table import Table

        users_b = [s.users[1] for s in self.splits]
        table = Table(title=f"split-half validation: {len(self.splits)} splits by user, model fitted on A, "
                            f"{self.multiple:g}× B's users simulated")
        table.add_column("metric", no_wrap=True)
        for col in ("model vs B", "floor A vs B", "ratio", "range 5–95 %", "result"):
            table.add_column(col, justify="right", no_wrap=True)
        for m in self.metrics:
            ratio = m.ratio
            result = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "-"}[m.passed]
            if m.settled is False:
                result += " [yellow](unsettled)[/]"
            span = "-" if m.interval is None else f"{m.interval[0]:.2f}–{m.interval[1]:.2f}×"
            table.add_row(DESCRIPTIONS[m.name], _fmt(m.model), _fmt(m.floor),
                          "n/a" if ratio is None else f"{ratio:.2f}×", span, result)
        events, users = self.source.get("events", 0), self.source.get("users", 0)
        console.print(f"source: {events:,} events, {users:,} users; "
                      f"B holds {min(users_b):,}–{max(users_b):,} users", soft_wrap=True)
        console.print(table)
        if self.passed:
            verdict = f"[green]PASS[/]: every ratio ≤ {self.limit:g}× the noise floor"
        else:
            verdict = (f"[red]FAIL[/]: {', '.join(self.failures)} above {self.limit:g}× the noise floor")
        console.print(f"verdict: {verdict}", soft_wrap=True)
        unsettled = [m.name for m in self.metrics if m.settled is False]
        if unsettled:
            console.print(f"not settled by {len(self.splits)} splits (the ratio's range straddles "
                          f"{self.limit:g}×): {', '.join(unsettled)}; more --splits settle it",
                          soft_wrap=True)


def validate(events: pd.DataFrame, *, splits: int = DEFAULT_SPLITS, multiple: float = DEFAULT_MULTIPLE,
             limit: float = DEFAULT_LIMIT, seed: int = 0, metrics: tuple[str, ...] = METRICS,
             **fit_settings: Any) -> ValidationReport:
    """Split ``events`` by user ``splits`` times, fit on one half, and rate the model against the other.

    ``fit_settings`` go to :func:`tracereplay.model.fit` (``session_gap_s`` also to the comparisons).

    >>> report = validate(read_events("events.parquet"), splits=3)      # doctest: +SKIP
    >>> report.passed, report.ratio("think_ks")
    """
    problems = []
    if splits < 1:
        problems.append(f"splits must be at least 1 (got {splits})")
    if not multiple > 0:
        problems.append(f"multiple must be positive (got {multiple})")
    if not limit > 0:
        problems.append(f"limit must be positive (got {limit})")
    unknown = [m for m in metrics if m not in DESCRIPTIONS]
    if unknown:
        problems.append(f"unknown metrics {unknown} (known: {', '.join(DESCRIPTIONS)})")
    if problems:
        raise ConfigError(problems)
    if len(events) == 0:
        raise ConfigError("the event table has no rows: nothing to validate")
    user_code, users = pd.factorize(events["user"], use_na_sentinel=False)
    if len(users) < 4:
        raise ConfigError(f"split-half validation needs at least 4 users (the table has {len(users)})")
    session_gap_s = float(fit_settings.get("session_gap_s", 1800.0))

    results = []
    for index in range(splits):
        split_seed = seed + index
        in_a = np.random.default_rng(split_seed).permutation(len(users)) < len(users) // 2
        half_a = events.loc[in_a[user_code]]
        half_b = events.loc[~in_a[user_code]]
        model = fit(half_a, **{"seed": split_seed, **fit_settings})
        n_b = int((~in_a).sum())
        simulated = max(1, round(multiple * n_b))
        synthetic = simulate(model, simulated, seed=split_seed)
        vs_model = compare(half_b, synthetic, session_gap_s=session_gap_s)
        vs_floor = compare(half_b, half_a, session_gap_s=session_gap_s)
        results.append(SplitResult(seed=split_seed, users=(int(in_a.sum()), n_b), simulated_users=simulated,
                                   model={m: vs_model[m] for m in metrics},
                                   floor={m: vs_floor[m] for m in metrics}))
    rows = [MetricRatio(name=m, model=_mean([r.model[m] for r in results]),
                        floor=_mean([r.floor[m] for r in results]), limit=limit,
                        interval=_interval([r.model[m] for r in results], [r.floor[m] for r in results],
                                           seed)) for m in metrics]
    return ValidationReport(metrics=rows, splits=results, multiple=multiple, limit=limit,
                            source={"events": len(events), "users": len(users)})


def _ratio(model: float, floor: float) -> float:
    if floor == 0:
        return 1.0 if model == 0 else math.inf
    return model / floor


def _interval(model: list[float | None], floor: list[float | None], seed: int) -> tuple[float, float] | None:
    """5–95 % of the ratio of mean distances over resamples (with replacement) of the splits, each split's
    model distance kept with its own floor."""
    pairs = [(m, f) for m, f in zip(model, floor, strict=True) if m is not None and f is not None]
    if len(pairs) < 2:
        return None
    known = np.array(pairs)
    picks = np.random.default_rng(seed).integers(0, len(known), size=(_RESAMPLES, len(known)))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = known[picks, 0].sum(axis=1) / known[picks, 1].sum(axis=1)
    ratios = np.where(np.isnan(ratios), 1.0, ratios)      # 0 / 0: both identical
    low, high = np.quantile(ratios, [0.05, 0.95], method="inverted_cdf")      # no inf − inf
    return float(low), float(high)


def _finite(value: float) -> float | None:
    return None if math.isinf(value) else value


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
