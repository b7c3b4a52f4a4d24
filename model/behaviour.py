"""The behaviour model: a value type fitted from an event table, knowing nothing of HTTP.

    BehaviourModel
    ├── actions, action_stats      every action: count, error rate, server duration, method/route, paths seen
    ├── classes: [UserClass]       user share, start counts, transition counts (with EXIT), think times with
    │                              back-off (transition → action → class → global), sessions per user,
    │                              gap between a user's sessions
    ├── arrivals: ArrivalProfile   session starts/s per hour of day (or hour of week)
    └── source, settings           what it was fitted from (counts and time range, never a user key)

The runtime members the replay stage calls (``sample_user``, ``sample_session``, ``sample_session_gap``,
``arrival_rate``, ``mean_arrival_rate``, ``path_examples``) run on tables compiled once at construction
(:mod:`tracereplay.model.sampler`), so each call costs a few microseconds.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tracereplay.model.distributions import Duration
from tracereplay.model.shape import SessionShape

# Relative, as the modules they name import BehaviourModel back: the model is passed to them as ``self``, and
# pyright then sees one class (make typecheck reaches model/ both by its path and through a symlink: two
# names for one module if the imports were absolute; docs/architecture.md, "Types").
from .encode import model_to_dict, save_model
from .frames import model_frames, transition_matrix
from .sampler import CompiledModel

if TYPE_CHECKING:
    import pandas as pd

_CLOCK_FLOOR = 1e-3                    # slowest arrival-clock speed, as a share of the mean rate
_DAY_S = 86400.0


@dataclass(frozen=True, kw_only=True)
class ActionStats:
    """What the events say about one action, for reference, simulation and comparing runs."""

    name: str
    count: int
    error_rate: float
    duration: Duration | None               # server duration in seconds
    method: str | None = None
    route: str | None = None
    ok_status: int | None = None            # most common status of successful calls
    error_status: int | None = None         # most common status of failed calls
    paths: tuple[str, ...] = ()             # a bounded sample of concrete paths


@dataclass(frozen=True, kw_only=True)
class UserClass:
    """One kind of user: its share of users and how its sessions unfold."""

    name: str
    share: float                            # share of users
    users: int
    sessions: int
    start_counts: np.ndarray                # A: (weighted) sessions starting with each action
    transition_counts: np.ndarray           # A × (A + 1): from action → next action, last column = EXIT
    sessions_per_user: tuple[np.ndarray, np.ndarray]   # (values, user counts)
    session_gap: Duration | None            # end of one session → start of the user's next
    # … by the UTC hour of day the session ended, where the class has enough gaps ending in that hour
    session_gap_by_hour: dict[int, Duration] = field(default_factory=dict)
    # … measured on this clock ("arrivals" or "wall", tracereplay.model.gaps); None: the model's clock
    session_gap_clock: str | None = None
    think: Duration | None                  # class level
    think_action: dict[int, Duration] = field(default_factory=dict)     # by the action think_backoff says
    # Which action a thin transition cell backs off to: "previous" (the think after an action: reading its
    # result) or "next" (the think before one: a page's embedded image comes seconds after whatever
    # page asked for it). Chosen per class at fit time (model/fit.py); files before format 4: "previous".
    think_backoff: str = "previous"
    # … and for actions without a law of their own, by their kind (model/kinds.py: a route's method and
    # file extension, "GET .gif" or "GET /"): a day of a web log has a thousand pages seen a few times
    # each, and the think before one is a reader's, not the class's image-heavy pool. Format ≥ 4.
    think_kind: dict[str, Duration] = field(default_factory=dict)
    think_transition: dict[tuple[int, int], Duration] = field(default_factory=dict)
    # Session-length law and think tempo by length band (tracereplay.model.shape); None: the chain's
    # EXIT ends sessions and clicks are independent (format ≤ 2).
    shape: SessionShape | None = None

    @property
    def start_probabilities(self) -> np.ndarray:
        total = self.start_counts.sum()
        return self.start_counts / total if total > 0 else self.start_counts

    @property
    def transition_probabilities(self) -> np.ndarray:
        totals = self.transition_counts.sum(axis=1, keepdims=True)
        return np.divide(self.transition_counts, totals, out=np.zeros_like(self.transition_counts),
                         where=totals > 0)

    @property
    def mean_sessions_per_user(self) -> float:
        values, counts = self.sessions_per_user
        return float((values * counts).sum() / max(counts.sum(), 1))


@dataclass(frozen=True, kw_only=True)
class ArrivalProfile:
    """Session starts per second per hour of the day (24 bins) or of the week (168 bins, Monday 0h first)."""

    rate: np.ndarray                        # sessions/s per bin
    observed: np.ndarray                    # bool per bin: the data covered that bin

    @property
    def by_week(self) -> bool:
        return len(self.rate) == 168

    def bin_of(self, when: dt.datetime) -> int:
        if when.tzinfo is not None:
            when = when.astimezone(dt.UTC)
        return when.weekday() * 24 + when.hour if self.by_week else when.hour

    @property
    def mean_rate(self) -> float:
        return float(self.rate.mean()) if len(self.rate) else 0.0

    # ---- the arrival clock -------------------------------------------------------------------------
    # A clock that runs at the hour of day's rate / the mean rate: fast in busy hours, nearly stopped in
    # empty ones, a day of it as long as a wall-clock day. Session gaps are fitted and drawn on it, so a
    # user's later sessions land by the hourly profile as first ones do (time rescaling of a point
    # process). Always the day's shape, also under an hour-of-week profile: each of its bins is seen only
    # a few times and mixes in the source window's ramp-up and decay, and rescaling multi-day gaps by it
    # distorted them (gap KS 0.037 against 0.011–0.016 on tests/model's diurnal population).
    def to_arrival_clock(self, epoch_s: np.ndarray) -> np.ndarray:
        """Wall time (epoch seconds) → arrival-clock seconds (same origin, increasing)."""
        knots, cum = self._clock
        days, phase = np.divmod(np.asarray(epoch_s, dtype=np.float64), _DAY_S)
        return days * _DAY_S + np.interp(phase, knots, cum)

    def from_arrival_clock(self, clock_s: np.ndarray) -> np.ndarray:
        """Arrival-clock seconds → wall time (epoch seconds); the inverse of :meth:`to_arrival_clock`."""
        knots, cum = self._clock
        days, phase = np.divmod(np.asarray(clock_s, dtype=np.float64), _DAY_S)
        return days * _DAY_S + np.interp(phase, cum, knots)

    def to_arrival_clock_one(self, epoch_s: float) -> float:
        """:meth:`to_arrival_clock` of one time in plain Python (the replay's per-session call): the same
        float as the array form, ~10× cheaper than numpy on a one-element array."""
        knots, cum = self._clock_lists
        days, phase = divmod(epoch_s, _DAY_S)
        return days * _DAY_S + _interp_one(phase, knots, cum)

    def from_arrival_clock_one(self, clock_s: float) -> float:
        """:meth:`from_arrival_clock` of one time in plain Python (see :meth:`to_arrival_clock_one`)."""
        knots, cum = self._clock_lists
        days, phase = divmod(clock_s, _DAY_S)
        return days * _DAY_S + _interp_one(phase, cum, knots)

    @cached_property
    def _clock_lists(self) -> tuple[list[float], list[float]]:
        knots, cum = self._clock
        return knots.tolist(), cum.tolist()

    @cached_property
    def _clock(self) -> tuple[np.ndarray, np.ndarray]:
        rate = np.asarray(self.rate, dtype=np.float64).reshape(-1, 24).mean(axis=0)   # by hour of day
        mean = rate.mean()
        # A floor keeps the clock strictly increasing (invertible) where the data saw no session start.
        speed = np.maximum(rate, _CLOCK_FLOOR * mean) if mean > 0 else np.ones(24)
        speed = speed / speed.mean()
        knots = np.arange(25) * 3600.0
        cum = np.r_[0.0, np.cumsum(speed) * 3600.0]
        cum[-1] = _DAY_S                                     # exactly one day: no drift over days
        return knots, cum


def _interp_one(x: float, xp: list[float], fp: list[float]) -> float:
    """``numpy.interp(x, xp, fp)`` for one ``x`` with numpy's own formula and ends (same float)."""
    if x <= xp[0]:
        return fp[0]
    if x >= xp[-1]:
        return fp[-1]
    j = bisect_right(xp, x) - 1
    if xp[j] == x:
        return fp[j]
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    return slope * (x - xp[j]) + fp[j]

@dataclass(frozen=True, kw_only=True)
class BehaviourModel:
    """A fitted behaviour model. Build with :func:`tracereplay.model.fit`, or load a saved one.

    >>> model = fit(events)                                # doctest: +SKIP
    >>> cls, n = model.sample_user(rng)
    >>> actions, think_s = model.sample_session(cls, rng)
    """

    actions: list[str]
    action_stats: list[ActionStats]
    classes: list[UserClass]
    think: Duration | None                  # global think time, the last back-off level
    session_gap: Duration | None            # global gap between a user's sessions
    arrivals: ArrivalProfile
    max_session_actions: int                # sampled sessions are cut here (a safety bound, ≫ observed)
    source: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    sticky_share: float = 1.0               # share of sessions whose own best class is their user's class
    # K × K: row = user class, shares of the session classes its users' sessions fall in. None: users keep
    # their class for every session (see tracereplay.model.population).
    class_mix: np.ndarray | None = None
    # Which clock the session gaps are measured on: "arrivals" (the arrival profile's clock, so later
    # sessions follow the hourly profile; models since format 2) or "wall" (format-1 files; since format
    # 3 chosen from the data, tracereplay.model.gaps). A class may have its own (UserClass).
    session_gap_clock: str = "arrivals"
    # The source's timestamp resolution in seconds (1.0 for a web server log's whole seconds; 0 when finer
    # than a microsecond). Simulated timestamps are cut to it, as the source's clock cut the real ones:
    # think times of 0, 1, 2 s stay whole seconds (format 3).
    time_resolution_s: float = 0.0

    # ---- the runtime contract (docs/architecture.md) ----------------------------------------------
    @cached_property
    def compiled(self) -> CompiledModel:
        return CompiledModel(self)

    def sample_user(self, rng: np.random.Generator) -> tuple[int, int]:
        """(class index, number of sessions) for a new simulated user."""
        return self.compiled.sample_user(rng)

    def sample_session(self, class_index: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
        """Actions of one session and the think seconds before each action after the first."""
        return self.compiled.sample_session(class_index, rng)

    def sample_session_gap(self, class_index: int, rng: np.random.Generator,
                           after: float | dt.datetime | None = None) -> float:
        """Seconds from the end of a user's session to the start of the next.

        ``after`` is when that session ended (epoch seconds, or a datetime): the gap then lands the next
        session by the arrival profile, exactly as :func:`tracereplay.model.simulate` schedules it.
        Without it the gap is the fitted law's draw, on a clock running at the mean rate.
        """
        if isinstance(after, dt.datetime):
            after = (after if after.tzinfo is not None else after.replace(tzinfo=dt.UTC)).timestamp()
        return self.compiled.sample_session_gap(class_index, rng, after)

    def arrival_rate(self, when: dt.datetime) -> float:
        """Session starts per second fitted for the hour (of day, or of week) of ``when`` (UTC if naive)."""
        return float(self.arrivals.rate[self.arrivals.bin_of(when)])

    @property
    def mean_arrival_rate(self) -> float:
        """Session starts per second averaged over the fitted profile."""
        return self.arrivals.mean_rate

    def path_examples(self, action: str) -> list[str]:
        """Concrete paths seen for ``action`` (a small bounded sample; empty if none or unknown)."""
        index = self.compiled.action_index.get(action)
        return list(self.action_stats[index].paths) if index is not None else []

    # ---- convenience -----------------------------------------------------------------------------
    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def class_shares(self) -> np.ndarray:
        return np.array([c.share for c in self.classes])

    def save(self, path: str | Path) -> Path:
        """Write the model to exactly ``path`` (one versioned JSON file, written atomically)."""
        return save_model(self, path)

    def to_dict(self) -> dict[str, Any]:
        return model_to_dict(self)

    def transition_matrix(self, class_index: int = 0) -> pd.DataFrame:
        """Transition probabilities of one class (rows: START + actions; columns: actions + EXIT)."""
        return transition_matrix(self, class_index)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Everything in the model as pandas tables, for notebooks (see :mod:`tracereplay.model.frames`)."""
        return model_frames(self)
