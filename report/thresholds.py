"""Pass/fail thresholds: ``p99_ms<500``, ``error_rate<0.01``, ``'POST /api/v4/posts:p95_ms<200'``.

Delivery metrics (``delivery_p99_ms<250``, ``'posted:delivery_p95_ms<100'``) read the websocket summary:
the part before ``:`` is then the receiving event type, and without it the figure over all types.

Grammar: ``[ACTION:]METRIC OP NUMBER`` with OP one of ``<  <=  >  >=`` and METRIC one of
:data:`METRICS`. Without an action the threshold applies to the run's total. The action is everything
before the last ``:``, so analytics event names containing ``:`` work too.

A threshold on an action the run never performed, or on a figure with no data (a percentile of zero
samples), *fails*: a CI gate must not pass because nothing was measured.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tracereplay.errors import ConfigError
from tracereplay.report.summary import COUNT_KEYS, LATENCY_KEYS, Summary
from tracereplay.report.websocket import DELIVERY_METRICS

METRICS: tuple[str, ...] = (*COUNT_KEYS, *LATENCY_KEYS, *DELIVERY_METRICS)
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_EXPRESSION = re.compile(
    r"^\s*(?:(?P<action>.+):)?\s*(?P<metric>[a-z0-9_]+)\s*(?P<op><=|>=|<|>)\s*(?P<value>[-+]?[0-9.]+(?:e[-+]?\d+)?)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, kw_only=True)
class Threshold:
    """One parsed threshold expression."""

    expression: str
    action: str | None  # None: the run's total
    metric: str
    op: str
    limit: float


@dataclass(frozen=True, kw_only=True)
class ThresholdResult:
    threshold: Threshold
    actual: float | None
    passed: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        t = self.threshold
        return {
            "expression": t.expression,
            "action": t.action,
            "metric": t.metric,
            "op": t.op,
            "limit": t.limit,
            "actual": self.actual,
            "passed": self.passed,
            "note": self.note,
        }


def parse_threshold(expression: str) -> Threshold:
    """Parse one expression; a malformed one raises :class:`ConfigError` naming it."""
    match = _EXPRESSION.match(expression)
    if not match:
        raise ConfigError(
            f"threshold {expression!r} is not [ACTION:]METRIC OP NUMBER"
            " (e.g. p99_ms<500, 'GET /a:error_rate<0.01')"
        )
    metric = match["metric"].lower()
    if metric not in METRICS:
        raise ConfigError(
            f"threshold {expression!r}: unknown metric {metric!r} (one of {', '.join(METRICS)})"
        )
    try:
        limit = float(match["value"])
    except ValueError:
        raise ConfigError(f"threshold {expression!r}: {match['value']!r} is not a number") from None
    action = match["action"].strip() if match["action"] else None
    return Threshold(expression=expression, action=action, metric=metric, op=match["op"], limit=limit)


def parse_thresholds(expressions: Iterable[str]) -> list[Threshold]:
    """Parse every expression, reporting all malformed ones at once."""
    parsed, problems = [], []
    for expression in expressions:
        try:
            parsed.append(parse_threshold(expression))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return parsed


def check_thresholds(summary: Summary, thresholds: Iterable[Threshold | str]) -> list[ThresholdResult]:
    """Evaluate each threshold against ``summary``."""
    actions = summary.actions.set_index("action")
    results = []
    for threshold in thresholds:
        t = parse_threshold(threshold) if isinstance(threshold, str) else threshold
        if t.metric in DELIVERY_METRICS:
            results.append(_delivery(summary, t))
            continue
        polls = summary.long_polls.set_index("action") if summary.long_polls is not None else None
        if t.action is None:
            value = summary.total.get(t.metric)
        elif t.action in actions.index:
            value = actions.loc[t.action, t.metric]
        elif polls is not None and t.action in polls.index:  # a long-poll gated by name: asked for
            value = polls.loc[t.action, t.metric]
        else:
            results.append(
                ThresholdResult(threshold=t, actual=None, passed=False, note="action not in this run")
            )
            continue
        actual = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
        if actual is None:
            results.append(ThresholdResult(threshold=t, actual=None, passed=False, note="no data"))
        else:
            results.append(
                ThresholdResult(threshold=t, actual=actual, passed=OPERATORS[t.op](actual, t.limit))
            )
    return results


def _delivery(summary: Summary, t: Threshold) -> ThresholdResult:
    """A delivery threshold: fails when the run had no websockets or no delivery of that type."""
    figures = summary.websocket.delivery(t.action) if summary.websocket is not None else None
    if figures is None:
        note = "no websocket deliveries" if t.action is None else "no deliveries of that event type"
        return ThresholdResult(threshold=t, actual=None, passed=False, note=note)
    value = figures.get(t.metric.removeprefix("delivery_"))
    if value is None:
        return ThresholdResult(threshold=t, actual=None, passed=False, note="no data")
    return ThresholdResult(threshold=t, actual=float(value), passed=OPERATORS[t.op](float(value), t.limit))
