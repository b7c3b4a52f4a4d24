"""The model file: one JSON document, versioned, no pickle.

    {"format": "tracereplay-model", "version": 4, "tracereplay": "0.1.0", "saved": ISO,
     "source": {...}, "settings": {...}, "actions": [...], "action_stats": [...],
     "think": DIST, "session_gap": DIST, "arrivals": {...}, "max_session_actions": n,
     "sticky_share": x, "class_mix": null | K×K, "session_gap_clock": "arrivals",
     "classes": [{..., "starts": [[a, count]...], "transitions": [[i, j, count]...],
                  "session_gap_by_hour": [[hour, DIST]...]}]}

Transitions are stored sparse as ``[from, to, count]`` with ``to == len(actions)`` meaning EXIT. The full
schema is in docs/model.md. A reader opens every version up to :data:`FORMAT_VERSION`; a newer file, a
foreign JSON document or a damaged one raises :class:`tracereplay.errors.ModelFileError` naming the file
and the place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tracereplay.errors import ModelFileError
from tracereplay.model.behaviour import ActionStats, ArrivalProfile, BehaviourModel, UserClass
from tracereplay.model.distributions import Duration
from tracereplay.model.encode import FORMAT, FORMAT_VERSION, GAP_CLOCKS, THINK_BACKOFFS
from tracereplay.model.shape import SessionShape


def load_model(path: str | Path) -> BehaviourModel:
    """Read a model file written by :func:`save_model` (any version up to :data:`FORMAT_VERSION`)."""
    source = Path(path)
    if not source.exists():
        raise ModelFileError(source, "no such file")
    try:
        text = source.read_bytes().decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError:
        raise ModelFileError(source, "not a tracereplay model file (not UTF-8 JSON text)") from None
    except json.JSONDecodeError as exc:
        if text.strip() and not text.lstrip().startswith("{"):
            raise ModelFileError(source, "not a tracereplay model file (not a JSON object)") from None
        raise ModelFileError(source, f"damaged or not JSON ({exc.msg})",
                             where=f"line {exc.lineno} column {exc.colno}") from None
    except OSError as exc:
        raise ModelFileError(source, f"cannot read ({exc.strerror})") from None
    return model_from_dict(data, source=source)


def model_from_dict(data: Any, *, source: str | Path = "<model>") -> BehaviourModel:
    """Build a model from the parsed file; every defect becomes a :class:`ModelFileError`."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelFileError(source, "not a tracereplay model file (no \"format\": \"tracereplay-model\")")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(source, f"damaged: model format version {version!r} is not a positive integer")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            source,
            f"written by a newer tracereplay ({data.get('tracereplay', '?')}, model format {version}); "
            f"this one reads formats up to {FORMAT_VERSION}: upgrade tracereplay",
        )
    place = "top level"
    try:
        actions = [str(a) for a in data["actions"]]
        a = len(actions)
        place = "action_stats"
        stats = [_stats_from_dict(s) for s in data["action_stats"]]
        if len(stats) != a:
            raise ValueError(f"{len(stats)} entries for {a} actions")
        place = "arrivals"
        arrivals = ArrivalProfile(rate=np.asarray(data["arrivals"]["rate"], dtype=np.float64),
                                  observed=np.asarray(data["arrivals"]["observed"], dtype=bool))
        if len(arrivals.rate) not in (24, 168) or len(arrivals.observed) != len(arrivals.rate):
            raise ValueError("rate must have 24 or 168 bins, with as many 'observed' flags")
        if np.any(~np.isfinite(arrivals.rate)) or np.any(arrivals.rate < 0):
            raise ValueError("rates must be finite and non-negative")
        classes = []
        for index, entry in enumerate(data["classes"]):
            place = f"classes[{index}]"
            classes.append(_class_from_dict(entry, a, version))
        if not classes:
            raise ValueError("a model needs at least one class")
        place = "think"
        think = _dist_from(data.get("think"))
        place = "session_gap"
        gap = _dist_from(data.get("session_gap"))
        place = "class_mix"
        mix = data.get("class_mix")
        if mix is not None:
            mix = np.asarray(mix, dtype=np.float64)
            if mix.shape != (len(classes), len(classes)) or np.any(mix < 0) or not np.all(np.isfinite(mix)):
                raise ValueError("class_mix must be a non-negative square matrix, one row per class")
        place = "session_gap_clock"
        gap_clock = str(data.get("session_gap_clock", "arrivals")) if version >= 2 else "wall"
        if gap_clock not in GAP_CLOCKS:
            raise ValueError(f"unknown clock {gap_clock!r} (one of {', '.join(GAP_CLOCKS)})")
        place = "time_resolution_s"
        resolution = float(data.get("time_resolution_s", 0.0))
        if not (np.isfinite(resolution) and 0.0 <= resolution <= 3600.0):
            raise ValueError(f"{resolution} is not a resolution in seconds (0 to 3600)")
        place = "top level"
        return BehaviourModel(
            actions=actions,
            action_stats=stats,
            classes=classes,
            think=think,
            session_gap=gap,
            arrivals=arrivals,
            max_session_actions=int(data["max_session_actions"]),
            source=dict(data.get("source", {})),
            settings=dict(data.get("settings", {})),
            sticky_share=float(data.get("sticky_share", 1.0)),
            class_mix=mix,
            session_gap_clock=gap_clock,
            time_resolution_s=resolution,
        )
    except KeyError as exc:
        raise ModelFileError(source, f"damaged: missing field {exc.args[0]!r}", where=place) from None
    except (TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ModelFileError(source, f"damaged: {exc}", where=place) from None


def _dist_from(data: Any) -> Duration | None:
    return Duration.from_dict(data) if data is not None else None


def _stats_from_dict(d: dict[str, Any]) -> ActionStats:
    return ActionStats(
        name=str(d["name"]), count=int(d["count"]), error_rate=float(d["error_rate"]),
        duration=_dist_from(d.get("duration")), method=d.get("method"), route=d.get("route"),
        ok_status=d.get("ok_status"), error_status=d.get("error_status"),
        paths=tuple(str(p) for p in d.get("paths", ())),
    )


def _class_from_dict(d: dict[str, Any], a: int, version: int) -> UserClass:
    start_counts = np.zeros(a)
    for i, count in d["starts"]:
        start_counts[_index(i, a)] = float(count)
    transitions = np.zeros((a, a + 1))
    for i, j, count in d["transitions"]:
        transitions[_index(i, a), _index(j, a + 1)] = float(count)
    if np.any(start_counts < 0) or np.any(transitions < 0):
        raise ValueError("counts must be non-negative")
    spu = d["sessions_per_user"]
    values = np.asarray(spu["values"], dtype=np.int64)
    users = np.asarray(spu["users"], dtype=np.int64)
    if len(values) != len(users) or len(values) == 0 or values.min() < 1:
        raise ValueError("sessions_per_user needs matching, positive 'values' and 'users'")
    share = float(d["share"])
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share {share} is not between 0 and 1")
    clock = d.get("session_gap_clock") if version >= 3 else None      # before 3: the model's clock
    if clock is not None and clock not in GAP_CLOCKS:
        raise ValueError(f"unknown session_gap_clock {clock!r} (one of {', '.join(GAP_CLOCKS)})")
    shape = None if d.get("shape") is None else SessionShape.from_dict(d["shape"])
    backoff = str(d.get("think_backoff", "previous")) if version >= 4 else "previous"
    if backoff not in THINK_BACKOFFS:
        raise ValueError(f"unknown think_backoff {backoff!r} (one of {', '.join(THINK_BACKOFFS)})")
    return UserClass(
        name=str(d["name"]),
        share=share,
        users=int(d["users"]),
        sessions=int(d["sessions"]),
        start_counts=start_counts,
        transition_counts=transitions,
        sessions_per_user=(values, users),
        session_gap=_dist_from(d.get("session_gap")),
        session_gap_by_hour={_index(h, 24, "hour"): Duration.from_dict(x)
                             for h, x in d.get("session_gap_by_hour", [])},
        session_gap_clock=clock,
        think=_dist_from(d.get("think")),
        think_action={_index(i, a): Duration.from_dict(x) for i, x in d.get("think_action", [])},
        think_backoff=backoff,
        think_kind={str(k): Duration.from_dict(x) for k, x in d.get("think_kind", [])},
        think_transition={(_index(i, a), _index(j, a)): Duration.from_dict(x)
                          for i, j, x in d.get("think_transition", [])},
        shape=shape,
    )


def _index(value: Any, size: int, what: str = "action index") -> int:
    index = int(value)
    if not 0 <= index < size:
        raise ValueError(f"{what} {index} is out of range (0..{size - 1})")
    return index
