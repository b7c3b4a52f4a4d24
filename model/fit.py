"""Fit a :class:`BehaviourModel` from an event table.

Steps, each vectorised over events: drop actions rarer than the user's threshold; reshape into sessions
(:mod:`.prepare`); cluster users into classes (:mod:`.classes`); per class, count starts and transitions
(with EXIT), fit think times per transition with back-off, sessions per user and the gap between a
user's sessions; per action, error rate, server duration and a few concrete paths; arrivals per hour.
User keys are only ever used as integer codes here: none reaches the model.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from tracereplay.checked import series
from tracereplay.errors import ConfigError
from tracereplay.model.behaviour import ActionStats, ArrivalProfile, BehaviourModel, UserClass
from tracereplay.model.distributions import Duration, Family, fit_duration
from tracereplay.model.encode import THINK_BACKOFFS
from tracereplay.model.gaps import choose_clock, clock_gaps
from tracereplay.model.kinds import action_kind
from tracereplay.model.prepare import NS_PER_S, SessionArrays, session_arrays
from tracereplay.model.shape import fit_shapes

# Relative, as population.py imports FitSettings back from here: one class for pyright (see behaviour.py).
from .population import classify


@dataclass(frozen=True, kw_only=True)
class FitSettings:
    """How :func:`fit` fits. Every field can be passed to ``fit(events, **settings)``."""

    session_gap_s: float = 1800.0       # think gaps longer than this are not think time
    min_action_count: int = 1           # actions seen fewer times are dropped before fitting (1 keeps all)
    min_cell_samples: int = 30          # fewer think samples in a cell → back off to the coarser level
    min_cell_sessions: int = 5          # … or think samples from fewer sessions than this
    max_classes: int = 8                # upper bound for the BIC choice of the number of classes
    classes: int | None = None          # a fixed number of classes instead of the BIC choice
    min_class_share: float = 0.01       # classes with fewer users than this share are merged away
    sticky_threshold: float = 0.9       # users keep one class when this share of sessions agrees (population)
    selection_units: int = 4000         # users used to choose the number of classes (all refine it)
    restarts: int = 4                   # EM starts per candidate number of classes
    path_examples: int = 8              # concrete paths kept per action
    weekly_after_days: float = 14.0     # arrivals by hour of week when the data spans this long
    ks_tolerance: float = 0.01          # a family whose KS distance is below this fits (see distributions)
    think_backoff: str = "auto"         # thin transition cells back off to the "previous" or "next" action
    seed: int = 0                       # for the subsample and EM starts: the same data gives the same model

    def validate(self) -> None:
        problems = []
        if self.session_gap_s <= 0:
            problems.append("session_gap_s must be positive")
        if self.min_action_count < 1:
            problems.append("min_action_count must be at least 1")
        if self.min_cell_samples < 2:
            problems.append("min_cell_samples must be at least 2")
        if self.min_cell_sessions < 1:
            problems.append("min_cell_sessions must be at least 1")
        if self.max_classes < 1:
            problems.append("max_classes must be at least 1")
        if self.classes is not None and self.classes < 1:
            problems.append("classes must be at least 1")
        if not 0 <= self.sticky_threshold <= 1:
            problems.append("sticky_threshold must be in [0, 1]")
        if not 0 <= self.min_class_share < 0.5:
            problems.append("min_class_share must be in [0, 0.5)")
        if self.selection_units < 10:
            problems.append("selection_units must be at least 10")
        if self.restarts < 1:
            problems.append("restarts must be at least 1")
        if self.path_examples < 0:
            problems.append("path_examples must be non-negative")
        if not 0 < self.ks_tolerance < 1:
            problems.append("ks_tolerance must be in (0, 1)")
        if self.think_backoff not in ("auto", *THINK_BACKOFFS):
            problems.append(f"think_backoff must be one of auto, {', '.join(THINK_BACKOFFS)}")
        if problems:
            raise ConfigError(problems)


def fit(events: pd.DataFrame, **settings: Any) -> BehaviourModel:
    """Fit a behaviour model from an event table (columns of ``tracereplay.ingest.events``).

    >>> model = fit(read_events("events.parquet"), max_classes=4)     # doctest: +SKIP
    """
    unknown = sorted(set(settings) - set(FitSettings.__dataclass_fields__))
    if unknown:
        raise ConfigError([f"unknown fit setting {name!r}" for name in unknown])
    config = FitSettings(**settings)
    config.validate()
    events = _keep_frequent_actions(events, config.min_action_count)
    arrays = session_arrays(events, session_gap_s=config.session_gap_s)
    rng = np.random.default_rng(config.seed)

    classes_of = classify(arrays, config, rng)
    user_class = classes_of.user_class
    event_class = classes_of.session_class[arrays.session]
    previous = arrays.previous_action
    think_global = fit_duration(arrays.think_s, ks_tolerance=config.ks_tolerance)
    arrivals = _arrivals(arrays, config)
    gap_end, gap_start = arrays.session_gap_bounds_ns()
    gap_hour = (gap_end // (3600 * NS_PER_S)) % 24
    global_clock = choose_clock(gap_end, gap_start, gap_hour, arrivals)
    gap_global = fit_duration(clock_gaps(gap_end, gap_start, arrivals, global_clock),
                              ks_tolerance=config.ks_tolerance)
    gap_class = _gap_class(arrays, user_class)

    a = len(arrays.actions)
    classes = []
    spu_all = np.bincount(arrays.session_user, minlength=arrays.n_users)
    for c in range(classes_of.k):
        users_c = np.flatnonzero(user_class == c)
        start_counts, transition_counts = classes_of.class_counts(c, a)
        spu = spu_all[users_c]
        values, counts = np.unique(spu[spu > 0], return_counts=True)
        if len(values) == 0:             # a kind of session that is no user's main kind
            values, counts = np.array([1]), np.array([0])
        think_levels = _think_levels(arrays, previous, event_class == c, config)
        mine = gap_class == c
        hour_c = gap_hour[mine]
        clock_c = choose_clock(gap_end[mine], gap_start[mine], hour_c, arrivals, default=global_clock)
        gap_c = clock_gaps(gap_end[mine], gap_start[mine], arrivals, clock_c)
        class_gap = (fit_duration(gap_c, ks_tolerance=config.ks_tolerance)
                     if len(gap_c) >= config.min_cell_samples else None)
        classes.append(UserClass(
            name=f"class-{c + 1}",
            share=len(users_c) / max(len(user_class), 1),
            users=len(users_c),
            sessions=int((classes_of.session_class == c).sum()),
            start_counts=start_counts,
            transition_counts=transition_counts,
            sessions_per_user=(values.astype(np.int64), counts.astype(np.int64)),
            session_gap=class_gap,
            session_gap_by_hour=_hour_gaps(hour_c, gap_c, class_gap, config),
            session_gap_clock=clock_c if class_gap is not None else None,
            think=think_levels[0],
            think_action=think_levels[1],
            think_transition=think_levels[2],
            think_backoff=think_levels[3],
            think_kind=think_levels[4],
        ))
    model = BehaviourModel(
        actions=list(arrays.actions),
        action_stats=_action_stats(events, arrays, config),
        classes=classes,
        think=think_global,
        session_gap=gap_global,
        arrivals=arrivals,
        max_session_actions=int(max(100, 4 * arrays.session_length.max())),
        source=_source(arrays),
        settings=asdict(config),
        sticky_share=classes_of.sticky_share,
        class_mix=classes_of.class_mix,
        session_gap_clock=global_clock,
        time_resolution_s=_time_resolution(arrays.ts_ns),
    )
    # The session tempo is measured under the laws the sampler draws from (after back-off), so it needs them.
    shapes = fit_shapes(arrays, classes_of.session_class, model, rng)
    return replace(model, classes=[replace(cls, shape=shape) for cls, shape in zip(classes, shapes,
                                                                                      strict=True)])


def _time_resolution(ts_ns: np.ndarray) -> float:
    """The coarsest of 1 s, 1 ms, 1 µs that every timestamp is a whole multiple of (0: finer)."""
    for step_ns in (NS_PER_S, 1_000_000, 1_000):
        if not np.any(ts_ns % step_ns):
            return step_ns / NS_PER_S
    return 0.0


def _keep_frequent_actions(events: pd.DataFrame, min_count: int) -> pd.DataFrame:
    if len(events) == 0:
        raise ConfigError("the event table has no rows: nothing to fit")
    if min_count <= 1:
        return events
    counts = series(events["action"]).value_counts()
    keep = counts.index[(counts >= min_count).to_numpy()]
    if len(keep) == 0:
        raise ConfigError(f"no action is seen at least {min_count} times (min_action_count)")
    return events.loc[series(events["action"]).isin(keep.tolist())]


def _gap_class(arrays: SessionArrays, user_class: np.ndarray) -> np.ndarray:
    order = np.lexsort((arrays.session_start_ns, arrays.session_user))
    user = arrays.session_user[order]
    return user_class[user[1:][user[1:] == user[:-1]]]


def _hour_gaps(hour: np.ndarray, gaps: np.ndarray, pooled: Duration | None, config: FitSettings
               ) -> dict[int, Duration]:
    """A class's gap law per hour the session ended. The hours' laws are sampled together, as one law, so
    each must fit at the pooled gaps' noise level; at that bar an hour (a slice of the pooled gaps) is
    not simpler than the pool, so the families the pooled law failed are not tried again (they cost ~2 s
    of EM per 1 M events and, on every data set we fit, failed the hours too)."""
    if pooled is None:
        return {}
    return _fit_groups(hour, gaps, config.min_cell_samples, config.ks_tolerance, noise_n=len(gaps),
                       first=pooled.family)


def _think_levels(arrays: SessionArrays, previous: np.ndarray, in_class: np.ndarray, config: FitSettings
                  ) -> tuple[Duration | None, dict[int, Duration], dict[tuple[int, int], Duration], str,
                             dict[str, Duration]]:
    """Think distributions of one class at the class, action and transition levels, and which side's
    action (previous or next) the action level is keyed by."""
    mask = in_class & np.isfinite(arrays.think_s) & (previous >= 0)
    think = arrays.think_s[mask]
    prev = previous[mask].astype(np.int64)
    act = arrays.action[mask].astype(np.int64)
    minimum, tol = config.min_cell_samples, config.ks_tolerance
    class_level = fit_duration(think, ks_tolerance=tol) if len(think) >= minimum else None
    a = len(arrays.actions)
    # A cell's law must speak for several sessions: thirty clicks of one session are that session's
    # tempo, not the cell's (on a real web log most cells are a heavy user's single session).
    session = arrays.session[mask]
    pair = _if_sessions(prev * a + act, session, config.min_cell_sessions)
    by_pair = _fit_groups(pair, think, minimum, tol)
    by_transition = {divmod(key, a): dist for key, dist in by_pair.items()}
    thin = pair < 0
    # Backing off by the next action, actions without a law of their own get their kind's (a rarely seen
    # page the think before a page, not the class's image-heavy pool); by the previous one, the kind of
    # what was fetched says little of what comes next (on the shared Apache log it cost per-session
    # median think 1.23× → 1.47× its floor), so that side goes straight to the class.
    kinds = _kind_codes(act, arrays.actions, session, config.min_cell_sessions)
    keys = {"previous": _if_sessions(prev, session, config.min_cell_sessions),
            "next": _if_sessions(act, session, config.min_cell_sessions)}
    side = config.think_backoff
    if side == "auto":
        side = _backoff_side(think[thin], keys["previous"][thin],
                             _fallback(keys["next"][thin], a + kinds[thin], minimum), minimum)
    by_action = _fit_groups(keys[side], think, minimum, tol)
    by_kind = {} if side == "previous" else _kind_levels(kinds, think, arrays.actions, config)
    return class_level, by_action, by_transition, side, by_kind


def _kind_codes(action: np.ndarray, names: list[str], session: np.ndarray, min_sessions: int) -> np.ndarray:
    """Per think, the code of its action's kind (model/kinds.py); -1 for a kind of too few sessions."""
    _, kind_of_action = np.unique([action_kind(n) for n in names], return_inverse=True)
    return _if_sessions(kind_of_action[action].astype(np.int64), session, min_sessions)


def _kind_levels(kinds: np.ndarray, think: np.ndarray, names: list[str], config: FitSettings
                 ) -> dict[str, Duration]:
    """Think laws by the next action's kind, when a class holds more than one kind (with one, the kind's
    law is the class's)."""
    kind_names = np.unique([action_kind(n) for n in names])
    if len(np.unique(kinds[kinds >= 0])) < 2:
        return {}
    fitted = _fit_groups(kinds, think, config.min_cell_samples, config.ks_tolerance)
    return {str(kind_names[k]): dist for k, dist in fitted.items()}


def _fallback(key: np.ndarray, coarser: np.ndarray, minimum: int) -> np.ndarray:
    """``key`` where its group has ≥ ``minimum`` members, else ``coarser`` (-1 stays -1)."""
    _, code, counts = np.unique(key, return_inverse=True, return_counts=True)
    rich = (key >= 0) & (counts[code] >= minimum)
    return np.where(rich, key, np.where(coarser >= 0, coarser, -1))


def _backoff_side(think: np.ndarray, previous: np.ndarray, following: np.ndarray, minimum: int) -> str:
    """Whether the thin cells' think times are better told by the previous action or by the next one
    (or its kind): the smaller penalised within-group sum of squares of ``log(think + 0.5 s)`` (zeros
    included: a same-second image fetch and a minute's reading differ most there), groups of ≥
    ``minimum`` thinks, each group charged twice the pooled variance (AIC: a group fitted on its own
    thinks always explains some of them)."""
    if len(think) < 2 * minimum:
        return "previous"
    y = np.log(np.maximum(think, 0.0) + 0.5)
    variance = float(y.var())
    cost = {side: _within_squares(y, key, minimum) for side, key in (("previous", previous),
                                                                       ("next", following))}
    penalised = {side: rss + 2.0 * variance * groups for side, (rss, groups) in cost.items()}
    return "next" if penalised["next"] < penalised["previous"] else "previous"


def _within_squares(y: np.ndarray, key: np.ndarray, minimum: int) -> tuple[float, int]:
    """Sum of squares of ``y`` around its group means (groups: ``key`` values with ≥ ``minimum`` members;
    the rest share one mean), and the number of groups."""
    _, code, counts = np.unique(key, return_inverse=True, return_counts=True)
    small = (counts[code] < minimum) | (key < 0)
    code = np.where(small, -1, code) + 1                         # 0: everything backing off further
    sums = np.bincount(code, weights=y)
    n = np.bincount(code)
    means = np.divide(sums, n, out=np.zeros_like(sums), where=n > 0)
    return float(((y - means[code]) ** 2).sum()), int((n[1:] > 0).sum())


def _if_sessions(key: np.ndarray, session: np.ndarray, minimum: int) -> np.ndarray:
    """``key``, or -1 where fewer than ``minimum`` distinct sessions share it (such cells are not fitted)."""
    if minimum <= 1 or len(key) == 0:
        return key
    span = int(session.max()) + 1
    pairs = np.unique(key.astype(np.int64) * span + session)          # distinct (key, session), sorted
    keys, sessions = np.unique(pairs // span, return_counts=True)
    rich = keys[sessions >= minimum]
    return np.where(np.isin(key, rich, assume_unique=False), key, -1)


def _fit_groups(key: np.ndarray, values: np.ndarray, minimum: int, tol: float, *, noise_n: int | None = None,
                first: Family = Family.LOGNORMAL) -> dict[int, Duration]:
    """One fitted distribution per key with at least ``minimum`` values (a loop over keys, not values)."""
    order = np.argsort(key, kind="stable")
    keys, starts, counts = np.unique(key[order], return_index=True, return_counts=True)
    ordered = values[order]
    fitted: dict[int, Duration] = {}
    for k, s, n in zip(keys.tolist(), starts.tolist(), counts.tolist(), strict=True):
        if n >= minimum and k >= 0:
            dist = fit_duration(ordered[s : s + n], ks_tolerance=tol, noise_n=noise_n, first=first)
            if dist is not None:
                fitted[k] = dist
    return fitted


def _action_stats(events: pd.DataFrame, arrays: SessionArrays, config: FitSettings) -> list[ActionStats]:
    # factorize numbers actions in order of first appearance, exactly as session_arrays did.
    code, names = pd.factorize(events["action"], use_na_sentinel=False)
    assert [str(n) for n in names] == arrays.actions
    code = code.astype(np.int64)
    a = len(arrays.actions)
    counts = np.bincount(code, minlength=a)
    error = (events["error"].fillna(False).to_numpy(dtype=bool) if "error" in events
             else np.zeros(len(code), dtype=bool))
    errors = np.bincount(code, weights=error, minlength=a)
    duration = events.get("duration_ms")
    seconds = (series(pd.to_numeric(duration, errors="coerce")).to_numpy(dtype=np.float64, na_value=np.nan)
               / 1000.0 if duration is not None else None)
    everything = np.ones(len(code), dtype=bool)
    modes = {col: _mode_by_action(events, code, col, everything, a) for col in ("method", "route")}
    ok_status = _mode_by_action(events, code, "status", ~error, a)
    err_status = _mode_by_action(events, code, "status", error, a)
    paths = _top_paths(events, code, config.path_examples, a)
    stats = []
    order = np.argsort(code, kind="stable")
    bounds = np.r_[0, np.cumsum(counts)]
    for i, name in enumerate(arrays.actions):
        durations = seconds[order[bounds[i] : bounds[i + 1]]] if seconds is not None else np.zeros(0)
        stats.append(ActionStats(
            name=name,
            count=int(counts[i]),
            error_rate=float(errors[i] / counts[i]) if counts[i] else 0.0,
            duration=fit_duration(durations, ks_tolerance=config.ks_tolerance),
            method=modes["method"].get(i),
            route=modes["route"].get(i),
            ok_status=_int_or_none(ok_status.get(i)),  # None when the events have no status
            error_status=_int_or_none(err_status.get(i)),
            paths=tuple(paths.get(i, ())),
        ))
    return stats


def _mode_by_action(events: pd.DataFrame, code: np.ndarray, column: str, rows: np.ndarray,
                    n_actions: int) -> dict[int, Any]:
    """Most common value of ``column`` per action code, over ``rows`` (NA ignored)."""
    if column not in events or not rows.any():
        return {}
    values, uniques = pd.factorize(events[column])
    keep = rows & (values >= 0)
    if not keep.any():
        return {}
    counts = np.bincount(code[keep] * len(uniques) + values[keep], minlength=n_actions * len(uniques))
    counts = counts.reshape(n_actions, len(uniques))
    best = counts.argmax(axis=1)
    return {i: uniques[best[i]] for i in np.flatnonzero(counts.max(axis=1) > 0).tolist()}


def _top_paths(events: pd.DataFrame, code: np.ndarray, limit: int, n_actions: int) -> dict[int, list[str]]:
    """The ``limit`` most frequent concrete paths of each action (ties by name), vectorised."""
    if limit == 0 or "path" not in events:
        return {}
    values, uniques = pd.factorize(events["path"])
    keep = values >= 0
    if not keep.any():
        return {}
    pairs, counts = np.unique(code[keep].astype(np.int64) * len(uniques) + values[keep], return_counts=True)
    action, path = np.divmod(pairs, len(uniques))
    names = np.asarray(uniques, dtype=object)[path]
    order = np.lexsort((names.astype(str), -counts, action))
    action, names = action[order], names[order]
    rank = np.arange(len(action)) - np.searchsorted(action, action, side="left")
    chosen = rank < limit
    out: dict[int, list[str]] = {}
    for a, p in zip(action[chosen].tolist(), names[chosen].tolist(), strict=True):
        out.setdefault(a, []).append(str(p))
    return out


def _int_or_none(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _arrivals(arrays: SessionArrays, config: FitSettings) -> ArrivalProfile:
    """Session starts per second by hour of day (or week), over the hours the data actually covers."""
    first, last = int(arrays.ts_ns.min()), int(arrays.ts_ns.max())
    weekly = (last - first) / NS_PER_S >= config.weekly_after_days * 86400
    bins = 168 if weekly else 24
    hour_ns = 3600 * NS_PER_S
    hours = np.arange(first // hour_ns, last // hour_ns + 1, dtype=np.int64)
    covered = (np.minimum((hours + 1) * hour_ns, last + 1) - np.maximum(hours * hour_ns, first)) / NS_PER_S
    exposure = np.bincount(_bin(hours, weekly), weights=covered, minlength=bins)
    starts = np.bincount(_bin(arrays.session_start_ns // hour_ns, weekly), minlength=bins)
    observed = exposure > 0
    overall = starts.sum() / max(exposure.sum(), 1e-9)
    rate = np.where(observed, starts / np.maximum(exposure, 1e-9), overall)
    return ArrivalProfile(rate=rate, observed=observed)


def _bin(hours_since_epoch: np.ndarray, weekly: bool) -> np.ndarray:
    hour_of_day = hours_since_epoch % 24
    if not weekly:
        return hour_of_day
    weekday = (hours_since_epoch // 24 + 3) % 7        # 1970-01-01 was a Thursday (Monday = 0)
    return weekday * 24 + hour_of_day


def _source(arrays: SessionArrays) -> dict[str, Any]:
    start = dt.datetime.fromtimestamp(int(arrays.ts_ns.min()) / NS_PER_S, dt.UTC)
    end = dt.datetime.fromtimestamp(int(arrays.ts_ns.max()) / NS_PER_S, dt.UTC)
    first_start = np.full(arrays.n_users, np.iinfo(np.int64).max)
    np.minimum.at(first_start, arrays.session_user, arrays.session_start_ns)
    first_start = first_start[first_start < np.iinfo(np.int64).max]
    return {
        "events": len(arrays.action),
        "sessions": arrays.n_sessions,
        "users": len(np.unique(arrays.session_user)),
        "actions": len(arrays.actions),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "span_s": (end - start).total_seconds(),
        # Over how long the users' first sessions began: simulate spreads its users' starts over this.
        "first_sessions_span_s": float(first_start.max() - first_start.min()) / NS_PER_S,
    }
