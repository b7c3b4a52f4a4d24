"""A model as pandas tables, for notebooks and for ``model show``.

    frames = tracereplay.load_model("model.json").frames()
    frames["classes"]       one row per class: share, users, sessions, sessions per user, session length
    frames["transitions"]   one row per (class, from, to) with probability, count and think-time summary
    frames["actions"]       one row per action: count, error rate, server duration, method, route
    frames["arrivals"]      session starts/s per hour of day (or week)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tracereplay.model.kinds import action_kind
from tracereplay.model.states import EXIT, START

if TYPE_CHECKING:
    from tracereplay.model.distributions import Duration

    # relative, as behaviour.py imports this module: one class for pyright (see there)
    from .behaviour import BehaviourModel, UserClass


def transition_matrix(model: BehaviourModel, class_index: int = 0) -> pd.DataFrame:
    """Rows ``START`` + actions, columns actions + ``EXIT``; each row sums to 1 (or 0 if never visited)."""
    cls = model.classes[class_index]
    a = len(model.actions)
    probs = np.zeros((a + 1, a + 1))
    probs[0, :a] = cls.start_probabilities
    probs[1:] = cls.transition_probabilities
    return pd.DataFrame(probs, index=[START, *model.actions], columns=[*model.actions, EXIT])


def expected_visits(cls: UserClass) -> np.ndarray:
    """Expected number of times a session of this class does each action (from the absorbing chain)."""
    q = cls.transition_probabilities[:, :-1]
    start = cls.start_probabilities
    try:
        return np.linalg.solve((np.eye(len(q)) - q).T, start)
    except np.linalg.LinAlgError:      # a chain with no way out (an edited model): no finite answer
        return np.full(len(start), np.inf)


def think_for(model: BehaviourModel, class_index: int, previous: int,
              action: int) -> tuple[Duration | None, str]:
    """The think distribution used before ``action`` after ``previous``, and the level it comes from."""
    cls = model.classes[class_index]
    if (previous, action) in cls.think_transition:
        return cls.think_transition[(previous, action)], "transition"
    side = action if cls.think_backoff == "next" else previous
    if side in cls.think_action:
        return cls.think_action[side], "action"
    kind = action_kind(model.actions[side])
    if kind in cls.think_kind:
        return cls.think_kind[kind], "kind"
    if cls.think is not None:
        return cls.think, "class"
    return model.think, "global"


def model_frames(model: BehaviourModel) -> dict[str, pd.DataFrame]:
    return {"classes": classes_frame(model), "transitions": transitions_frame(model),
            "actions": actions_frame(model), "arrivals": arrivals_frame(model)}


def classes_frame(model: BehaviourModel) -> pd.DataFrame:
    rows = []
    for c in model.classes:
        visits = expected_visits(c)
        rows.append({
            "class": c.name, "share": c.share, "users": c.users, "sessions": c.sessions,
            "sessions_per_user": c.mean_sessions_per_user, "actions_per_session": float(visits.sum()),
            "think_median_s": c.think.median if c.think else np.nan,
            "gap_median_s": gap.median if (gap := c.session_gap or model.session_gap) else np.nan,
        })
    return pd.DataFrame(rows)


def transitions_frame(model: BehaviourModel) -> pd.DataFrame:
    names = [*model.actions, EXIT]
    rows = []
    for k, c in enumerate(model.classes):
        probs = c.transition_probabilities
        for j in np.flatnonzero(c.start_counts):
            rows.append(_row(c.name, START, names[j], c.start_probabilities[j], c.start_counts[j], None, ""))
        for i, j in zip(*np.nonzero(c.transition_counts), strict=True):
            dist, level = think_for(model, k, int(i), int(j)) if j < len(model.actions) else (None, "")
            p, count = float(probs[i, j]), float(c.transition_counts[i, j])
            rows.append(_row(c.name, names[i], names[j], p, count, dist, level))
    return pd.DataFrame(rows, columns=["class", "from", "to", "p", "count", "think_median_s", "think_p90_s",
                                       "think_family", "think_level"])


def _row(cls: str, src: str, dst: str, p: float, count: float, dist: Duration | None, level: str) -> dict:
    return {"class": cls, "from": src, "to": dst, "p": float(p), "count": float(count),
            "think_median_s": dist.median if dist else np.nan,
            "think_p90_s": float(dist.quantile(0.9)) if dist else np.nan,
            "think_family": dist.family.value if dist else "", "think_level": level}


def actions_frame(model: BehaviourModel) -> pd.DataFrame:
    return pd.DataFrame([{
        "action": s.name, "count": s.count, "error_rate": s.error_rate,
        "duration_median_ms": s.duration.median * 1000 if s.duration else np.nan,
        "duration_p95_ms": float(s.duration.quantile(0.95)) * 1000 if s.duration else np.nan,
        "method": s.method, "route": s.route, "paths": len(s.paths),
    } for s in model.action_stats])


def arrivals_frame(model: BehaviourModel) -> pd.DataFrame:
    profile = model.arrivals
    bins = np.arange(len(profile.rate))
    frame = pd.DataFrame({"hour": bins % 24, "sessions_per_s": profile.rate, "observed": profile.observed})
    if profile.by_week:
        frame.insert(0, "weekday", bins // 24)
    return frame
