"""Distributions of non-negative durations (think times, session gaps, server durations), chosen by fit.

Families, tried in this order and kept as soon as one fits:

    lognormal           log x ~ N(mu, sigma)
    lognormal_mixture   log x ~ Σ w_k N(mu_k, sigma_k), 2 or 3 components chosen by BIC
    empirical           quantiles at evenly spaced probabilities, linear between them

"Fits" means the Kolmogorov–Smirnov distance to the sample is within sampling noise (the 5 % critical
value 1.36/√n) or under ``ks_tolerance`` (1 % by default), whichever is larger: with huge samples no
parametric family passes a test, but a 1 % CDF error is already below what any fidelity check can see.
Every family also carries ``zero_share``, the share of values ≤ 0 (overlapping requests), as a point
mass at 0, because a log-space family cannot hold them.

For sampling, each distribution is compiled to an inverse-CDF table on a fixed probability grid
(:data:`GRID`), so drawing from any mix of cells is one vectorised interpolation (:func:`sample_tables`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

GRID = 513                     # inverse-CDF table size: CDF error of interpolation ≲ 1/512
_P = np.linspace(0.0, 1.0, GRID)
_TAIL = 1e-4                   # parametric tables are cut at these tail probabilities
EMPIRICAL_QUANTILES = 129
_EM_SAMPLE = 2000             # values used to fit a mixture (the KS check uses all)
_MIXTURE_MIN = 200            # fewer values: a mixture is not worth its parameters, go empirical
KS_CRITICAL = 1.36             # 5 % two-sided KS critical value × √n


class Family(enum.Enum):
    LOGNORMAL = "lognormal"
    LOGNORMAL_MIXTURE = "lognormal_mixture"
    EMPIRICAL = "empirical"


@dataclass(frozen=True, kw_only=True)
class Duration:
    """A fitted distribution of a non-negative duration in seconds."""

    family: Family
    n: int                                     # samples it was fitted from
    zero_share: float = 0.0                    # share of values ≤ 0, a point mass at 0
    weights: tuple[float, ...] = ()            # lognormal(_mixture): component weights
    mu: tuple[float, ...] = ()                 # … means of log seconds
    sigma: tuple[float, ...] = ()              # … std devs of log seconds
    quantiles: tuple[float, ...] = ()          # empirical: values at evenly spaced probabilities 0..1
    ks: float = 0.0                            # KS distance of the fit to its sample (positive part)
    # Parametric families: the range of the positive sample. Draws are held inside it — a fitted tail
    # beyond anything observed is invented (think times past a log window's cut, say); format 3.
    low: float | None = None
    high: float | None = None
    _table: np.ndarray | None = field(default=None, compare=False, repr=False)

    def table(self) -> np.ndarray:
        """Values at the probabilities of the grid: the inverse CDF used for sampling (cached)."""
        if self._table is None:
            object.__setattr__(self, "_table", _compile(self))
        assert self._table is not None
        return self._table

    def quantile(self, q: float | np.ndarray) -> np.ndarray | np.float64:
        return np.interp(q, _P, self.table())

    @property
    def median(self) -> float:
        return float(self.quantile(0.5))

    @property
    def mean(self) -> float:
        table = self.table()
        return float(np.mean((table[1:] + table[:-1]) / 2))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return sample_tables(self.table()[None, :], np.zeros(size, dtype=np.int64), rng.random(size))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"family": self.family.value, "n": self.n, "zero_share": _r(self.zero_share)}
        if self.family is Family.EMPIRICAL:
            out["quantiles"] = [_r(v) for v in self.quantiles]
        else:
            out |= {"weights": [_r(w) for w in self.weights], "mu": [_r(m) for m in self.mu],
                    "sigma": [_r(s) for s in self.sigma]}
        out["ks"] = _r(self.ks)
        if self.low is not None and self.high is not None:
            out["range"] = [_r(self.low), _r(self.high)]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Duration:
        family = Family(data["family"])
        dist = cls(
            family=family,
            n=int(data["n"]),
            zero_share=float(data.get("zero_share", 0.0)),
            weights=tuple(float(w) for w in data.get("weights", ())),
            mu=tuple(float(m) for m in data.get("mu", ())),
            sigma=tuple(float(s) for s in data.get("sigma", ())),
            quantiles=tuple(float(q) for q in data.get("quantiles", ())),
            ks=float(data.get("ks", 0.0)),
            low=float(data["range"][0]) if data.get("range") is not None else None,
            high=float(data["range"][1]) if data.get("range") is not None else None,
        )
        dist.validate()
        return dist

    def validate(self) -> None:
        if not 0.0 <= self.zero_share <= 1.0:
            raise ValueError(f"zero_share {self.zero_share} is not a share")
        if self.low is not None and self.high is not None and not (
                np.isfinite(self.low) and np.isfinite(self.high) and 0 <= self.low <= self.high):
            raise ValueError(f"range [{self.low}, {self.high}] is not an interval of non-negative numbers")
        if self.family is Family.EMPIRICAL:
            q = np.asarray(self.quantiles)
            if len(q) < 1 or not np.all(np.isfinite(q)) or np.any(np.diff(q) < 0):
                raise ValueError("empirical quantiles must be finite and non-decreasing")
        else:
            k = len(self.mu)
            if k < 1 or len(self.sigma) != k or len(self.weights) != k:
                raise ValueError("lognormal parameters must have one weight, mu and sigma per component")
            if min(self.sigma) <= 0 or min(self.weights) < 0:
                raise ValueError("sigma must be positive and weights non-negative")


def _r(value: float) -> float:
    """Round for the file: 9 significant digits keep every fit exact enough and the file readable."""
    return float(f"{value:.9g}")


def fit_duration(values: np.ndarray, *, ks_tolerance: float = 0.01, noise_n: int | None = None,
                 first: Family = Family.LOGNORMAL) -> Duration | None:
    """Fit the first family that fits ``values`` (seconds; NaN ignored). ``None`` when there is no value.

    ``noise_n``: judge "fits" at the sampling noise of that many values instead of ``len(values)`` — for
    cells that are sampled together as one law, whose misfits would otherwise add up to more than the
    noise of the whole. ``first``: the simplest family worth trying (families before it are skipped), for
    slices of a pooled sample that is held to the same bar and already needed that family."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return None
    positive = values[values > 0]
    zero_share = 1.0 - len(positive) / n
    if len(positive) < 2 or np.ptp(positive) == 0:
        constant = float(positive[0]) if len(positive) else 0.0
        return Duration(family=Family.EMPIRICAL, n=n, zero_share=zero_share, quantiles=(constant,))
    logs = np.sort(np.log(positive))
    low, high = float(positive.min()), float(positive.max())
    accept = max(KS_CRITICAL / np.sqrt(max(noise_n or len(logs), len(logs))), ks_tolerance)

    if first is Family.LOGNORMAL:
        mu, sd = float(logs.mean()), max(float(logs.std()), 1e-6)
        ks = _ks_normal_mixture(logs, np.array([1.0]), np.array([mu]), np.array([sd]))
        if ks <= accept:
            return Duration(family=Family.LOGNORMAL, n=n, zero_share=zero_share, weights=(1.0,), mu=(mu,),
                            sigma=(sd,), ks=ks, low=low, high=high)
    if first is not Family.EMPIRICAL and len(logs) >= _MIXTURE_MIN:
        mixture = _best_mixture(logs)
        if mixture is not None:
            w, m, s = mixture
            ks = _ks_normal_mixture(logs, w, m, s)
            if ks <= accept:
                return Duration(family=Family.LOGNORMAL_MIXTURE, n=n, zero_share=zero_share,
                                weights=tuple(w), mu=tuple(m), sigma=tuple(s), ks=ks, low=low, high=high)
    count = min(EMPIRICAL_QUANTILES, len(positive))
    quantiles = np.quantile(positive, np.linspace(0.0, 1.0, count))
    return Duration(family=Family.EMPIRICAL, n=n, zero_share=zero_share, quantiles=tuple(quantiles),
                    ks=float(0.5 / max(count - 1, 1)))


def _ks_normal_mixture(sorted_x: np.ndarray, w: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> float:
    cdf = (w[None, :] * special.ndtr((sorted_x[:, None] - mu[None, :]) / sd[None, :])).sum(axis=1)
    n = len(sorted_x)
    upper = np.arange(1, n + 1) / n - cdf
    lower = cdf - np.arange(0, n) / n
    return float(max(upper.max(), lower.max()))


def _best_mixture(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A 2- or 3-component Gaussian mixture of ``x`` (log seconds), chosen by BIC."""
    best, best_bic = None, np.inf
    for k in (2, 3):
        if len(x) < 25 * k:
            break
        w, m, s, loglik = _em_normal_mixture(x, k)
        bic = -2 * loglik + (3 * k - 1) * np.log(len(x))
        if bic < best_bic:
            best, best_bic = (w, m, s), bic
    return best


def _em_normal_mixture(
    x: np.ndarray, k: int, iterations: int = 60
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    # A bounded, evenly spread subsample is plenty for a 3-component fit and keeps fitting fast.
    if len(x) > _EM_SAMPLE:
        x = x[np.linspace(0, len(x) - 1, _EM_SAMPLE).astype(np.int64)]
    # Start from quantile-spaced means: deterministic, no random restarts needed in one dimension.
    mu = np.quantile(x, (np.arange(k) + 0.5) / k)
    sd = np.full(k, max(float(x.std()) / k, 1e-3))
    w = np.full(k, 1.0 / k)
    floor = max(float(x.std()) * 1e-3, 1e-6)
    previous = -np.inf
    loglik = previous
    for _ in range(iterations):
        log_p = np.log(w) - np.log(sd) - 0.5 * np.log(2 * np.pi) - 0.5 * ((x[:, None] - mu) / sd) ** 2
        top = log_p.max(axis=1, keepdims=True)
        resp = np.exp(log_p - top)
        total = resp.sum(axis=1, keepdims=True)
        loglik = float((np.log(total) + top).sum())
        resp /= total
        nk = resp.sum(axis=0) + 1e-12
        w = nk / len(x)
        mu = (resp * x[:, None]).sum(axis=0) / nk
        sd = np.sqrt(np.maximum((resp * (x[:, None] - mu) ** 2).sum(axis=0) / nk, floor**2))
        if loglik - previous < 1e-5 * abs(loglik):
            break
        previous = loglik
    order = np.argsort(mu)
    # Both candidate sizes see the same subsample, so their BICs compare like with like.
    return w[order], mu[order], sd[order], loglik


def _compile(dist: Duration) -> np.ndarray:
    z = dist.zero_share
    # Probabilities of the positive part that each grid point maps to after the point mass at 0.
    positive_p = np.clip((_P - z) / max(1.0 - z, 1e-12), 0.0, 1.0)
    if dist.family is Family.EMPIRICAL:
        q = np.asarray(dist.quantiles, dtype=np.float64)
        values = q if len(q) == 1 else np.interp(positive_p, np.linspace(0, 1, len(q)), q)
        values = np.broadcast_to(values, _P.shape).copy()
    else:
        values = np.exp(_mixture_ppf(np.clip(positive_p, _TAIL, 1 - _TAIL), dist))
        if dist.low is not None and dist.high is not None:
            values = np.clip(values, dist.low, dist.high)
    values[z > _P] = 0.0
    return values


def _mixture_ppf(p: np.ndarray, dist: Duration) -> np.ndarray:
    w, mu, sd = np.asarray(dist.weights), np.asarray(dist.mu), np.asarray(dist.sigma)
    w = w / w.sum()
    if len(w) == 1:
        return mu[0] + sd[0] * special.ndtri(p)
    # No closed form: invert the mixture CDF on a dense grid of log seconds.
    grid = np.linspace((mu - 6 * sd).min(), (mu + 6 * sd).max(), 8193)
    cdf = (w[None, :] * special.ndtr((grid[:, None] - mu[None, :]) / sd[None, :])).sum(axis=1)
    return np.interp(p, cdf, grid)


def sample_tables(tables: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Draw one value per ``rows[i]`` from compiled tables (``tables[row]`` is a :data:`GRID` inverse CDF)."""
    position = u * (GRID - 1)
    low = np.minimum(position.astype(np.int64), GRID - 2)
    frac = position - low
    return tables[rows, low] * (1.0 - frac) + tables[rows, low + 1] * frac
