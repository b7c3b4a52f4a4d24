"""Where a run's users come from: a fitted model, a simple script, or a recorded trace.

Each gives a :class:`UserSource`: how to make a user's controller, which actions exist, the
:class:`~tracereplay.replay.controllers.paths.PathChooser` its controllers fill routes with (from the user's
store, else the model's or trace's example paths), the arrival profile (models) or the recorded users
(traces), and what ``run.json`` says about the source. Workers build their own UserSource from a *spec* (a
path, or an in-memory object), so nothing but that spec crosses a process boundary.

A model's arrival profile is read on a *profile clock* (:class:`ProfileRate`): it shows ``profile_start``
(default: the wall clock's time) when the run starts and runs ``profile_speed`` × the wall clock; the rate
is ``arrival_scale`` × the profile's rate for the clock's hour. Speed replays the shape, not the volume.
The clock starts at a wall-clock moment ``now`` chosen by whoever starts the load: one process when it
starts, a pool once for all its workers (:func:`starting_at`), so every worker covers the same window.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tracereplay.errors import ConfigError, InputError
from tracereplay.replay.behaviour import is_behaviour, load_behaviour
from tracereplay.replay.config import WEEKDAYS, RunConfig, Workload, parse_profile_start
from tracereplay.replay.controllers.paths import PathChooser
from tracereplay.replay.controllers.simple import Script, SimpleController, load_script
from tracereplay.replay.controllers.stochastic import SessionSource, StochasticController
from tracereplay.replay.controllers.trace import UserPlan, plan_users
from tracereplay.replay.user_factory import ControllerFactory

SCRIPT_SUFFIXES = (".toml",)
#: Any Monday, 00:00 UTC: a profile start with a weekday is placed in this week (profiles are by hour of
#: the day or of the week, so the date itself never matters).
REFERENCE_MONDAY = datetime(2024, 1, 1, tzinfo=UTC)
_WEEK_H = 168


@dataclass(kw_only=True)
class UserSource:
    """What drives one worker's users."""

    kind: str  # "model" | "script" | "trace"
    controllers: ControllerFactory | None = None
    actions: list[str] = field(default_factory=list)
    paths: PathChooser = field(default_factory=PathChooser)  # shared by the worker's controllers
    profile: ProfileRate | None = None  # seconds from the run's start → sessions/s (× arrival_scale)
    replace_users: bool = True
    trace_users: list[UserPlan] = field(default_factory=list)
    trace_span: float = 0.0
    describe: dict[str, Any] = field(default_factory=dict)


def is_script(spec: object) -> bool:
    """A simple script (a fixed loop); a ``.toml`` with a ``[behaviour]`` table is a hand-written model."""
    if isinstance(spec, Script):
        return True
    return isinstance(spec, str | Path) and Path(spec).suffix in SCRIPT_SUFFIXES and not is_behaviour(spec)


def from_spec(spec: object, config: RunConfig, *, worker: int = 0, now: datetime | None = None) -> UserSource:
    """The UserSource for a model/script spec (path or object) under ``config``; a model's profile clock
    starts at ``now`` (default: the current time; :func:`starting_at` moves it)."""
    if is_script(spec):
        script = spec if isinstance(spec, Script) else load_script(spec)  # type: ignore[arg-type]
        return from_script(script, config, source=None if isinstance(spec, Script) else str(spec))
    model, path = (load_model_file(spec), str(spec)) if isinstance(spec, str | Path) else (spec, None)
    return from_model(model, config, path=path, now=now)


def small_spec_actions(spec: object) -> list[str] | None:
    """The actions of a script or a behaviour ``.toml`` (read and checked: small and quick), else None (a
    fitted model, which each worker loads): a parent checks these before writing anything."""
    if isinstance(spec, Script):
        return spec.actions
    if not isinstance(spec, str | Path) or Path(spec).suffix not in SCRIPT_SUFFIXES:
        return None
    return (load_script(spec) if is_script(spec) else load_behaviour(spec)).actions


def load_model_file(path: str | Path) -> SessionSource:
    source = Path(path)
    if not source.is_file():
        raise InputError(source, "no such model file")
    if source.suffix in SCRIPT_SUFFIXES:
        return load_behaviour(source)  # a hand-written behaviour (is_script said it is not a script)
    from tracereplay.model import load_model  # the model stage's public API

    return load_model(source)


def from_model(
    model: Any, config: RunConfig, *, path: str | None = None, now: datetime | None = None
) -> UserSource:
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
    _warm_up(model)
    one_session = config.workload is Workload.OPEN  # an arrival is one session of a new user
    timed = _gap_takes_after(model)
    max_gap_s = config.session_gap_cap
    paths = PathChooser(model.path_examples)

    def controllers(key: str, rng: np.random.Generator) -> StochasticController:
        # The user's model timeline starts now, so its later sessions keep the model's hours of day.
        start_s = time.time() if timed else None
        return StochasticController(
            model,
            rng,
            user_key=key,
            sessions=1 if one_session else None,
            start_s=start_s,
            max_gap_s=max_gap_s,
            paths=paths,
        )

    describe: dict[str, Any] = {"model": path, "model_sha256": _sha256(path), "source": "model"}
    profile = None
    if config.arrival_scale is not None:
        now = now or datetime.now(UTC)
        profile = model_profile(model, config, now=now)
        describe["profile"] = run_window(profile, config, now)
    return UserSource(
        kind="model",
        controllers=controllers,
        actions=list(model.actions),
        paths=paths,
        profile=profile,
        replace_users=True,
        describe=describe,
    )


def _warm_up(model: SessionSource) -> None:
    """Draw one throwaway session now, so that a model's lazy set-up happens while the worker prepares.

    A fitted model compiles its sampling tables on first use: 2.8 s of one core for the 1,329 actions of
    the shared Apache log. Done by the first user, it held the event loop after the run's clock had
    started, every user of the worker waited, and the corrected p99 counted the wait (1.66 s)."""
    rng = np.random.default_rng(0)
    class_index, _ = model.sample_user(rng)
    model.sample_session(class_index, rng)


def starting_at(
    behaviour: UserSource, config: RunConfig, now: datetime, *, wall: datetime | None = None
) -> UserSource:
    """``behaviour`` with its profile clock reading the start ``config`` gives at ``now`` (no
    ``profile_start``: ``now`` itself), from the wall-clock moment ``wall`` (default ``now``) on: a pool
    launched at ``now`` releases all its workers at one ``wall``."""
    if behaviour.profile is None:
        return behaviour
    profile = dataclasses.replace(behaviour.profile, start=profile_start(config, now=now))
    describe = {**behaviour.describe, "profile": run_window(profile, config, wall or now)}
    return dataclasses.replace(behaviour, profile=profile, describe=describe)


def run_window(profile: ProfileRate, config: RunConfig, wall: datetime) -> dict[str, Any]:
    """``run.json``'s ``profile``: the window of the whole run (a worker's share of the rate × the workers,
    ``config.for_worker``) and ``wall_start``, the wall-clock moment the profile clock shows its start."""
    whole = dataclasses.replace(profile, scale=profile.scale * config.workers)
    return {**whole.window(config.duration or 0.0), "wall_start": wall.isoformat()}


def spec_profile(spec: object, config: RunConfig, *, now: datetime) -> ProfileRate | None:
    """A worker's profile clock (``config`` is its share) for a model spec on the open workload, else None:
    what a pool's parent announces in the first ``run.json`` before any worker is up."""
    if config.arrival_scale is None or spec is None or is_script(spec):
        return None
    model = load_model_file(spec) if isinstance(spec, str | Path) else spec  # type: ignore[arg-type]
    if not hasattr(model, "arrival_rate"):
        return None  # not a model: the workers say so, in one line
    return model_profile(model, config, now=now)


def _gap_takes_after(model: Any) -> bool:
    """Whether ``sample_session_gap`` takes ``after`` (sources written before it was added do not)."""
    try:
        return "after" in inspect.signature(model.sample_session_gap).parameters
    except (TypeError, ValueError):
        return False


# ------------------------------------------------------------------------------------ the profile clock
def week_rates(model: Any) -> np.ndarray:
    """The model's sessions/s for each hour of a week (168, Monday 0h first), through ``arrival_rate``."""
    return np.array(
        [float(model.arrival_rate(REFERENCE_MONDAY + timedelta(hours=h))) for h in range(_WEEK_H)]
    )


def model_profile(model: Any, config: RunConfig, *, now: datetime) -> ProfileRate:
    """``config.arrival_scale`` × the model's profile on the clock ``config`` sets (start, speed)."""
    start = profile_start(config, now=now)
    scale = config.arrival_scale or 1.0
    return ProfileRate(week_rates(model), start=start, speed=config.profile_speed, scale=scale)


def is_weekly(week: np.ndarray) -> bool:
    """Whether the profile differs between days (hour of week) rather than repeating daily."""
    return not np.allclose(week.reshape(7, 24), week[:24])


def profile_start(config: RunConfig, *, now: datetime) -> datetime:
    """Where the profile clock starts: ``config.profile_start`` (no weekday: today's), else ``now``."""
    if config.profile_start is None:
        return now
    weekday, seconds = parse_profile_start(config.profile_start)
    day = now.weekday() if weekday is None else weekday
    return REFERENCE_MONDAY + timedelta(days=day, seconds=seconds)


@dataclass(frozen=True)
class ProfileRate:
    """``scale`` × the hour-of-week rates ``week``, read on a clock showing ``start`` at run second 0 and
    running ``speed`` × faster: a rate function of run seconds, constant within each profile hour, which
    tells the open workload where it changes next (``next_change``) so arrivals integrate it exactly."""

    week: np.ndarray
    start: datetime
    speed: float = 1.0
    scale: float = 1.0

    @property
    def _base(self) -> datetime:  # the start's whole hour: hour 0 of the clock
        return self.start.replace(minute=0, second=0, microsecond=0)

    @property
    def _offset(self) -> float:  # seconds of the start into its hour
        return (self.start - self._base).total_seconds()

    def hour(self, t: float) -> int:
        """The profile hour at run second ``t``, counted from the start's hour."""
        # within a few µs of profile time below a boundary counts as the next hour, so a step that lands
        # on the boundary (computed by next_change, with rounding) reads the new hour's rate
        return math.floor((self._offset + self.speed * t) / 3600.0 + 1e-9)

    def at(self, t: float) -> datetime:
        """The profile clock at run second ``t``."""
        return self.start + timedelta(seconds=self.speed * t)

    def rate_of_hour(self, k: int) -> float:
        base = self._base
        return self.scale * float(self.week[(base.weekday() * 24 + base.hour + k) % _WEEK_H])

    def __call__(self, t: float) -> float:
        return self.rate_of_hour(self.hour(t))

    def next_change(self, t: float) -> float:
        """The run second at which the profile clock reaches its next hour."""
        return ((self.hour(t) + 1) * 3600.0 - self._offset) / self.speed

    def seconds_per_hour(self, duration_s: float) -> np.ndarray:
        """Run seconds spent in each hour of the week (168) over ``[0, duration_s]``."""
        first, last = self.hour(0.0), self.hour(duration_s)
        h0 = self._base.weekday() * 24 + self._base.hour
        per_hour = 3600.0 / self.speed
        seconds = np.zeros(_WEEK_H)
        seconds[(h0 + first) % _WEEK_H] += min(duration_s, self.next_change(0.0))
        if last > first:
            seconds[(h0 + last) % _WEEK_H] += duration_s - ((last * 3600.0 - self._offset) / self.speed)
            weeks, rest = divmod(last - first - 1, _WEEK_H)  # whole hours between, folded onto the week
            seconds += weeks * per_hour
            np.add.at(seconds, (h0 + first + 1 + np.arange(rest)) % _WEEK_H, per_hour)
        return seconds

    def window(self, duration_s: float) -> dict[str, Any]:
        """What a run of ``duration_s`` covers of the profile, for the start line and ``run.json``."""
        weekly = is_weekly(self.week)
        seconds = self.seconds_per_hour(duration_s)
        covered = seconds > 1e-9
        rates = self.scale * self.week
        expected = float((seconds * rates).sum())
        order = [(self._base.weekday() * 24 + self._base.hour + k) % _WEEK_H
                 for k in range(min(self.hour(duration_s) + 1, _WEEK_H))]
        hours = [h for h in dict.fromkeys(order) if covered[h]]
        end, days = self.at(duration_s), int(self.speed * duration_s // 86400)
        window = {
            "start": _label(self.start, weekly),
            "end": _label(end, weekly) + (f" (+{days}d)" if days else ""),
            "weekly": weekly,
            "speed": self.speed,
            "scale": self.scale,
            "profile_hours": self.speed * duration_s / 3600.0,
            "rate_min": float(rates[covered].min()) if covered.any() else 0.0,
            "rate_mean": expected / duration_s if duration_s > 0 else 0.0,
            "rate_max": float(rates[covered].max()) if covered.any() else 0.0,
            "expected_sessions": expected,
            "warning": None,
        }
        if expected < 1:
            window["warning"] = self._warning(hours, expected, weekly)
        return window

    def _warning(self, hours: list[int], expected: float, weekly: bool) -> str:
        names = [_hour_label(h, weekly) for h in hours[:6]] + (["…"] if len(hours) > 6 else [])
        busiest = _hour_label(int(np.argmax(self.week)), weekly)
        what = "no session" if expected == 0 else f"{expected:.2g} sessions on average"
        return (
            f"the arrival profile's hour{'s' if len(hours) > 1 else ''} {', '.join(names)} "
            f"give{'' if len(hours) > 1 else 's'} this run {what}: choose a busier --profile-start "
            f"(the busiest is {busiest}) or a fixed --arrival-rate"
        )


def _label(when: datetime, weekly: bool) -> str:
    text = when.strftime("%H:%M") + (when.strftime(":%S") if when.second else "")
    return f"{WEEKDAYS[when.weekday()]} {text}" if weekly else text


def _hour_label(how: int, weekly: bool) -> str:
    return f"{WEEKDAYS[how // 24]} {how % 24:02d}:00" if weekly else f"{how % 24:02d}:00"


def from_script(script: Script, config: RunConfig, *, source: str | None = None) -> UserSource:
    if config.workload is Workload.OPEN:  # an arrival is one pass of the script by a new user
        script = dataclasses.replace(script, loops=1)

    paths = PathChooser()

    def controllers(key: str, rng: np.random.Generator) -> SimpleController:
        return SimpleController(script, user_key=key, rng=rng, paths=paths)

    return UserSource(
        kind="script",
        controllers=controllers,
        paths=paths,
        actions=script.actions,
        replace_users=script.loops == 0,
        describe={"model": source, "model_sha256": _sha256(source), "source": "script"},
    )


def from_trace(
    events: str | Path | pd.DataFrame, config: RunConfig, *, worker: int = 0, workers: int = 1
) -> UserSource:
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
    return UserSource(
        kind="trace",
        actions=sorted(events["action"].unique()),
        paths=PathChooser(lambda a: examples.get(a, [])),
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
