"""Session shape: how long sessions are, and the tempo of the think times inside them.

A Markov chain with an EXIT column gives session lengths that fall off geometrically; real ones do not (a
web log: 55 % single requests, then a spike at six — a page and its five embedded resources). And think
times drawn click by click, independently, give every simulated session the same blend of quick and slow
clicks, while real sessions have a tempo (a fast clicker stays fast) that depends on the session's length
(two-request visits wait long between them, page-plus-resources bursts do not). On a real web log those two
were 1.4× and 4.3× their noise floors. So each class holds:

- **exit shift** by step (length-conditioned exit): after ``t`` actions, the chain's exit probability
  ``p`` of the current state becomes ``σ(logit p + shift[t])`` (the last entry serves every later step).
  Exits stay where the chain puts them (a logout still ends a session; a state that never ended one
  still does not), while the hazard of ending after ``t`` actions follows the data. Fitted per step as a
  one-parameter logistic regression with the chain's ``logit p`` as offset: the shift that makes the
  expected number of real sessions ending after ``t`` actions, given the states they were in, equal the
  observed number (bisection). Empty (format ≤ 2): the chain's EXIT alone.
- **tempo** per length band (``BAND_LOWER``): each session draws ``z ~ N(0, 1)``; each of its think
  times draws ``ε ~ N(0, 1)`` and is drawn at probability ``Φ(s)`` of the law of its cell, where ``s`` is
  ``shared[b]·z + own[b]·ε`` standardised and mapped through the quantiles of band ``b``'s scores
  (``scores[b]``; a band with too few samples uses ``s = mean[b] + shared[b]·z + own[b]·ε``). Fitted on
  normal scores: each real think time becomes ``Φ⁻¹`` of its probability under the law the sampler would
  draw it from (ties, such as whole seconds, spread uniformly over their step); per band, ``scores`` are
  their quantiles, ``mean`` their mean, ``shared²`` the covariance of two scores of the same session
  (intraclass) and ``own²`` the rest of their variance. Over all bands the scores are ≈ N(0, 1), so each
  cell's pooled law is about unchanged, while long and short sessions keep their own think times and
  slow and fast sessions their tempo.
- **anti-tempo** per band (``anti``, 0…1): when two scores of one session covary *negatively* (the thinks
  of a session share out a bounded time: a visit that must fit in a window, or a log that keeps a minute of
  every hour — on the shared Apache log −0.10 to −0.24 in bands 3–8), the session's click noises are
  centred: ``ε'ᵢ = (εᵢ − γ·ε̄)/√(1 − g/m)`` over its ``m`` thinks, ``g = γ(2 − γ) = anti``, so two of them
  correlate at ``−g/(m − g)`` (``anti = 1``: the least possible, ``−1/(m − 1)``) and each keeps variance 1.
  ``anti`` is solved so the pairs of the real sessions (each length as often as it occurs) have the
  observed correlation. Without it (``shared`` is clipped at 0) every session's median think is as
  spread as independent clicks make it.
- **zero shift** per band (``zero_shift``, logit units): the point mass at 0 (same-second or overlapping
  requests) depends on the session's length more than the band's scores carry it, since those scores do
  not know which cell a think is in (on the shared Apache log the model expected 4.2 % zeros in two-request
  visits, the data has 0.9 %; 29.7 % against 29.5 % in sessions of 32+). So a think of cell ``c`` in band
  ``b`` is 0 when its probability ``u`` is below ``q = σ(logit p₀(c) + zero_shift[b])`` instead of
  ``p₀(c)``, and otherwise drawn at ``p₀ + (u − q)(1 − p₀)/(1 − q)`` (the positive part keeps its order
  and its law); the shift is solved so the band's expected zeros, under its scores and the real sessions'
  cells, equal the observed ones.

Both are a few numbers per class: the file does not grow with the number of sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special

from tracereplay.model.distributions import GRID

if TYPE_CHECKING:
    from tracereplay.model.behaviour import BehaviourModel
    from tracereplay.model.prepare import SessionArrays

SCORE_QUANTILES = 17
BAND_LOWER = (1, 2, 3, 4, 6, 9, 16, 32)      # length bands: [1], [2], [3], [4, 5], [6, 8], …, [32, ∞)
EXIT_STEPS = 64                              # exit shifts for steps 1…64; the last serves longer sessions
_MAX_SHIFT = 30.0                            # |shift| bound (logit units): beyond it exit is certain/never
_MIN_BAND_SCORES = 30                        # fewer think samples in a band: the class's pooled tempo
_ZERO_ROUNDS = 3                             # scores ↔ zero shift, see fit_shapes
_MAX_SHARED = 0.95                           # shared² ≤ 0.95 of the variance: each click keeps some freedom
_BISECTIONS = 32                             # halvings of ±_MAX_SHIFT: 60 / 2³² ≈ 1e-8 (6 decimals kept)


def band_of(length: np.ndarray | int) -> np.ndarray:
    """Length band index of a session length (vectorised)."""
    return np.searchsorted(np.asarray(BAND_LOWER), length, side="right") - 1


@dataclass(frozen=True, kw_only=True)
class SessionShape:
    """One class's length-conditioned exit and think tempo by length band."""

    exit_shift: tuple[float, ...] = ()                 # per step 1, 2, …; empty: the chain's EXIT alone
    mean: tuple[float, ...] = (0.0,) * len(BAND_LOWER)
    shared: tuple[float, ...] = (0.0,) * len(BAND_LOWER)
    own: tuple[float, ...] = (1.0,) * len(BAND_LOWER)
    anti: tuple[float, ...] = (0.0,) * len(BAND_LOWER)  # per band: centring of click noise, 0…1
    zero_shift: tuple[float, ...] = (0.0,) * len(BAND_LOWER)  # per band: logit shift of the mass at 0
    # Per band, SCORE_QUANTILES quantiles of its normal scores (empty: the band's normal law above).
    scores: tuple[tuple[float, ...], ...] = ((),) * len(BAND_LOWER)

    def to_dict(self) -> dict[str, Any]:
        return {"exit_shift": [_r(v) for v in self.exit_shift], "bands": list(BAND_LOWER),
                "mean": [_r(v) for v in self.mean], "shared": [_r(v) for v in self.shared],
                "own": [_r(v) for v in self.own], "anti": [_r(v) for v in self.anti],
                "zero_shift": [_r(v) for v in self.zero_shift],
                "scores": [[_r(v) for v in q] for q in self.scores]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionShape:
        if list(data.get("bands", BAND_LOWER)) != list(BAND_LOWER):
            raise ValueError(f"length bands {data.get('bands')} are not {list(BAND_LOWER)}")
        shift = tuple(float(v) for v in data.get("exit_shift", ()))
        if not all(np.isfinite(shift)) or any(abs(v) > _MAX_SHIFT for v in shift):
            raise ValueError(f"exit_shift values must be finite numbers within ±{_MAX_SHIFT:g}")
        arrays = [tuple(float(v) for v in data[key]) for key in ("mean", "shared", "own")]
        for key, values in zip(("mean", "shared", "own"), arrays, strict=True):
            if len(values) != len(BAND_LOWER) or not all(np.isfinite(values)):
                raise ValueError(f"tempo {key!r} needs {len(BAND_LOWER)} finite numbers")
        if min(arrays[1]) < 0 or min(arrays[2]) < 0:
            raise ValueError("tempo 'shared' and 'own' must be non-negative")
        anti = tuple(float(v) for v in data.get("anti", (0.0,) * len(BAND_LOWER)))     # absent: none
        if len(anti) != len(BAND_LOWER) or not all(0.0 <= v <= 1.0 for v in anti):
            raise ValueError(f"tempo 'anti' needs {len(BAND_LOWER)} numbers within 0…1")
        zero_shift = tuple(float(v) for v in data.get("zero_shift", (0.0,) * len(BAND_LOWER)))
        if len(zero_shift) != len(BAND_LOWER) or not all(abs(v) <= _MAX_SHIFT for v in zero_shift):
            raise ValueError(f"tempo 'zero_shift' needs {len(BAND_LOWER)} numbers within ±{_MAX_SHIFT:g}")
        scores = tuple(tuple(float(v) for v in q) for q in data.get("scores", ((),) * len(BAND_LOWER)))
        if len(scores) != len(BAND_LOWER) or any(
                len(q) not in (0, SCORE_QUANTILES) or not all(np.isfinite(q)) or np.any(np.diff(q) < 0)
                for q in scores):
            raise ValueError(f"tempo 'scores' needs {len(BAND_LOWER)} lists of 0 or {SCORE_QUANTILES} "
                             "non-decreasing numbers")
        return cls(exit_shift=shift, mean=arrays[0], shared=arrays[1], own=arrays[2], anti=anti,
                   zero_shift=zero_shift, scores=scores)


def fit_shapes(arrays: SessionArrays, session_class: np.ndarray, model: BehaviourModel,
               rng: np.random.Generator) -> list[SessionShape]:
    """Every class's exit shifts and tempo, under the chain and think laws the sampler draws from."""
    compiled = model.compiled
    previous = arrays.previous_action
    think = np.isfinite(arrays.think_s) & (previous >= 0)
    event_class = session_class[arrays.session]
    rows = compiled.think_rows(event_class[think], previous[think].astype(np.int64),
                               arrays.action[think].astype(np.int64))
    scores = normal_scores(compiled.tables, rows, arrays.think_s[think], rng)
    zero_share = compiled.table_zero[rows]
    is_zero = arrays.think_s[think] <= 0
    sessions = arrays.session[think]
    band = band_of(arrays.session_length)
    # Step of each event (1 = the session's first action) and whether the session ended there.
    starts = np.flatnonzero(arrays.first)
    step = np.arange(len(arrays.action)) - np.repeat(starts, arrays.session_length) + 1
    shapes = []
    for c, cls in enumerate(model.classes):
        mine = event_class[think] == c
        my_band = band[sessions[mine]]
        my_scores = scores[mine]
        zero_shift = (0.0,) * len(BAND_LOWER)
        # The scores are each think's place under the law the sampler draws it from, and that law's mass
        # at 0 depends on the zero shift, which depends on the scores: a few rounds settle both.
        for _ in range(_ZERO_ROUNDS):
            my_scores = _rescored(scores[mine], zero_share[mine], np.asarray(zero_shift)[my_band])
            mean, shared, own, anti = _tempo(my_scores, sessions[mine], my_band)
            quantiles = _band_quantiles(my_scores, my_band)
            zero_shift = zero_shifts(zero_share[mine], is_zero[mine], my_band, mean, shared, own, quantiles)
        events = event_class == c
        p_exit = cls.transition_probabilities[:, -1][arrays.action[events]]
        shift = exit_shifts(p_exit, step[events], arrays.last[events])
        shapes.append(SessionShape(exit_shift=shift, mean=mean, shared=shared, own=own, anti=anti,
                                   zero_shift=zero_shift, scores=quantiles))
    return shapes


def exit_shifts(p_exit: np.ndarray, step: np.ndarray, ended: np.ndarray) -> tuple[float, ...]:
    """Per step, the logit shift making the expected exits (chain's ``p_exit`` of each real state) equal
    the observed ones: one vectorised bisection over all steps."""
    if len(step) == 0:
        return ()
    t = np.minimum(step, EXIT_STEPS) - 1
    steps = int(t.max()) + 1
    observed = np.bincount(t, weights=ended.astype(np.float64), minlength=steps)
    certain = p_exit >= 1.0
    free = (p_exit > 0.0) & ~certain
    fixed = np.bincount(t[certain], minlength=steps).astype(np.float64)
    logit = np.log(p_exit[free]) - np.log1p(-p_exit[free])
    t_free = t[free]
    lo, hi = np.full(steps, -_MAX_SHIFT), np.full(steps, _MAX_SHIFT)
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        expected = fixed + np.bincount(t_free, weights=special.expit(logit + mid[t_free]), minlength=steps)
        low = expected < observed
        lo, hi = np.where(low, mid, lo), np.where(low, hi, mid)
    return tuple(float(v) for v in np.round((lo + hi) / 2, 6))


def zero_shifts(zero_share: np.ndarray, is_zero: np.ndarray, band: np.ndarray, mean: tuple[float, ...],
                shared: tuple[float, ...], own: tuple[float, ...], quantiles: tuple[tuple[float, ...], ...]
                ) -> tuple[float, ...]:
    """Per band, the logit shift of the cells' zero shares that makes the expected zeros of these thinks
    (cell zero share ``zero_share``, band ``band``), under the band's score law, equal the observed ones."""
    out = []
    for b in range(len(BAND_LOWER)):
        mine = band == b
        p0 = zero_share[mine]
        free = (p0 > 0) & (p0 < 1)
        if free.sum() < _MIN_BAND_SCORES:
            out.append(0.0)
            continue
        fixed = float((p0 >= 1).sum())
        observed = float(is_zero[mine].sum())
        logit = np.log(p0[free]) - np.log1p(-p0[free])
        total = max(float(np.hypot(shared[b], own[b])), 1e-12)
        lo, hi = -_MAX_SHIFT, _MAX_SHIFT
        for _ in range(_BISECTIONS):
            mid = (lo + hi) / 2
            expected = fixed + _expected_zeros(logit + mid, quantiles[b], mean[b], total)
            lo, hi = (mid, hi) if expected < observed else (lo, mid)
        out.append(round((lo + hi) / 2, 6))
    return tuple(out)


def _rescored(scores: np.ndarray, zero_share: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Normal scores under the cell laws with their mass at 0 moved by ``shift`` (the inverse of
    :func:`zero_calibrated`: a place in ``[0, p₀]`` moves to ``[0, q]``, one in ``[p₀, 1]`` to ``[q, 1]``)."""
    free = (zero_share > 0) & (zero_share < 1) & (shift != 0)
    if not free.any():
        return scores
    p0, d = zero_share[free], shift[free]
    q = special.expit(np.log(p0) - np.log1p(-p0) + d)
    v = special.ndtr(scores[free])
    moved = np.where(v < p0, v * q / p0, q + (v - p0) * (1 - q) / (1 - p0))
    out = scores.copy()
    out[free] = special.ndtri(np.clip(moved, 0.5 / GRID, 1 - 0.5 / GRID))
    return out


def _expected_zeros(logit: np.ndarray, quantiles: tuple[float, ...], mean: float, total: float) -> float:
    """How many thinks with zero-mass logits ``logit`` a band's scores put below their thresholds."""
    threshold = special.ndtri(np.clip(special.expit(logit), 1e-12, 1 - 1e-12))
    if quantiles:
        return float(np.interp(threshold, quantiles, np.linspace(0, 1, SCORE_QUANTILES)).sum())
    return float(special.ndtr((threshold - mean) / total).sum())


def zero_calibrated(u: np.ndarray, zero_share: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Probabilities ``u`` moved so a think is 0 below ``q = σ(logit p₀ + shift)`` rather than below its
    cell's ``p₀``; above it, ``[q, 1]`` maps linearly onto ``[p₀, 1]`` (vectorised)."""
    free = (zero_share > 0) & (zero_share < 1) & (shift != 0)
    if not free.any():
        return u
    p0, v, d = zero_share[free], u[free], shift[free]
    q = special.expit(np.log(p0) - np.log1p(-p0) + d)
    out = u.copy()
    out[free] = np.where(v < q, v * p0 / q, p0 + (v - q) * (1 - p0) / (1 - q))
    return out


def normal_scores(tables: np.ndarray, rows: np.ndarray, values: np.ndarray, rng: np.random.Generator
                  ) -> np.ndarray:
    """``Φ⁻¹`` of the probability of each value under its compiled inverse-CDF table row."""
    position = np.empty(len(values))
    order = np.argsort(rows, kind="stable")
    keys, starts = np.unique(rows[order], return_index=True)
    bounds = np.r_[starts, len(order)]
    grid = np.arange(GRID, dtype=np.float64)
    for key, lo, hi in zip(keys.tolist(), bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        idx = order[lo:hi]
        table, x = tables[key], values[idx]
        below = np.searchsorted(table, x, side="left")
        upto = np.searchsorted(table, x, side="right")
        # A value the table repeats (a point mass, e.g. 0 s or whole seconds) gets a uniform place in its
        # step (randomised probability integral transform: the scores stay N(0, 1), ties and all); others
        # sit where the linear table puts them.
        spread = below + rng.random(len(x)) * np.maximum(upto - 1 - below, 0)
        position[idx] = np.where(upto > below, spread, np.interp(x, table, grid))
    return special.ndtri(np.clip(position / (GRID - 1), 0.5 / GRID, 1 - 0.5 / GRID))


def _band_quantiles(scores: np.ndarray, band: np.ndarray) -> tuple[tuple[float, ...], ...]:
    out = []
    for b in range(len(BAND_LOWER)):
        mine = scores[band == b]
        out.append(tuple(float(v) for v in np.quantile(mine, np.linspace(0, 1, SCORE_QUANTILES)))
                   if len(mine) >= _MIN_BAND_SCORES else ())
    return tuple(out)


def _tempo(scores: np.ndarray, session: np.ndarray, band: np.ndarray) -> tuple[tuple[float, ...], ...]:
    pooled = _band_tempo(scores, session)
    mean, shared, own, anti = [], [], [], []
    for b in range(len(BAND_LOWER)):
        mine = band == b
        fitted = _band_tempo(scores[mine], session[mine]) if mine.sum() >= _MIN_BAND_SCORES else None
        if fitted is None:
            fitted = (0.0, pooled[1], pooled[2], pooled[3]) if pooled else (0.0, 0.0, 1.0, 0.0)
        for out, value in zip((mean, shared, own, anti), fitted, strict=True):
            out.append(value)
    return tuple(mean), tuple(shared), tuple(own), tuple(anti)


def _band_tempo(scores: np.ndarray, session: np.ndarray) -> tuple[float, float, float, float] | None:
    """(mean, shared, own, anti) of normal scores: pairs within sessions give the shared covariance or,
    when it is negative, the centring ``anti`` that reproduces it."""
    if len(scores) < 2:
        return None
    mean = float(scores.mean())
    centred = scores - mean
    variance = float(np.mean(centred**2))
    _, code = np.unique(session, return_inverse=True)
    sums = np.bincount(code, weights=centred)
    squares = np.bincount(code, weights=centred**2)
    counts = np.bincount(code)
    pairs = float((counts * (counts - 1)).sum())
    covariance = float((sums**2 - squares).sum() / pairs) if pairs > 0 and variance > 0 else 0.0
    anti = _anti(covariance / variance, counts) if covariance < 0 else 0.0
    covariance = float(np.clip(covariance, 0.0, _MAX_SHARED * variance))
    return mean, float(np.sqrt(covariance)), float(np.sqrt(max(variance - covariance, 0.0))), anti


def _anti(correlation: float, counts: np.ndarray) -> float:
    """The centring ``g`` (0…1) whose pair correlation ``−g/(m − g)``, averaged over the pairs of sessions
    with ``counts`` thinks, equals ``correlation`` (< 0); 1 when even full centring is not that negative."""
    m = counts[counts >= 2].astype(np.float64)
    weight = m * (m - 1)
    lo, hi = 0.0, 1.0
    for _ in range(40):
        g = (lo + hi) / 2
        if float((weight * -g / (m - g)).sum() / weight.sum()) > correlation:
            lo = g
        else:
            hi = g
    return round((lo + hi) / 2, 6)


def centre_noise(noise: np.ndarray, session: np.ndarray, anti: np.ndarray) -> np.ndarray:
    """Click noises centred per session by their band's ``anti`` (per event; ``session`` the event's
    session): each keeps variance 1, two of one session's ``m`` correlate at ``−g/(m − g)``."""
    if not np.any(anti > 0):
        return noise
    _, code, m = np.unique(session, return_inverse=True, return_counts=True)
    mean = np.bincount(code, weights=noise) / m
    gamma = 1.0 - np.sqrt(1.0 - anti)
    m = m[code]
    with np.errstate(divide="ignore", invalid="ignore"):
        centred = (noise - gamma * mean[code]) / np.sqrt(1.0 - anti / m)
    return np.where(m > 1, centred, noise)          # a lone think has nothing to share out


def tempo_uniforms(mean: np.ndarray, shared: np.ndarray, own: np.ndarray, quantiles: np.ndarray,
                   session_z: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Probabilities to draw think times at, per event (vectorised): ``Φ(mean + shared·z + own·ε)``, or
    where the band has score quantiles (a row of ``quantiles`` not NaN), that normal draw standardised and
    mapped through the band's score quantiles."""
    latent = shared * session_z + own * noise
    plain = special.ndtr(mean + latent)
    has = ~np.isnan(quantiles[:, 0])
    if has.any():
        total = np.sqrt(shared[has] ** 2 + own[has] ** 2)
        position = special.ndtr(latent[has] / np.maximum(total, 1e-12)) * (SCORE_QUANTILES - 1)
        low = np.minimum(position.astype(np.int64), SCORE_QUANTILES - 2)
        rows = quantiles[has]
        take = np.arange(len(rows))
        score = rows[take, low] + (rows[take, low + 1] - rows[take, low]) * (position - low)
        plain[has] = special.ndtr(score)
    return plain


def _r(value: float) -> float:
    return float(f"{value:.9g}")
