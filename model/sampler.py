"""Sampling tables compiled once from a :class:`BehaviourModel`: cheap per call, vectorised in bulk.

Two kinds of sampling share the tables:
- per call (the replay runtime, one user or session at a time): Python lists of cumulative probabilities
  searched with :func:`bisect`, a block of uniforms drawn at once — a few microseconds a session;
- in bulk (:mod:`tracereplay.model.simulate`): every Markov row of every class laid end to end in one
  increasing array (row ``r`` occupies ``(r, r + 1]``), so one :func:`numpy.searchsorted` steps
  thousands of sessions at once.

Think times resolve to one compiled inverse-CDF table per cell, after back-off
(transition → action before → class → global).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from tracereplay.model.distributions import GRID, Duration, sample_tables
from tracereplay.model.kinds import action_kind
from tracereplay.model.shape import (
    BAND_LOWER,
    EXIT_STEPS,
    SCORE_QUANTILES,
    band_of,
    centre_noise,
    tempo_uniforms,
    zero_calibrated,
)

if TYPE_CHECKING:
    # relative, as behaviour.py imports this module: one class for pyright (see there)
    from .behaviour import BehaviourModel

_U_MAX = 1.0 - 1e-9        # keeps row + u strictly inside its row in the flat cumulative array
_ZERO_TABLE = np.zeros(GRID)
_SQRT_HALF = math.sqrt(0.5)


class CompiledModel:
    """Cumulative tables and compiled distributions of one model."""

    def __init__(self, model: BehaviourModel) -> None:
        self.n_actions = a = len(model.actions)
        self.n_classes = k = len(model.classes)
        self.actions = list(model.actions)
        self.action_index = {name: i for i, name in enumerate(model.actions)}
        self.max_session_actions = model.max_session_actions
        self.class_cum = _cumulative(np.array([c.share for c in model.classes], dtype=np.float64))
        self.class_cum_list = self.class_cum.tolist()
        # Users that switch kinds: per user class, cumulative shares of the session classes.
        self.mix_cum = (None if model.class_mix is None
                        else np.vstack([_cumulative(row) for row in np.asarray(model.class_mix)]))
        self.mix_cum_list = None if self.mix_cum is None else self.mix_cum.tolist()

        # Rows per class: 0..A-1 = after action i, A = START. Columns: 0..A-1 actions, A = EXIT. The "go"
        # rows are the same without EXIT, for classes whose exit is drawn apart (model/shape.py).
        self.row_cols: list[list[list[int]]] = []
        self.row_cums: list[list[list[float]]] = []
        self.go_cols: list[list[list[int]]] = []
        self.go_cums: list[list[list[float]]] = []
        flat, go_flat = _FlatRows(), _FlatRows()
        for c, cls in enumerate(model.classes):
            probs = np.zeros((a + 1, a + 1))
            probs[:a] = cls.transition_probabilities
            probs[a, :a] = cls.start_probabilities
            cols_c, cums_c = flat.add(probs, c * (a + 1))
            self.row_cols.append(cols_c)
            self.row_cums.append(cums_c)
            probs[:, a] = 0.0
            cols_c, cums_c = go_flat.add(probs, c * (a + 1))
            self.go_cols.append(cols_c)
            self.go_cums.append(cums_c)
        self.flat_cum, self.flat_col = flat.stack()
        self.go_flat_cum, self.go_flat_col = go_flat.stack()
        self._compile_shapes(model)

        self.spu_values = [np.asarray(c.sessions_per_user[0], dtype=np.int64) for c in model.classes]
        self.spu_cum = [_cumulative(np.asarray(c.sessions_per_user[1], dtype=np.float64))
                        for c in model.classes]
        self.spu_values_list = [v.tolist() for v in self.spu_values]
        self.spu_cum_list = [c.tolist() for c in self.spu_cum]

        tables = _TableSet()
        # Per class: the pooled law (a draw with no time), and per UTC hour of day the previous session
        # ended (24 columns; back-off: class, global).
        self.gap_class_rows = np.array(
            [tables.add(c.session_gap or model.session_gap) for c in model.classes], dtype=np.int64)
        self.gap_rows = np.array(
            [[tables.add(c.session_gap_by_hour.get(h) or c.session_gap or model.session_gap)
              for h in range(24)] for c in model.classes], dtype=np.int64)
        self.gap_class_rows_list = self.gap_class_rows.tolist()
        self.gap_rows_list = self.gap_rows.tolist()
        global_row = tables.add(model.think)
        self.think_action_rows = np.full((k, max(a, 1)), global_row, dtype=np.int64)
        keys, rows = [], []
        kinds = [action_kind(name) for name in model.actions]
        for c, cls in enumerate(model.classes):
            class_row = tables.add(cls.think) if cls.think is not None else global_row
            self.think_action_rows[c, :] = class_row
            for i, kind in enumerate(kinds):
                if kind in cls.think_kind:
                    self.think_action_rows[c, i] = tables.add(cls.think_kind[kind])
            for i, dist in cls.think_action.items():
                self.think_action_rows[c, i] = tables.add(dist)
            for (i, j), dist in cls.think_transition.items():
                keys.append(self.cell_key(c, i, j))
                rows.append(tables.add(dist))
        order = np.argsort(np.asarray(keys, dtype=np.int64))
        self.cell_keys = np.asarray(keys, dtype=np.int64)[order]
        self.cell_rows = np.asarray(rows, dtype=np.int64)[order]
        self.cell_row_dict = dict(zip(self.cell_keys.tolist(), self.cell_rows.tolist(), strict=True))
        self.think_action_list = self.think_action_rows.tolist()
        # Per class: the action level is keyed by the next action (True) or the previous one (False).
        self.think_next = np.array([c.think_backoff == "next" for c in model.classes], dtype=bool)
        self.think_next_list = self.think_next.tolist()

        self.duration_rows = np.array([tables.add(s.duration) for s in model.action_stats], dtype=np.int64)
        self.tables = tables.stack()
        self.table_zero = tables.zero_shares()                       # each row's point mass at 0
        self.table_zero_list = self.table_zero.tolist()
        self.arrivals = model.arrivals
        # Per class: gaps on the wall clock (True) or the arrival clock (False), see model/gaps.py.
        self.gap_wall = np.array([(c.session_gap_clock or model.session_gap_clock) == "wall"
                                  for c in model.classes], dtype=bool)
        self.gap_wall_list = self.gap_wall.tolist()
        self.error_rate = np.array([s.error_rate for s in model.action_stats], dtype=np.float64)

    def _compile_shapes(self, model: BehaviourModel) -> None:
        """Exit probabilities with their per-step shifts and the tempo by length band (model/shape.py)."""
        a, bands = self.n_actions, len(BAND_LOWER)
        self.exit_p = np.zeros((self.n_classes, a + 1))             # per state; START never exits
        self.exit_shift = np.zeros((self.n_classes, EXIT_STEPS))
        self.shaped = np.zeros(self.n_classes, dtype=bool)           # has exit shifts (format ≥ 3)
        self.tempo = np.zeros((self.n_classes, 3, bands))            # mean, shared, own per band
        self.tempo[:, 2, :] = 1.0                                    # no shape: independent clicks
        self.tempo_anti = np.zeros((self.n_classes, bands))          # centring of click noise per band
        self.zero_shift = np.zeros((self.n_classes, bands))          # logit shift of the mass at 0
        self.tempo_scores = np.full((self.n_classes, bands, SCORE_QUANTILES), np.nan)
        for c, cls in enumerate(model.classes):
            shape = cls.shape
            if shape is not None:
                self.tempo[c] = np.array([shape.mean, shape.shared, shape.own])
                self.tempo_anti[c] = shape.anti
                self.zero_shift[c] = shape.zero_shift
                for b, q in enumerate(shape.scores):
                    if q:
                        self.tempo_scores[c, b] = q
            if shape is not None and shape.exit_shift:
                shift = np.asarray(shape.exit_shift)
                self.exit_shift[c] = np.r_[shift, np.full(EXIT_STEPS - len(shift), shift[-1])]
                self.shaped[c] = True
            self.exit_p[c, :a] = cls.transition_probabilities[:, a]
        with np.errstate(divide="ignore"):
            self.exit_logit = np.log(self.exit_p) - np.log1p(-np.minimum(self.exit_p, 1.0))
        self.exit_logit_list = self.exit_logit.tolist()
        self.exit_shift_list = self.exit_shift.tolist()
        self.shaped_list = self.shaped.tolist()
        self.tempo_list = self.tempo.tolist()
        self.tempo_anti_list = self.tempo_anti.tolist()
        self.zero_shift_list = self.zero_shift.tolist()
        self.tempo_scores_list = [[None if np.isnan(q[0]) else q.tolist() for q in bands_c]
                                  for bands_c in self.tempo_scores]

    def exit_probability(self, class_index: np.ndarray, state: np.ndarray, step: int) -> np.ndarray:
        """Probability that sessions in ``state`` after ``step`` actions end now, with the class's shift."""
        shift = self.exit_shift[class_index, min(step, EXIT_STEPS) - 1]
        return special.expit(self.exit_logit[class_index, state] + shift)

    def cell_key(self, class_index: int | np.ndarray, previous: int | np.ndarray, action: int | np.ndarray):
        a = self.n_actions
        return (class_index * a + previous) * a + action

    # ---- per call ----------------------------------------------------------------------------------
    def sample_user(self, rng: np.random.Generator) -> tuple[int, int]:
        u1, u2 = rng.random(2).tolist()
        c = min(bisect_right(self.class_cum_list, u1), self.n_classes - 1)
        spu = self.spu_values_list[c]
        return c, spu[min(bisect_right(self.spu_cum_list[c], u2), len(spu) - 1)]

    def sample_session(self, class_index: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
        # Plain Python over lists on purpose: for one short session this beats any numpy call sequence.
        uniforms = rng.random(64).tolist()            # one per step (next action), then per think
        k = 0
        if self.mix_cum_list is not None:             # users that switch: this session's kind
            row = self.mix_cum_list[class_index]
            class_index = min(bisect_right(row, uniforms[0]), len(row) - 1)
            k = 1
        a = self.n_actions
        codes: list[int] = []
        current = a                                   # START
        if not self.shaped_list[class_index]:         # the chain's EXIT alone (format ≤ 2)
            cols, cums = self.row_cols[class_index], self.row_cums[class_index]
            while len(codes) < self.max_session_actions:
                if k == len(uniforms):
                    uniforms, k = rng.random(64).tolist(), 0
                nxt = cols[current][bisect_right(cums[current], uniforms[k])]   # u < 1 = last cum
                k += 1
                if nxt == a:
                    break
                codes.append(nxt)
                current = nxt
        else:                                         # exit with the class's per-step shift (shape.py)
            cols, cums = self.go_cols[class_index], self.go_cums[class_index]
            logits, shifts = self.exit_logit_list[class_index], self.exit_shift_list[class_index]
            while len(codes) < self.max_session_actions:
                if k + 2 > len(uniforms):
                    uniforms, k = rng.random(64).tolist(), 0
                if codes:
                    z = logits[current] + shifts[min(len(codes), EXIT_STEPS) - 1]
                    if uniforms[k] * (1.0 + math.exp(-z) if z > -700 else math.inf) < 1.0:   # u < σ(z)
                        break
                nxt = cols[current][bisect_right(cums[current], uniforms[k + 1])]
                k += 2
                if nxt == a:
                    break
                codes.append(nxt)
                current = nxt
        names = self.actions
        return [names[c] for c in codes], self._session_think(class_index, codes, rng)

    def _session_think(self, class_index: int, codes: list[int], rng: np.random.Generator) -> np.ndarray:
        """Think times before each action after the first, at the session's tempo."""
        steps = len(codes) - 1
        if steps <= 0:
            return np.zeros(0)
        band = bisect_right(BAND_LOWER, len(codes)) - 1
        mean, shared, own = (t[band] for t in self.tempo_list[class_index])
        quantiles = self.tempo_scores_list[class_index][band]
        normals = rng.standard_normal(steps + 1).tolist()
        tempo = shared * normals[steps]
        anti = self.tempo_anti_list[class_index][band]
        if anti > 0 and steps > 1:                    # the session shares out its time (shape.centre_noise)
            shift = (1.0 - math.sqrt(1.0 - anti)) * math.fsum(normals[:steps]) / steps
            scale = 1.0 / math.sqrt(1.0 - anti / steps)
            normals[:steps] = [(v - shift) * scale for v in normals[:steps]]
        if quantiles is None:
            tempo += mean
        else:                                         # standardised, mapped through the band's scores
            scale = 1.0 / max(math.sqrt(shared * shared + own * own), 1e-12)
            tempo, own = tempo * scale, own * scale
        a, base = self.n_actions, class_index * self.n_actions
        cell_rows, action_rows = self.cell_row_dict, self.think_action_list[class_index]
        by_next = self.think_next_list[class_index]
        table_item, top = self.tables.item, GRID - 1
        zero_shift, zero_shares = self.zero_shift_list[class_index][band], self.table_zero_list
        think = []
        for i in range(steps):
            previous, nxt = codes[i], codes[i + 1]
            row = cell_rows.get((base + previous) * a + nxt)
            if row is None:
                row = action_rows[nxt if by_next else previous]
            u = 0.5 * (1.0 + math.erf((tempo + own * normals[i]) * _SQRT_HALF))
            if quantiles is not None:
                at = min(u, _U_MAX) * (SCORE_QUANTILES - 1)
                j = int(at)
                score = quantiles[j] + (quantiles[j + 1] - quantiles[j]) * (at - j)
                u = 0.5 * (1.0 + math.erf(score * _SQRT_HALF))
            p0 = zero_shares[row]
            if zero_shift and 0.0 < p0 < 1.0:         # the band's mass at 0 (shape.zero_calibrated)
                q = 1.0 / (1.0 + (1.0 - p0) / p0 * math.exp(-zero_shift))
                u = u * p0 / q if u < q else p0 + (u - q) * (1.0 - p0) / (1.0 - q)
            position = min(u, _U_MAX) * top
            low = int(position)
            v0 = table_item(row, low)
            think.append(v0 + (table_item(row, low + 1) - v0) * (position - low))
        return np.array(think, dtype=np.float64)

    def sample_session_gap(self, class_index: int, rng: np.random.Generator, after: float | None) -> float:
        u = rng.random()                              # the one uniform the bulk rule takes per user
        if after is None:
            return self._table_value(self.gap_class_rows_list[class_index], u)
        return self.next_session_start(class_index, float(after), u) - float(after)

    def next_session_start(self, class_index: int, end_s: float, u: float) -> float:
        """:meth:`next_session_starts` for one user in plain Python, the same float (tests hold them equal):
        the replay draws a gap per session, where numpy on one-element arrays cost ~20 µs a call."""
        gap = self._table_value(self.gap_rows_list[class_index][math.floor(end_s / 3600.0) % 24], u)
        if self.gap_wall_list[class_index]:
            start = end_s + gap
        else:
            arrivals = self.arrivals
            start = arrivals.from_arrival_clock_one(arrivals.to_arrival_clock_one(end_s) + gap)
        return max(start, end_s)

    def _table_value(self, row: int, u: float) -> float:
        """:func:`sample_tables` for one row and one uniform, the same float."""
        position = u * (GRID - 1)
        low = min(int(position), GRID - 2)
        frac = position - low
        item = self.tables.item
        return item(row, low) * (1.0 - frac) + item(row, low + 1) * frac

    # ---- in bulk -----------------------------------------------------------------------------------
    def next_session_starts(self, class_index: np.ndarray, end_s: np.ndarray, u: np.ndarray) -> np.ndarray:
        """When (epoch s) each user's next session starts, after one that ended at ``end_s``: a gap drawn
        with uniforms ``u`` from the class's law, on the clock the gaps were fitted on. The one scheduling
        rule of both ``simulate`` and the replay runtime (``sample_session_gap(..., after=)``)."""
        hour = (np.floor(end_s / 3600.0) % 24).astype(np.int64)
        gap = sample_tables(self.tables, self.gap_rows[class_index, hour], u)
        wall = self.gap_wall[class_index]
        start = end_s + gap                             # wall-clock classes (and format-1 models)
        if not wall.all():
            on_clock = self.arrivals.from_arrival_clock(self.arrivals.to_arrival_clock(end_s) + gap)
            start = np.where(wall, start, on_clock)
        return np.maximum(start, end_s)                 # never before the end (float rounding)

    def session_classes(self, user_class: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The class whose chain each session follows: its user's, or drawn from the user's class mix."""
        if self.mix_cum is None:
            return user_class
        out = np.empty(len(user_class), dtype=np.int64)
        u = rng.random(len(user_class))
        for k in range(self.n_classes):
            mine = np.flatnonzero(user_class == k)
            drawn = np.searchsorted(self.mix_cum[k], u[mine], side="right")
            out[mine] = np.minimum(drawn, self.n_classes - 1)
        return out

    def step(self, class_index: np.ndarray, current: np.ndarray, u: np.ndarray, *, go: bool = False
             ) -> np.ndarray:
        """Next state (action code, or A for EXIT) of many chains at once; ``current`` = A means START.
        ``go``: on the rows with EXIT taken out (sessions whose length was drawn first)."""
        rows = class_index.astype(np.float64) * (self.n_actions + 1) + current
        flat_cum, flat_col = (self.go_flat_cum, self.go_flat_col) if go else (self.flat_cum, self.flat_col)
        position = np.searchsorted(flat_cum, rows + np.minimum(u, _U_MAX), side="right")
        return flat_col[position]

    def think_uniforms(self, class_index: np.ndarray, length: np.ndarray, session_z: np.ndarray,
                       noise: np.ndarray, session: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Per think event (``session``: its session's code, ``rows``: its table row): the probability its
        time is drawn at, at its session's tempo (model/shape.py)."""
        band = band_of(length)
        noise = centre_noise(noise, session, self.tempo_anti[class_index, band])
        mean, shared, own = (self.tempo[class_index, j, band] for j in range(3))
        quantiles = self.tempo_scores[class_index, band]
        u = tempo_uniforms(mean, shared, own, quantiles, session_z, noise)
        u = zero_calibrated(u, self.table_zero[rows], self.zero_shift[class_index, band])
        return np.minimum(u, _U_MAX)

    def think_rows(self, class_index: np.ndarray, previous: np.ndarray, action: np.ndarray) -> np.ndarray:
        """Compiled table row of the think time before ``action`` after ``previous``, per event."""
        side = np.where(self.think_next[class_index], action, previous)
        rows = self.think_action_rows[class_index, side]
        if len(self.cell_keys):
            keys = self.cell_key(class_index.astype(np.int64), previous.astype(np.int64), action)
            position = np.minimum(np.searchsorted(self.cell_keys, keys), len(self.cell_keys) - 1)
            hit = self.cell_keys[position] == keys
            rows = np.where(hit, self.cell_rows[position], rows)
        return rows


class _FlatRows:
    """Markov rows as cumulative lists per row, and laid end to end in one increasing flat array."""

    def __init__(self) -> None:
        self._cum: list[np.ndarray] = []
        self._col: list[np.ndarray] = []

    def add(self, probs: np.ndarray, offset: int) -> tuple[list[list[int]], list[list[float]]]:
        """Rows of ``probs`` (last column EXIT); row ``r`` occupies ``(offset + r, offset + r + 1]``.
        Vectorised over the rows: a web log's thousands of actions times a few classes made a per-row
        loop cost seconds of every fit."""
        n, exit_column = probs.shape[0], probs.shape[1] - 1
        rows, cols = np.nonzero(probs > 0)
        values = probs[rows, cols]
        empty = np.flatnonzero(np.bincount(rows, minlength=n) == 0)
        if len(empty):                  # never done by this class, or only ever ended: leave at once
            rows, cols = np.r_[rows, empty], np.r_[cols, np.full(len(empty), exit_column)]
            values = np.r_[values, np.ones(len(empty))]
            order = np.lexsort((cols, rows))
            rows, cols, values = rows[order], cols[order], values[order]
        bounds = np.r_[0, np.cumsum(np.bincount(rows, minlength=n))]
        totals = np.add.reduceat(values, bounds[:-1])
        # Each row's weights over its total, summed along the flat array: row r's entries run from r to
        # r + 1, so subtracting r gives the row's own cumulative probabilities.
        cum = np.cumsum(values / totals[rows]) - rows
        cum[bounds[1:] - 1] = 1.0
        self._cum.append(offset + rows + cum)
        self._col.append(cols)
        col_list, cum_list, edges = cols.tolist(), cum.tolist(), bounds.tolist()
        return ([col_list[a:b] for a, b in pairwise(edges)], [cum_list[a:b] for a, b in pairwise(edges)])

    def stack(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._cum:
            return np.zeros(0), np.zeros(0, np.int32)
        return np.concatenate(self._cum), np.concatenate(self._col).astype(np.int32)


class _TableSet:
    """Compiled inverse-CDF tables, one row per distinct distribution object (``None`` → all zeros)."""

    def __init__(self) -> None:
        self._rows: list[np.ndarray] = [_ZERO_TABLE]
        self._zero: list[float] = [1.0]
        self._index: dict[int, int] = {}

    def add(self, dist: Duration | None) -> int:
        if dist is None:
            return 0
        key = id(dist)
        if key not in self._index:
            self._index[key] = len(self._rows)
            self._rows.append(dist.table())
            self._zero.append(dist.zero_share)
        return self._index[key]

    def zero_shares(self) -> np.ndarray:
        return np.array(self._zero, dtype=np.float64)

    def stack(self) -> np.ndarray:
        return np.vstack(self._rows)


def _cumulative(weights: np.ndarray) -> np.ndarray:
    weights = np.maximum(np.asarray(weights, dtype=np.float64), 0.0)
    total = weights.sum()
    if total <= 0:
        cum = np.linspace(1.0 / max(len(weights), 1), 1.0, max(len(weights), 1))
    else:
        cum = np.cumsum(weights) / total
    cum[-1] = 1.0
    return cum
