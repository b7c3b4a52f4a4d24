"""Who is in which class: users that keep one kind of behaviour, or users that switch between kinds.

Two fits of the class mixture (:mod:`.classes`) decide it:

1. Sessions are clustered on their own. If users' confidently classified sessions mostly fall in one
   class per user (``sticky_threshold``, 90 % by default) — or there is only one kind of session — users
   keep their class, and
2. users are clustered on all their sessions together (more evidence per unit, so cleaner classes).
   Each class is then a kind of user and of session at once.

Otherwise users switch: the session classes are kept, each user belongs to the class most of their
sessions fall in, and ``class_mix[u, s]`` is the share of sessions of class ``s`` among users of class
``u``. The runtime draws a session's class from that row, so a reader who sometimes posts stays so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from tracereplay.model.classes import Mixture, UnitData, choose_classes, posteriors, unit_data
from tracereplay.model.kinds import action_kind
from tracereplay.model.prepare import SessionArrays

if TYPE_CHECKING:
    # relative, as fit.py imports this module: one class for pyright (see there)
    from .fit import FitSettings

_CONFIDENT = 0.9        # a session's class posterior counts for stickiness above this
# Classes over action kinds are tried when one more full chain has this many free transition parameters
# per session or more (a day of a web log: ~1 per session; an API's chains: ~0.002): there, BIC cannot
# afford a second chain whatever the users do.
_COARSE_WHEN = 0.1
# … and at most this many: a chain of a few states has little more to tell, further classes split the users'
# tempo into bins (8 on a 1 M-event web log, the cap), and each costs a dense A × (A + 1) table: 20.4 →
# 14.6 CPU s per 1 M events there, the 1995-style log's ratios unchanged within their ranges.
_COARSE_MAX_CLASSES = 4


@dataclass(frozen=True, kw_only=True)
class Classification:
    user_class: np.ndarray              # class index per user
    session_class: np.ndarray           # class index per session
    # K × observed cells (``cells``, see classes.UnitData): posterior-weighted transition counts per class.
    # Kept compact: K dense (A + 1)² tables cost a second and a gigabyte with 4,000 actions and 8 classes.
    soft_counts: np.ndarray
    cells: np.ndarray
    sticky_share: float                 # share of confident sessions in their user's class
    class_mix: np.ndarray | None        # K × K, user class → session class shares; None: users keep theirs

    @property
    def k(self) -> int:
        return self.soft_counts.shape[0]

    def class_counts(self, c: int, n_actions: int) -> tuple[np.ndarray, np.ndarray]:
        """Class ``c``'s start counts (A) and transition counts (A × (A + 1), last column EXIT)."""
        row, col = np.divmod(self.cells, n_actions + 1)
        starts = np.zeros(n_actions)
        transitions = np.zeros((n_actions, n_actions + 1))
        start = row == n_actions
        starts[col[start]] = self.soft_counts[c, start]
        transitions[row[~start], col[~start]] = self.soft_counts[c, ~start]
        return starts, transitions


def classify(arrays: SessionArrays, config: FitSettings, rng: np.random.Generator) -> Classification:
    """Classes of users and sessions (see the module docstring)."""
    full = _unit_data(arrays, arrays.action.astype(np.int64), len(arrays.actions))
    result = _classify(arrays, full, full, config, rng)
    if result.k > 1 or config.classes is not None:
        return result
    # One class on the full chains: with a thousand pages each seen a few times, every extra chain costs
    # thousands of parameters and BIC cannot afford one. The same mixture over the actions' kinds (a page,
    # an image, a script: model/kinds.py) is a chain of a few states that can still tell a crawler's long
    # page-after-page sessions from a visitor's page-and-images, or a text browser from a graphical one.
    # Only where that is why one class won: a chain of a few actions that BIC kept whole is one kind of
    # user, and a mixture over kinds would split it on what lumping actions together blurs (the lumped
    # chain is not Markov, and each kind pools think laws of several actions).
    sessions = full[0]
    free = int(np.maximum(np.bincount(sessions.cell_row) - 1, 0).sum())
    kind_names, kind_of_action = np.unique([action_kind(n) for n in arrays.actions], return_inverse=True)
    if len(kind_names) < 2 or free < _COARSE_WHEN * sessions.n_units:
        return result
    coarse = _unit_data(arrays, kind_of_action[arrays.action].astype(np.int64), len(kind_names))
    few = replace(config, max_classes=min(config.max_classes, _COARSE_MAX_CLASSES))
    by_kind = _classify(arrays, coarse, full, few, rng)
    return by_kind if by_kind.k > 1 else result


def _classify(arrays: SessionArrays, units: tuple[UnitData, UnitData], full: tuple[UnitData, UnitData],
              config: FitSettings, rng: np.random.Generator) -> Classification:
    """Classes from the mixtures of ``units`` (sessions, users); transition counts from ``full`` ones."""
    sessions, users = units
    select = {"max_classes": config.max_classes, "fixed": config.classes,
              "selection_units": config.selection_units, "restarts": config.restarts, "rng": rng}
    session_mixture, session_resp = choose_classes(sessions, **select)
    session_mixture, session_resp = _tidy(session_mixture, session_resp, config.min_class_share)
    session_hard = session_resp.argmax(axis=1)
    purity = _agreement(arrays, session_hard, _majority(arrays, session_hard, session_mixture.k),
                        session_resp)
    if session_mixture.k > 1 and purity < config.sticky_threshold:
        user_class = _majority(arrays, session_hard, session_mixture.k)
        mix = np.zeros((session_mixture.k, session_mixture.k))
        np.add.at(mix, (user_class[arrays.session_user], session_hard), 1.0)
        mix /= np.maximum(mix.sum(axis=1, keepdims=True), 1.0)
        for k in np.flatnonzero(mix.sum(axis=1) == 0):      # a class no user is mostly in
            mix[k, k] = 1.0
        return Classification(user_class=user_class, session_class=session_hard,
                              soft_counts=np.asarray(full[0].counts.T @ session_resp).T, cells=full[0].cells,
                              sticky_share=purity, class_mix=mix)

    user_mixture, user_resp = choose_classes(users, **select)
    user_mixture, user_resp = _tidy(user_mixture, user_resp, config.min_class_share)
    user_class = user_resp.argmax(axis=1)
    session_post = posteriors(sessions, user_mixture)
    sticky = _agreement(arrays, session_post.argmax(axis=1), user_class, session_post)
    return Classification(user_class=user_class, session_class=user_class[arrays.session_user],
                          soft_counts=np.asarray(full[1].counts.T @ user_resp).T, cells=full[1].cells,
                          sticky_share=sticky,
                          class_mix=None)


def _unit_data(arrays: SessionArrays, action: np.ndarray, a: int) -> tuple[UnitData, UnitData]:
    """Sufficient statistics per session and per user, over the alphabet ``action`` (codes 0…a−1 per
    event: the actions themselves, or their kinds)."""
    previous = np.full(len(action), -1, dtype=np.int64)
    has = arrays.previous_action >= 0
    previous[has] = action[np.flatnonzero(has) - 1]          # events are by session, then time
    row = np.where(previous < 0, a, previous)
    last = arrays.last
    # One transition per event (START or previous → action) plus one EXIT per session.
    cell = np.r_[row * (a + 1) + action, action[last] * (a + 1) + a].astype(np.int64)
    session_of_cell = np.r_[arrays.session, arrays.session[last]]
    positive = arrays.think_s > 0
    log_think = np.log(arrays.think_s[positive])
    session_of_think = arrays.session[positive]
    action_of_think = previous[positive]
    sessions = unit_data(session_of_cell, cell, arrays.n_sessions, a, session_of_think, action_of_think,
                         log_think)
    users = unit_data(arrays.session_user[session_of_cell], cell, arrays.n_users, a,
                      arrays.session_user[session_of_think], action_of_think, log_think)
    return sessions, users


def _tidy(mixture: Mixture, resp: np.ndarray, min_share: float) -> tuple[Mixture, np.ndarray]:
    """Merge classes under ``min_share`` away and number the rest by size, largest first."""
    hard = resp.argmax(axis=1)
    shares = np.bincount(hard, minlength=mixture.k) / len(hard)
    keep = np.flatnonzero(shares >= min_share) if mixture.k > 1 else np.array([0])
    if len(keep) == 0:
        keep = np.array([int(shares.argmax())])
    if len(keep) < mixture.k:
        resp = resp[:, keep]
        resp = resp / np.maximum(resp.sum(axis=1, keepdims=True), 1e-300)
        mixture = mixture.take(keep)
    # Largest first, so names are stable across refits of similar data.
    order = np.argsort(-np.bincount(resp.argmax(axis=1), minlength=mixture.k), kind="stable")
    return mixture.take(order), resp[:, order]


def _majority(arrays: SessionArrays, session_class: np.ndarray, k: int) -> np.ndarray:
    """The class most of each user's sessions fall in."""
    counts = np.zeros((arrays.n_users, k))
    np.add.at(counts, (arrays.session_user, session_class), 1.0)
    return counts.argmax(axis=1)


def _agreement(arrays: SessionArrays, session_class: np.ndarray, user_class: np.ndarray,
               session_post: np.ndarray) -> float:
    """Share of confidently classified sessions (of users with ≥ 2 sessions) in their user's class."""
    spu = np.bincount(arrays.session_user, minlength=arrays.n_users)
    counted = (spu[arrays.session_user] >= 2) & (session_post.max(axis=1) >= _CONFIDENT)
    if not counted.any():
        return 1.0
    return float((session_class == user_class[arrays.session_user])[counted].mean())
