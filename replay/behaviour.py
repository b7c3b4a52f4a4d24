"""Where a run's users come from: a fitted model, a simple script, or a recorded trace.

Each gives a :class:`Behaviour`: how to make a user's controller, which actions exist, example paths for
the generic HTTP action, the arrival profile (models) or the recorded users (traces), and what ``run.json``
says about the source. Workers build their own Behaviour from a *spec* (a path, or an in-memory object), so
nothing but that spec crosses a process boundary.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tracereplay.errors import ConfigError, InputError
from tracereplay.replay.config import RunConfig, Workload
from tracereplay.replay.controllers.simple import Script, SimpleController, load_script
from tracereplay.replay.controllers.stochastic import SessionSource, StochasticController
from tracereplay.replay.controllers.trace import UserPlan, plan_users
from tracereplay.replay.users import ControllerFactory

SCRIPT_SUFFIXES = (".toml",)


@dataclass(kw_only=True)
class Behaviour:
    """What drives one worker's users."""

    kind: str  # "model" | "script" | "trace"
    controllers: ControllerFactory | None = None
    actions: list[str] = field(default_factory=list)
    examples: Callable[[str], list[str]] | None = None
    profile: Callable[[float], float] | None = None  # wall-clock seconds → sessions/s (× arrival_scale)
    replace_users: bool = True
    trace_users: list[UserPlan] = field(default_factory=list)
    trace_span: float = 0.0
    describe: dict[str, Any] = field(default_factory=dict)


def is_script(spec: object) -> bool:
    return isinstance(spec, Script) or (isinstance(spec, str | Path) and Path(spec).suffix in SCRIPT_SUFFIXES)


def from_spec(spec: object, config: RunConfig, *, worker: int = 0) -> Behaviour:
    """The Behaviour for a model/script spec (path or object) under ``config``."""
    if is_script(spec):
        script = spec if isinstance(spec, Script) else load_script(spec)  # type: ignore[arg-type]
        return from_script(script, config, source=None if isinstance(spec, Script) else str(spec))
    model, path = (load_model_file(spec), str(spec)) if isinstance(spec, str | Path) else (spec, None)
    return from_model(model, config, path=path)


def load_model_file(path: str | Path) -> SessionSource:
    source = Path(path)
    if not source.is_file():
        raise InputError(source, "no such model file")
    from tracereplay.model import load_model  # the model stage's public API

    return load_model(source)


def from_model(model: Any, config: RunConfig, *, path: str | None = None) -> Behaviour:
    missing = [
        name
        for name in (
            "actions",
            "sample_user",
            "sample_session",
            "sample_session_gap",
            "arrival_rate",
            "mean_arrival_rate",
            "path_examples",
        )
        if not hasattr(model, name)
    ]
    if missing:
        raise ConfigError(f"{type(model).__name__} is not a behaviour model: lacks {', '.join(missing)}")
    one_session = config.workload is Workload.OPEN  # an arrival is one session of a new user

    def controllers(key: str, rng: np.random.Generator) -> StochasticController:
        # The user's model timeline starts now, so its later sessions keep the model's hours of day.
        return StochasticController(
            model, rng, user_key=key, sessions=1 if one_session else None, start_s=time.time()
        )

    scale = config.arrival_scale

    def profile(wall_s: float) -> float:
        return float(scale or 1.0) * float(model.arrival_rate(datetime.fromtimestamp(wall_s, UTC)))

    return Behaviour(
        kind="model",
        controllers=controllers,
        actions=list(model.actions),
        examples=model.path_examples,
        profile=profile if scale is not None else None,
        replace_users=True,
        describe={"model": path, "model_sha256": _sha256(path), "source": "model"},
    )


def from_script(script: Script, config: RunConfig, *, source: str | None = None) -> Behaviour:
    if config.workload is Workload.OPEN:  # an arrival is one pass of the script by a new user
        script = dataclasses.replace(script, loops=1)

    def controllers(key: str, rng: np.random.Generator) -> SimpleController:
        return SimpleController(script, user_key=key)

    return Behaviour(
        kind="script",
        controllers=controllers,
        actions=script.actions,
        replace_users=script.loops == 0,
        describe={"model": source, "model_sha256": _sha256(source), "source": "script"},
    )


def from_trace(
    events: str | Path | pd.DataFrame, config: RunConfig, *, worker: int = 0, workers: int = 1
) -> Behaviour:
    """Recorded users of an event table (path or DataFrame); this worker's shard of them."""
    path = None
    if not isinstance(events, pd.DataFrame):
        from tracereplay.ingest.events import read_events

        path = str(events)
        events = read_events(events)
    plans, span = plan_users(
        events, speed=config.speed, max_gap_s=config.max_gap, sample=config.sample, shard=(worker, workers)
    )
    by_action = events.dropna(subset=["path"]).groupby("action")["path"] if "path" in events else None
    examples = {a: list(p.unique()[:50]) for a, p in by_action} if by_action is not None else {}
    return Behaviour(
        kind="trace",
        actions=sorted(events["action"].unique()),
        examples=lambda a: examples.get(a, []),
        trace_users=plans,
        trace_span=span,
        describe={
            "model": path,
            "model_sha256": _sha256(path),
            "source": "trace",
            "trace_users": len(plans),
            "trace_span_s": span,
        },
    )


def _sha256(path: str | None) -> str | None:
    if not path or not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
