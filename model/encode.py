"""Writing a behaviour model: the versioned JSON document :mod:`tracereplay.model.io` reads back.

Split from the reader so the model type can offer ``save``/``to_dict`` without an import cycle: writing
needs only the model's attributes, reading needs its constructors.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tracereplay import __version__
from tracereplay.files import atomic_path

if TYPE_CHECKING:
    from tracereplay.model.distributions import Duration

    # relative, as behaviour.py imports this module: one class for pyright (see there)
    from .behaviour import ActionStats, BehaviourModel, UserClass

FORMAT = "tracereplay-model"
FORMAT_VERSION = 4
# Version 2: session gaps are measured on the arrival clock ("session_gap_clock": "arrivals") and have
# per-hour laws ("session_gap_by_hour" in each class). Version-1 files keep their wall-clock gaps.
# Version 3: "time_resolution_s" (top level); per class "shape" (session-length law, think tempo by
# length band) and "session_gap_clock" (gaps on the wall or the arrival clock). See docs/model.md.
# Version 4: per class "think_backoff" ("previous" or "next": which action a thin transition cell's think
# backs off to; "think_action" is keyed by that action) and "think_kind" (the next level: by the action's
# kind, model.behaviour.action_kind). Older files: "previous", no kind level.
GAP_CLOCKS = ("arrivals", "wall")
THINK_BACKOFFS = ("previous", "next")     # UserClass.think_backoff


def save_model(model: BehaviourModel, path: str | Path) -> Path:
    """Write ``model`` to exactly ``path``, atomically."""
    target = Path(path)
    text = json.dumps(model_to_dict(model), separators=(",", ":"), allow_nan=False)
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


def model_to_dict(model: BehaviourModel) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "tracereplay": __version__,
        "saved": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": model.source,
        "settings": model.settings,
        "actions": list(model.actions),
        "action_stats": [_stats_to_dict(s) for s in model.action_stats],
        "think": _dist(model.think),
        "session_gap": _dist(model.session_gap),
        "arrivals": {
            "bins": "hour_of_week" if model.arrivals.by_week else "hour_of_day",
            "rate": [_round(r) for r in model.arrivals.rate.tolist()],
            "observed": [bool(o) for o in model.arrivals.observed.tolist()],
        },
        "max_session_actions": model.max_session_actions,
        "sticky_share": _round(model.sticky_share),
        "class_mix": None if model.class_mix is None else [[_round(v) for v in row]
                                                           for row in np.asarray(model.class_mix).tolist()],
        "session_gap_clock": model.session_gap_clock,
        "time_resolution_s": model.time_resolution_s,
        "classes": [_class_to_dict(c) for c in model.classes],
    }


def _round(value: float) -> float:
    return float(f"{value:.9g}")


def _dist(dist: Duration | None) -> dict[str, Any] | None:
    return dist.to_dict() if dist is not None else None


def _stats_to_dict(s: ActionStats) -> dict[str, Any]:
    return {"name": s.name, "count": s.count, "error_rate": _round(s.error_rate),
            "duration": _dist(s.duration), "method": s.method, "route": s.route,
            "ok_status": s.ok_status, "error_status": s.error_status,
            "paths": list(s.paths)}


def _class_to_dict(c: UserClass) -> dict[str, Any]:
    starts = np.flatnonzero(c.start_counts)
    rows, cols = np.nonzero(c.transition_counts)
    values, counts = c.sessions_per_user
    return {
        "name": c.name,
        "share": _round(c.share),
        "users": c.users,
        "sessions": c.sessions,
        "starts": [[int(i), _round(c.start_counts[i])] for i in starts],
        "transitions": [[int(i), int(j), _round(c.transition_counts[i, j])]
                        for i, j in zip(rows, cols, strict=True)],
        "sessions_per_user": {"values": values.tolist(), "users": counts.tolist()},
        "session_gap": _dist(c.session_gap),
        "session_gap_by_hour": [[h, d.to_dict()] for h, d in sorted(c.session_gap_by_hour.items())],
        "session_gap_clock": c.session_gap_clock,
        "think": _dist(c.think),
        "think_action": [[i, d.to_dict()] for i, d in sorted(c.think_action.items())],
        "think_backoff": c.think_backoff,
        "think_kind": [[k, d.to_dict()] for k, d in sorted(c.think_kind.items())],
        "think_transition": [[i, j, d.to_dict()] for (i, j), d in sorted(c.think_transition.items())],
        "shape": None if c.shape is None else c.shape.to_dict(),
    }
