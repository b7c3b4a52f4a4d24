"""A hand-written stochastic behaviour in TOML: weighted next actions and think-time laws per action.

What Locust's weighted tasks and ``MarkovTaskSet`` give, without faking traces to fit: a small Markov chain
written by hand, run by ``tracereplay run FILE.toml`` as a fitted model is (it is a ``SessionSource``), and
checked the way a model file is — every problem at once, naming the file and the field::

    [behaviour]
    start = { "POST /login" = 1 }                  # the first action of a session, weighted
    sessions = { min = 1, max = 4 }                # sessions per user (or a whole number)
    session_gap = { law = "exponential", mean = "20s" }
    arrival_rate = 0.5                             # sessions/s for an open run's --arrival-scale (optional)
    max_actions = 100                              # a session ends after this many actions at most

    [actions."POST /login"]
    next = { "GET /sync" = 3, "PUT /send" = 1 }    # weights, not necessarily summing to 1

    [actions."GET /sync"]
    think = { law = "lognormal", median = "2s", sigma = 0.5 }   # the pause before this action
    next = { "GET /sync" = 2, "PUT /send" = 1, end = 1 }        # "end" ends the session

Think-time laws (``think`` and ``session_gap``): a duration (``"1s"``, fixed), or a table with ``law`` one of
``fixed`` (``value``), ``uniform`` (``min``, ``max``), ``exponential`` (``mean``), ``lognormal`` (``median``,
``sigma`` the log's standard deviation). An action without ``next`` ends the session.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from tracereplay.durations import parse_duration
from tracereplay.errors import ConfigError, InputError

END = "end"
#: The laws a think time or a session gap may follow, and their parameters.
LAWS: dict[str, tuple[str, ...]] = {
    "fixed": ("value",),
    "uniform": ("min", "max"),
    "exponential": ("mean",),
    "lognormal": ("median", "sigma"),
}
_SECONDS = {"value", "min", "max", "mean", "median"}  # durations; sigma is a plain number


@dataclass(frozen=True, slots=True)
class Law:
    """A distribution of seconds."""

    name: str
    params: tuple[float, ...]

    def sample(self, rng: np.random.Generator) -> float:
        p = self.params
        if self.name == "fixed":
            return p[0]
        if self.name == "uniform":
            return float(rng.uniform(p[0], p[1]))
        if self.name == "exponential":
            return float(rng.exponential(p[0]))
        return float(p[0] * np.exp(p[1] * rng.standard_normal()))  # lognormal: median × e^(σ·N(0,1))


@dataclass(frozen=True, slots=True)
class Node:
    """One action: the pause before it, and where a session goes next (``END`` ends it)."""

    think: Law
    next_names: tuple[str, ...]
    next_weights: np.ndarray  # normalised to 1

    def following(self, rng: np.random.Generator) -> str:
        if not self.next_names:
            return END
        return self.next_names[int(rng.choice(len(self.next_names), p=self.next_weights))]


class Behaviour:
    """A hand-written behaviour: the :class:`SessionSource` protocol over a small Markov chain."""

    def __init__(
        self,
        *,
        nodes: dict[str, Node],
        start: tuple[tuple[str, ...], np.ndarray],
        sessions: tuple[int, int],
        session_gap: Law,
        arrival_rate: float,
        max_actions: int,
        path: str | None = None,
    ) -> None:
        self.nodes = nodes
        self.start = start
        self.sessions = sessions
        self.session_gap = session_gap
        self.rate = arrival_rate
        self.max_actions = max_actions
        self.path = path

    @property
    def actions(self) -> list[str]:
        return list(self.nodes)

    def sample_user(self, rng: np.random.Generator) -> tuple[int, int]:
        low, high = self.sessions
        return 0, int(rng.integers(low, high + 1))

    def sample_session(self, class_index: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
        names, weights = self.start
        action = names[int(rng.choice(len(names), p=weights))]
        actions, think = [action], []
        while len(actions) < self.max_actions:
            action = self.nodes[action].following(rng)
            if action == END:
                break
            actions.append(action)
            think.append(self.nodes[action].think.sample(rng))
        return actions, np.asarray(think, float)

    def sample_session_gap(
        self, class_index: int, rng: np.random.Generator, after: float | None = None
    ) -> float:
        return self.session_gap.sample(rng)

    def arrival_rate(self, when: datetime) -> float:
        return self.rate

    @property
    def mean_arrival_rate(self) -> float:
        return self.rate

    def path_examples(self, action: str) -> list[str]:
        return []


def is_behaviour(path: str | Path) -> bool:
    """A ``.toml`` file with a ``[behaviour]`` table (else it is a simple script)."""
    try:
        return "behaviour" in tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False  # the script reader reports what is wrong with it


def load_behaviour(path: str | Path) -> Behaviour:
    """Read and check a behaviour file: ``InputError`` when unreadable, ``ConfigError`` with every problem."""
    source = Path(path)
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(source, f"cannot be read ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(source, f"not valid TOML ({str(exc).splitlines()[0]})") from None
    problems: list[str] = []
    head = raw.get("behaviour")
    table = raw.get("actions")
    if not isinstance(head, dict):
        problems.append("[behaviour] must be a table")
        head = {}
    if not isinstance(table, dict) or not table:
        problems.append("[actions] must name at least one action")
        table = {}
    known = set(table)
    nodes: dict[str, Node] = {}
    for name, spec in table.items():
        where = f"actions.{name!r}"
        if not isinstance(spec, dict):
            problems.append(f"{where} must be a table")
            continue
        think = _law(spec.get("think", 0), f"{where}.think", problems)
        names, weights = _weights(spec.get("next", {}), f"{where}.next", known | {END}, problems)
        for key in set(spec) - {"think", "next"}:
            problems.append(f"{where}: unknown key {key!r} (think, next)")
        nodes[name] = Node(think, names, weights)
    start = _weights(head.get("start"), "behaviour.start", known, problems, required=True)
    sessions = _sessions(head.get("sessions", 1), problems)
    gap = _law(head.get("session_gap", 0), "behaviour.session_gap", problems)
    rate = head.get("arrival_rate", 0.0)
    if not isinstance(rate, int | float) or isinstance(rate, bool) or rate < 0:
        problems.append(f"behaviour.arrival_rate must be a number of sessions/s ≥ 0, not {rate!r}")
        rate = 0.0
    max_actions = head.get("max_actions", 100)
    if not isinstance(max_actions, int) or isinstance(max_actions, bool) or max_actions < 1:
        problems.append(f"behaviour.max_actions must be a whole number ≥ 1, not {max_actions!r}")
        max_actions = 100
    for key in set(head) - {"start", "sessions", "session_gap", "arrival_rate", "max_actions"}:
        problems.append(f"behaviour: unknown key {key!r}")
    if not problems:
        problems += _unreachable(nodes, start[0])
    if problems:
        raise ConfigError([f"{source}: {p}" for p in problems])
    return Behaviour(
        nodes=nodes,
        start=start,
        sessions=sessions,
        session_gap=gap,
        arrival_rate=float(rate),
        max_actions=max_actions,
        path=str(source),
    )


def _law(value: Any, where: str, problems: list[str]) -> Law:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        seconds = _seconds(value, where, problems)
        return Law("fixed", (seconds,))
    if not isinstance(value, dict) or value.get("law") not in LAWS:
        problems.append(f"{where} must be a duration or a table with law = one of {', '.join(LAWS)}")
        return Law("fixed", (0.0,))
    name = value["law"]
    wanted = LAWS[name]
    extra = set(value) - {"law", *wanted}
    missing = [k for k in wanted if k not in value]
    if missing or extra:
        unknown = f", not {', '.join(sorted(extra))}" if extra else ""
        problems.append(f"{where}: law {name!r} takes {', '.join(wanted)}{unknown}")
        return Law("fixed", (0.0,))
    params = []
    for key in wanted:
        if key in _SECONDS:
            params.append(_seconds(value[key], f"{where}.{key}", problems))
        else:
            number = value[key]
            if not isinstance(number, int | float) or isinstance(number, bool) or number < 0:
                problems.append(f"{where}.{key} must be a number ≥ 0, not {number!r}")
                number = 0.0
            params.append(float(number))
    if name == "uniform" and params[0] > params[1]:
        problems.append(f"{where}: min is above max")
    return Law(name, tuple(params))


def _seconds(value: Any, where: str, problems: list[str]) -> float:
    try:
        return parse_duration(value)
    except (ConfigError, TypeError, AttributeError):
        problems.append(f"{where}: cannot read duration {value!r}")
        return 0.0


def _weights(
    value: Any, where: str, known: set[str], problems: list[str], *, required: bool = False
) -> tuple[tuple[str, ...], np.ndarray]:
    if value is None and not required:
        value = {}
    if not isinstance(value, dict) or (required and not value):
        problems.append(f"{where} must be a table of action = weight")
        return (), np.empty(0)
    names, weights = [], []
    for name, weight in value.items():
        if name not in known:
            problems.append(f"{where}: {name!r} is not an action of [actions]")
        elif not isinstance(weight, int | float) or isinstance(weight, bool) or weight < 0:
            problems.append(f"{where}.{name!r}: weight must be a number ≥ 0, not {weight!r}")
        elif weight > 0:
            names.append(name)
            weights.append(float(weight))
    if value and not names and not any(n not in known for n in value):
        problems.append(f"{where}: every weight is 0")
    total = sum(weights)
    return tuple(names), np.asarray(weights) / total if total else np.empty(0)


def _sessions(value: Any, problems: list[str]) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value, value
    if isinstance(value, dict) and set(value) == {"min", "max"}:
        low, high = value["min"], value["max"]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) and 1 <= low <= high:
            return low, high
    problems.append(
        f"behaviour.sessions must be a whole number ≥ 1 or {{min, max}} with 1 ≤ min ≤ max, not {value!r}"
    )
    return 1, 1


def _unreachable(nodes: dict[str, Node], start: tuple[str, ...]) -> list[str]:
    """Actions no session can reach (a typo in a ``next`` table, most likely), and loops with no way out."""
    seen, stack = set(start), list(start)
    while stack:
        for following in nodes[stack.pop()].next_names:
            if following != END and following not in seen:
                seen.add(following)
                stack.append(following)
    problems = [f"actions.{n!r} is never reached from behaviour.start" for n in nodes if n not in seen]
    # a session must be able to end: from every reached action, some path leads to "end" (or no next)
    ends = {n for n in seen if not nodes[n].next_names or END in nodes[n].next_names}
    changed = True
    while changed:
        changed = False
        for name in seen - ends:
            if any(f in ends for f in nodes[name].next_names):
                ends.add(name)
                changed = True
    for name in sorted(seen - ends):
        problems.append(f"actions.{name!r}: no session that reaches it can end (add end to a next table)")
    return problems
