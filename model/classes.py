"""User classes: a mixture of Markov chains fitted by EM, the number of classes chosen by BIC.

This is the WESSBAS idea (cluster behaviour, then fit one chain per cluster) done with a likelihood
instead of k-means on frequency vectors: each unit (a user, or a session) is a bag of transition counts
``START→a, a→b, …, z→EXIT`` plus its log think times; a class is a Markov chain over actions and, per
action, a normal law of the log think time after it (think depends on the page being read, so a single
pooled law would split one population by what its users happen to read).

The likelihood respects how much evidence a unit carries (a one-click session says little; a user with
forty sessions says a lot), which k-means on share vectors cannot, and it makes BIC a principled way to
pick the number of classes: a population drawn from one chain comes out as one class, readers and
posters as two.

Model selection runs on a bounded subsample of units (``selection_units``), then the chosen mixture is
refined on every unit, so fitting stays fast on millions of events.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse

_SMOOTH = 1e-3          # pseudo-count on transitions seen anywhere, so no class gives them zero probability
_VAR_FLOOR = 1e-4       # variance floor of log think time (log seconds²)


@dataclass(frozen=True, kw_only=True)
class UnitData:
    """Sufficient statistics per unit: transition counts and log-think moments per action before."""

    counts: sparse.csr_matrix       # units × observed cells (columns: ``cells``)
    think_n: sparse.csr_matrix      # units × A: positive think samples after each action
    think_sum: sparse.csr_matrix    # Σ log think
    think_sumsq: sparse.csr_matrix  # Σ (log think)²
    n_actions: int
    # Only transitions seen somewhere are columns, so the work grows with what users do, not with A².
    cells: np.ndarray               # cell id per column: row * (A + 1) + col; row A = START, col A = EXIT

    @property
    def n_units(self) -> int:
        shape = self.counts.shape
        assert shape is not None  # scipy leaves shape unannotated: None until the constructor sets it
        return shape[0]

    @cached_property
    def cell_row(self) -> np.ndarray:
        return self.cells // (self.n_actions + 1)

    @cached_property
    def row_sums(self) -> sparse.csr_matrix:
        """Columns × rows indicator: ``counts @ row_sums`` totals each state's outgoing counts."""
        n = len(self.cells)
        return sparse.csr_matrix((np.ones(n), (np.arange(n), self.cell_row)), shape=(n, self.n_actions + 1))

    def expand(self, compact: np.ndarray) -> np.ndarray:
        """K × columns → K × (A + 1)², zeros for the cells never seen."""
        full = np.zeros((compact.shape[0], (self.n_actions + 1) ** 2))
        full[:, self.cells] = compact
        return full

    @cached_property
    def transposed(self) -> tuple[sparse.csr_matrix, ...]:
        """The four matrices transposed once (the M-step multiplies by them every iteration)."""
        return tuple(m.T.tocsr() for m in (self.counts, self.think_n, self.think_sum, self.think_sumsq))

    def subset(self, rows: np.ndarray) -> UnitData:
        return UnitData(counts=self.counts[rows], think_n=self.think_n[rows], think_sum=self.think_sum[rows],
                        think_sumsq=self.think_sumsq[rows], n_actions=self.n_actions, cells=self.cells)


@dataclass(frozen=True, kw_only=True)
class Mixture:
    """A fitted mixture: class weights, per-class log transition probabilities and log-think normals."""

    weights: np.ndarray             # K
    log_p: np.ndarray               # K × observed cells
    think_mu: np.ndarray            # K × A
    think_var: np.ndarray           # K × A
    loglik: float
    n_params: int

    @property
    def k(self) -> int:
        return len(self.weights)

    def bic(self, n_units: int) -> float:
        return -2.0 * self.loglik + self.n_params * np.log(max(n_units, 2))

    def take(self, classes: np.ndarray) -> Mixture:
        """The mixture restricted to (and ordered as) ``classes``."""
        return Mixture(weights=self.weights[classes], log_p=self.log_p[classes],
                       think_mu=self.think_mu[classes], think_var=self.think_var[classes],
                       loglik=self.loglik, n_params=self.n_params)


def unit_data(unit_of_cell: np.ndarray, cell: np.ndarray, n_units: int, n_actions: int,
              unit_of_think: np.ndarray, action_of_think: np.ndarray, log_think: np.ndarray) -> UnitData:
    """Build :class:`UnitData` from one row per transition (``cell``) and one per positive think sample."""
    cells, column = np.unique(cell, return_inverse=True)
    counts = sparse.csr_matrix(
        (np.ones(len(cell)), (unit_of_cell, column)), shape=(n_units, len(cells)), dtype=np.float64
    )
    counts.sum_duplicates()

    def per_action(weights: np.ndarray) -> sparse.csr_matrix:
        matrix = sparse.csr_matrix((weights, (unit_of_think, action_of_think)), shape=(n_units, n_actions))
        matrix.sum_duplicates()
        return matrix

    return UnitData(counts=counts, think_n=per_action(np.ones(len(log_think))),
                    think_sum=per_action(log_think), think_sumsq=per_action(log_think**2),
                    n_actions=n_actions, cells=cells)


def choose_classes(data: UnitData, *, max_classes: int, fixed: int | None, selection_units: int,
                   restarts: int, rng: np.random.Generator) -> tuple[Mixture, np.ndarray]:
    """Fit the mixture with the BIC-best number of classes (or ``fixed``); return it and unit posteriors."""
    if data.n_units > selection_units:
        sample = data.subset(np.sort(rng.choice(data.n_units, selection_units, replace=False)))
    else:
        sample = data
    candidates = [fixed] if fixed else list(range(1, max(1, max_classes) + 1))
    best: Mixture | None = None
    worse_in_a_row = 0
    for k in candidates:
        if k > sample.n_units:
            break
        fitted = max((_em(sample, k, rng) for _ in range(restarts if k > 1 else 1)),
                     key=lambda m: m.loglik)
        if best is None or fitted.bic(sample.n_units) < best.bic(sample.n_units):
            best, worse_in_a_row = fitted, 0
        else:
            worse_in_a_row += 1
            if worse_in_a_row >= 2:
                break
    assert best is not None
    if sample is not data:
        best = _em(data, best.k, rng, start=best)
    return best, posteriors(data, best)


def posteriors(data: UnitData, mixture: Mixture) -> np.ndarray:
    """P(class | unit), units × K."""
    log_joint = _log_joint(data, mixture)
    return np.exp(log_joint - _logsumexp_rows(log_joint))


def _log_joint(data: UnitData, m: Mixture) -> np.ndarray:
    chain = np.asarray(data.counts @ m.log_p.T)
    # Σ over think samples of log N(x | mu, var), from the per-action moments n, Σx, Σx².
    var = m.think_var
    think = (data.think_n @ (-0.5 * np.log(2 * np.pi * var) - m.think_mu**2 / (2 * var)).T
             - data.think_sumsq @ (1 / (2 * var)).T
             + data.think_sum @ (m.think_mu / var).T)
    return chain + np.asarray(think) + np.log(np.maximum(m.weights, 1e-300))[None, :]


def _em(data: UnitData, k: int, rng: np.random.Generator, *,
        start: Mixture | None = None, iterations: int = 200, tol: float = 1e-6) -> Mixture:
    # From a given mixture, or a random hard split: EM from a few such starts finds separated classes.
    resp = posteriors(data, start) if start is not None else np.eye(k)[rng.integers(0, k, data.n_units)]
    previous = -np.inf
    mixture = _m_step(data, resp)
    for _ in range(iterations):
        log_joint = _log_joint(data, mixture)
        norm = _logsumexp_rows(log_joint)
        loglik = float(norm.sum())
        resp = np.exp(log_joint - norm)
        mixture = _m_step(data, resp)
        if loglik - previous <= tol * abs(loglik):
            break
        previous = loglik
    return Mixture(weights=mixture.weights, log_p=mixture.log_p, think_mu=mixture.think_mu,
                   think_var=mixture.think_var, loglik=loglik, n_params=mixture.n_params)


def _m_step(data: UnitData, resp: np.ndarray) -> Mixture:
    k = resp.shape[1]
    weights = resp.sum(axis=0) / max(data.n_units, 1)
    counts_t, n_t, sum_t, sumsq_t = data.transposed
    counts = np.asarray(counts_t @ resp).T + _SMOOTH
    totals = np.asarray((data.row_sums.T @ counts.T).T)           # K × (A + 1)
    log_p = np.log(counts) - np.log(totals[:, data.cell_row])
    n = np.asarray(n_t @ resp).T
    s1 = np.asarray(sum_t @ resp).T
    s2 = np.asarray(sumsq_t @ resp).T
    # Actions with no think evidence in a class borrow the class's pooled law (they add nothing to
    # any likelihood there, but the values must stay finite).
    pooled_n = n.sum(axis=1, keepdims=True) + 1e-9
    pooled_mu = s1.sum(axis=1, keepdims=True) / pooled_n
    pooled_var = np.maximum(s2.sum(axis=1, keepdims=True) / pooled_n - pooled_mu**2, _VAR_FLOOR)
    has = n > 0.5
    safe_n = np.where(has, n, 1.0)
    mu = np.where(has, s1 / safe_n, pooled_mu)
    var = np.where(has, np.maximum(s2 / safe_n - mu**2, _VAR_FLOOR), pooled_var)
    free = int(np.maximum(np.bincount(data.cell_row) - 1, 0).sum())
    think_params = 2 * int((n.sum(axis=0) > 0).sum())
    n_params = (k - 1) + k * (free + think_params)
    return Mixture(weights=weights, log_p=log_p, think_mu=mu, think_var=var, loglik=-np.inf,
                   n_params=n_params)


def _logsumexp_rows(values: np.ndarray) -> np.ndarray:
    """log Σ exp over each row, kept as a column (scipy's version costs more than the sums here)."""
    top = values.max(axis=1, keepdims=True)
    return top + np.log(np.exp(values - top).sum(axis=1, keepdims=True))
