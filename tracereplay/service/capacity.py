"""Capacity search: the largest load (users, or arrival rate) at which every SLO holds.

    result = search(probe, CapacitySearch(start=8, limit=1000, precision=0.05))

Like the seed's coordinator, it raises the load step by step (×``factor`` while every SLO holds), and once
a step breaches it backs off and bisects between the last load that held and the first that did not, until
the two are within ``precision`` of each other. The answer is the last load that held, with the bracket
``[capacity, breach)`` as its uncertainty.

Each step is a real run of its own (``OUT/steps/NN-LOAD``, a run directory like any other), held for
``hold`` seconds and judged from its own measurements — the report stage's thresholds on the client's
latency and errors (``p99_ms<500``, ``error_rate<0.01``, ``'POST /x:p95_ms<200'``) — and, optionally, from
server-side PromQL expressions evaluated at the end of the step (``EXPR < NUMBER``).
"""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tracereplay.errors import ConfigError, TargetError
from tracereplay.files import atomic_path
from tracereplay.replay.api import run
from tracereplay.report import check_thresholds, load_run, summarize

_PROMQL_SLO = re.compile(r"^\s*(?P<expr>.+?)\s*(?P<op><=|>=|<|>)\s*(?P<value>[-+]?[0-9.]+(?:e[-+]?\d+)?)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True, kw_only=True)
class CapacitySearch:
    """How the load moves: from ``start`` ×``factor`` up to ``limit``, then bisection to ``precision``
    (a fraction of the load; users never finer than 1)."""

    start: float = 8
    limit: float = 10_000
    factor: float = 2.0
    precision: float = 0.05
    integer: bool = True  # users: whole numbers; an arrival rate: any positive number

    def problems(self) -> list[str]:
        p = []
        if not self.start > 0:
            p.append("the start load must be positive")
        if not self.limit >= self.start:
            p.append("the limit must be at least the start load")
        if not self.factor > 1:
            p.append("the factor must be above 1")
        if not 0 < self.precision < 1:
            p.append("the precision must be a fraction in (0, 1)")
        return p


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """One SLO at one step: the expression, the figure measured, whether it held."""

    slo: str
    actual: float | None
    passed: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"slo": self.slo, "actual": self.actual, "passed": self.passed, "note": self.note}


@dataclass(kw_only=True)
class Step:
    """One held load and what it showed."""

    index: int
    load: float
    run_dir: Path
    verdicts: list[Verdict]
    figures: dict[str, Any] = field(default_factory=dict)  # requests, rps, p50/p99 ms, error rate

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "load": self.load,
            "passed": self.passed,
            "run_dir": str(self.run_dir),
            "figures": self.figures,
            "slos": [v.to_dict() for v in self.verdicts],
        }


@dataclass(kw_only=True)
class CapacityResult:
    """``capacity``: the largest load that held (None: even the start breached); ``breach``: the smallest
    that did not (None: the limit held). The true capacity lies in ``[capacity, breach)``."""

    unit: str
    capacity: float | None
    breach: float | None
    steps: list[Step]
    plot: Path | None = None

    @property
    def uncertainty(self) -> float | None:
        if self.capacity is None or self.breach is None:
            return None
        return self.breach - self.capacity

    def describe(self) -> str:
        if self.capacity is None:
            return f"no capacity: the first step ({_fmt(self.steps[0].load)} {self.unit}) already breached"
        if self.breach is None:
            return f"capacity ≥ {_fmt(self.capacity)} {self.unit}: the limit held every SLO"
        return (
            f"capacity {_fmt(self.capacity)} {self.unit} (every SLO held there; breached at "
            f"{_fmt(self.breach)}: the limit is in [{_fmt(self.capacity)}, {_fmt(self.breach)}))"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "capacity": self.capacity,
            "breach": self.breach,
            "uncertainty": self.uncertainty,
            "summary": self.describe(),
            "plot": str(self.plot) if self.plot else None,
            "steps": [s.to_dict() for s in self.steps],
        }


def search(
    probe: Callable[[float, int], Step],
    plan: CapacitySearch,
    *,
    unit: str = "users",
    notify: Callable[[Step], None] | None = None,
) -> CapacityResult:
    """Find the largest load ``probe`` passes. ``probe(load, index)`` holds one step and judges it."""
    problems = plan.problems()
    if problems:
        raise ConfigError(problems)
    steps: list[Step] = []

    def hold(load: float) -> bool:
        step = probe(load, len(steps))
        steps.append(step)
        if notify is not None:
            notify(step)
        return step.passed

    def rounded(load: float) -> float:
        return float(max(1, round(load))) if plan.integer else load

    good: float | None = None
    bad: float | None = None
    load = rounded(plan.start)
    while True:  # climb: ×factor while every SLO holds
        if hold(load):
            good = load
            if load >= plan.limit:
                return CapacityResult(unit=unit, capacity=good, breach=None, steps=steps)
            load = min(rounded(load * plan.factor), rounded(plan.limit))
        else:
            bad = load
            break
    if good is None:
        return CapacityResult(unit=unit, capacity=None, breach=bad, steps=steps)
    while not _close_enough(good, bad, plan):  # bisect the bracket [good, bad)
        middle = rounded((good + bad) / 2)
        if middle in (good, bad):
            break
        if hold(middle):
            good = middle
        else:
            bad = middle
    return CapacityResult(unit=unit, capacity=good, breach=bad, steps=steps)


def _close_enough(good: float, bad: float, plan: CapacitySearch) -> bool:
    gap = bad - good
    return gap <= (max(1.0, plan.precision * good) if plan.integer else plan.precision * good)


# ------------------------------------------------------------------------------------------------ SLOs
@dataclass(frozen=True, kw_only=True)
class PromqlSlo:
    """``EXPR OP NUMBER``: the expression must return one number, compared with NUMBER."""

    expression: str
    query: str
    op: str
    limit: float


def parse_promql_slo(text: str) -> PromqlSlo:
    match = _PROMQL_SLO.match(text)
    if not match:
        raise ConfigError(f"PromQL SLO {text!r} is not 'EXPRESSION OP NUMBER' (e.g. 'max(up) > 0')")
    return PromqlSlo(expression=text, query=match["expr"], op=match["op"], limit=float(match["value"]))


def promql_verdict(base_url: str, slo: PromqlSlo, at: float, *, timeout_s: float = 10.0) -> Verdict:
    """Evaluate ``slo`` on the Prometheus at ``base_url`` at ``at`` (epoch seconds)."""
    params = urllib.parse.urlencode({"query": slo.query, "time": f"{at:.3f}"})
    url = base_url.rstrip("/") + "/api/v1/query?" + params
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            body = json.loads(response.read(8 * 1024 * 1024))
    except urllib.error.HTTPError as exc:
        detail = _prometheus_error(exc)
        raise TargetError(
            f"PromQL SLO {slo.expression!r}: Prometheus answered {exc.code}: {detail}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TargetError(f"PromQL SLO {slo.expression!r}: cannot query {base_url}: {exc}") from None
    data = body.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        values = [result]
    elif kind == "vector" and isinstance(result, list):
        values = [item.get("value") for item in result]
    else:
        return Verdict(slo=slo.expression, actual=None, passed=False, note=f"unexpected result type {kind!r}")
    if len(values) != 1:
        note = "no data" if not values else f"{len(values)} series (aggregate them to one, e.g. with max())"
        return Verdict(slo=slo.expression, actual=None, passed=False, note=note)
    actual = _sample_value(values[0])
    if actual is None:
        return Verdict(slo=slo.expression, actual=None, passed=False, note="not a number")
    if math.isnan(actual):
        return Verdict(slo=slo.expression, actual=None, passed=False, note="NaN (no samples in the range)")
    return Verdict(slo=slo.expression, actual=actual, passed=_OPS[slo.op](actual, slo.limit))


def _sample_value(sample: object) -> float | None:
    """The number of a Prometheus sample (``[unix time, "value"]``), or None if it is not one."""
    if not isinstance(sample, list) or len(sample) < 2:
        return None
    try:
        return float(sample[1])
    except (TypeError, ValueError):
        return None


def _prometheus_error(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read(65536)).get("error", "")).splitlines()[0]
    except (ValueError, AttributeError, IndexError):
        return exc.reason


# ------------------------------------------------------------------------------------------- real steps
@dataclass(frozen=True, kw_only=True)
class StepSettings:
    """What each step runs: the model (or script), the target, the SLOs, the run settings."""

    model: str
    target: str
    out: Path
    slos: tuple[str, ...]
    hold: float = 10.0
    rate: bool = False  # vary the arrival rate (open workload) rather than users (closed)
    promql_url: str | None = None
    promql_slos: tuple[PromqlSlo, ...] = ()
    run_settings: dict[str, Any] = field(default_factory=dict)  # actions, think_scale, seed, timeout …


def run_step(settings: StepSettings, load: float, index: int) -> Step:
    """Hold ``load`` for ``settings.hold`` seconds as a run of its own and judge it against every SLO."""
    unit = "rate" if settings.rate else "users"
    run_dir = settings.out / "steps" / f"{index:02d}-{_fmt(load)}{unit}"
    workload = {"arrival_rate": load} if settings.rate else {"users": int(load)}
    result = run(
        settings.model,
        target=settings.target,
        duration=settings.hold,
        out=str(run_dir),
        **workload,
        **settings.run_settings,
    )
    summary = summarize(load_run(run_dir))
    verdicts = [
        Verdict(slo=r.threshold.expression, actual=r.actual, passed=r.passed, note=r.note)
        for r in check_thresholds(summary, settings.slos)
    ]
    if result.requests == 0 or result.errors == result.requests:
        # latency SLOs hold trivially when nothing was answered (a refused connection is fast): not a pass
        why = "no requests were made" if result.requests == 0 else "every request failed"
        verdicts.append(
            Verdict(
                slo="some requests succeed",
                actual=float(result.requests - result.errors),
                passed=False,
                note=why,
            )
        )
    if settings.promql_url:
        at = result.ended.timestamp()
        verdicts += [promql_verdict(settings.promql_url, slo, at) for slo in settings.promql_slos]
    total = summary.total
    figures = {
        "requests": result.requests,
        "errors": result.errors,
        "rps": _number(total.get("rps")),
        "p50_ms": _number(total.get("p50_ms")),
        "p99_ms": _number(total.get("p99_ms")),
        "error_rate": _number(total.get("error_rate")),
    }
    return Step(index=index, load=load, run_dir=run_dir, verdicts=verdicts, figures=figures)


def capacity(
    settings: StepSettings, plan: CapacitySearch, notify: Callable[[Step], None] | None = None
) -> CapacityResult:
    """Search with real steps; write ``OUT/capacity.json`` and the plot ``OUT/capacity.png``."""
    settings.out.mkdir(parents=True, exist_ok=True)
    result = search(
        lambda load, index: run_step(settings, load, index),
        plan,
        unit="sessions/s" if settings.rate else "users",
        notify=notify,
    )
    result.plot = plot_search(result, settings.out / "capacity.png")
    document = {
        "created": datetime.now(UTC).isoformat(),
        "target": settings.target,
        "model": settings.model,
        "slos": [*settings.slos, *(s.expression for s in settings.promql_slos)],
        **result.to_dict(),
    }
    with atomic_path(settings.out / "capacity.json") as tmp:
        tmp.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return result


def plot_search(result: CapacityResult, path: Path) -> Path:
    """The search as a picture: each step's load in order (held ● / breached ✕), the bracket shaded,
    and p99 against load."""
    import matplotlib  # here, not at the top: only a finished search draws

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    figure, (order, latency) = plt.subplots(1, 2, figsize=(11, 4))
    for step in result.steps:
        style = {"color": "#1a7f37", "marker": "o"} if step.passed else {"color": "#c62828", "marker": "x"}
        order.plot([step.index + 1], [step.load], linestyle="none", markersize=8, **style)
        p99 = step.figures.get("p99_ms")
        if p99 is not None:
            latency.plot([step.load], [p99], linestyle="none", markersize=8, **style)
    order.plot([s.index + 1 for s in result.steps], [s.load for s in result.steps], color="#999", lw=0.8)
    if result.capacity is not None:
        top = result.breach if result.breach is not None else result.capacity
        order.axhspan(result.capacity, top, color="#1565c0", alpha=0.15)
        order.axhline(result.capacity, color="#1565c0", lw=1)
        latency.axvline(result.capacity, color="#1565c0", lw=1)
    order.set(xlabel="step", ylabel=result.unit, title=result.describe()[:90])
    latency.set(xlabel=result.unit, ylabel="p99 ms (client)", title="p99 at each step")
    order.title.set_fontsize(9)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
    return path


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _fmt(load: float) -> str:
    return f"{load:g}"
