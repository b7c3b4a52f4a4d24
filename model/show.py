"""``model show``: a model summarised for people (rich tables) and for machines (a JSON-ready dict)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tracereplay.durations import format_duration
from tracereplay.model.frames import actions_frame, classes_frame, expected_visits, transitions_frame
from tracereplay.model.shape import BAND_LOWER, SCORE_QUANTILES

if TYPE_CHECKING:
    from rich.console import Console

    from tracereplay.model.behaviour import BehaviourModel
    from tracereplay.model.distributions import Duration
    from tracereplay.model.shape import SessionShape

_SPARK = "▁▂▃▄▅▆▇█"


def summary(model: BehaviourModel, *, top: int = 8) -> dict[str, Any]:
    """Classes, shares, top transitions, think-time summaries and the arrival profile."""
    transitions = transitions_frame(model)
    classes = []
    for k, (c, row) in enumerate(zip(model.classes, classes_frame(model).to_dict("records"), strict=True)):
        visits = expected_visits(c)
        order = np.argsort(-visits)[:top]
        mine = transitions.loc[transitions["class"] == c.name].sort_values("count", ascending=False).head(top)
        classes.append({
            "index": k, "name": c.name, "share": c.share, "users": c.users, "sessions": c.sessions,
            "sessions_per_user": row["sessions_per_user"], "actions_per_session": row["actions_per_session"],
            "top_actions": [{"action": model.actions[i], "per_session": float(visits[i])} for i in order
                            if visits[i] > 0],
            "top_transitions": [_clean(t) for t in mine.to_dict("records")],
            "think": _dist_summary(c.think or model.think),
            "think_backoff": c.think_backoff,
            "think_kind": {k: _dist_summary(d) for k, d in sorted(c.think_kind.items())},
            "session_gap": _dist_summary(c.session_gap or model.session_gap),
            "session_gap_level": "global" if c.session_gap is None else "class",
            "session_gap_clock": c.session_gap_clock or model.session_gap_clock,
            "session_gap_by_hour": [{"hour": h, **(_dist_summary(d) or {})}
                                    for h, d in sorted(c.session_gap_by_hour.items())],
            "shape": _shape_summary(c.shape),
        })
    profile = model.arrivals
    return {
        "source": model.source,
        "actions": len(model.actions),
        "classes": classes,
        "sticky_share": model.sticky_share,
        # Users that switch kinds: row = user class, shares of the session classes they run.
        "class_mix": None if model.class_mix is None else np.asarray(model.class_mix).tolist(),
        "think": _dist_summary(model.think),
        "session_gap": _dist_summary(model.session_gap),
        "time_resolution_s": model.time_resolution_s or None,
        "arrivals": {"bins": "hour_of_week" if profile.by_week else "hour_of_day",
                     "mean_sessions_per_s": model.mean_arrival_rate,
                     "sessions_per_s": [float(r) for r in profile.rate],
                     "observed": [bool(o) for o in profile.observed]},
        "action_stats": [_clean(r) for r in actions_frame(model).to_dict("records")],
    }


def _dist_summary(dist: Duration | None) -> dict[str, Any] | None:
    if dist is None:
        return None
    return {"family": dist.family.value, "n": dist.n, "median_s": dist.median, "mean_s": dist.mean,
            "p10_s": float(dist.quantile(0.1)), "p90_s": float(dist.quantile(0.9)),
            "zero_share": dist.zero_share}


def _shape_summary(shape: SessionShape | None) -> dict[str, Any] | None:
    """The session shape (model/shape.py) as read from the file: exit shifts by step, tempo by length band."""
    if shape is None:
        return None
    bands = []
    for b, lower in enumerate(BAND_LOWER):
        upper = BAND_LOWER[b + 1] - 1 if b + 1 < len(BAND_LOWER) else None
        shared, own = shape.shared[b], shape.own[b]
        scores = shape.scores[b]
        bands.append({
            "lengths": _band_label(lower, upper), "mean": shape.mean[b], "shared": shared, "own": own,
            "anti": shape.anti[b], "zero_shift": shape.zero_shift[b],
            # share of a think score's variance that is the session's own tempo (intraclass correlation)
            "tempo_share": shared**2 / (shared**2 + own**2) if shared or own else 0.0,
            # the band's median normal score: < 0 faster than its cells' laws, > 0 slower
            "median_score": scores[SCORE_QUANTILES // 2] if scores else shape.mean[b],
            "score_quantiles": len(scores)})
    return {"exit_shift": list(shape.exit_shift), "bands": bands}


def _band_label(lower: int, upper: int | None) -> str:
    if upper is None:
        return f"{lower}+"
    return str(lower) if upper == lower else f"{lower}–{upper}"


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """NaN → None so the dict is valid JSON."""
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in record.items()}


def render(model: BehaviourModel, console: Console, *, top: int = 8, title: str = "") -> None:
    """Print :func:`summary` as rich tables."""
    from rich.table import Table

    info = summary(model, top=top)
    src = info["source"]
    console.print(f"[bold]{title or 'model'}[/]: {len(model.actions)} actions, "
                  f"{len(model.classes)} class(es), "
                  f"fitted from {src.get('events', '?')} events, {src.get('sessions', '?')} sessions, "
                  f"{src.get('users', '?')} users ({src.get('start', '?')} → {src.get('end', '?')})")
    if info["time_resolution_s"]:
        console.print(f"timestamps cut to {format_duration(info['time_resolution_s'])} "
                      "(the source's resolution)")
    if info["class_mix"] is None:
        console.print(f"users keep their class across sessions: {info['sticky_share']:.0%} of sessions agree")
    else:
        console.print(f"users switch kinds between sessions (only {info['sticky_share']:.0%} of sessions are "
                      "their user's main kind); sessions run by the users of each class:")
        for name, row in zip(model.class_names, info["class_mix"], strict=True):
            pairs = zip(model.class_names, row, strict=True)
            mix = ", ".join(f"{other} {share:.0%}" for other, share in pairs if share > 0)
            console.print(f"  {name} users: {mix}")
    table = Table(title="classes (the behaviour mix)")
    for col in ("class", "share", "users", "sessions/user", "actions/session", "think median", "think p90",
                "gap median"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for c in info["classes"]:
        think, gap = c["think"] or {}, c["session_gap"] or {}
        table.add_row(c["name"], f"{c['share']:.1%}", str(c["users"]), f"{c['sessions_per_user']:.2f}",
                      f"{c['actions_per_session']:.1f}", _secs(think.get("median_s")),
                      _secs(think.get("p90_s")), _secs(gap.get("median_s")))
    console.print(table)
    for c in info["classes"]:
        doing = ", ".join(f"{t['action']} ×{t['per_session']:.1f}" for t in c["top_actions"][:4])
        console.print(f"  {c['name']} per session: {doing}")
    for c in info["classes"]:
        t = Table(title=f"{c['name']}: top transitions")
        for col in ("from", "to", "p", "count", "think median", "think p90", "family", "level"):
            numeric = col in ("p", "count", "think median", "think p90")
            t.add_column(col, justify="right" if numeric else "left")
        for r in c["top_transitions"]:
            t.add_row(r["from"], r["to"], f"{r['p']:.2f}", f"{r['count']:.0f}", _secs(r["think_median_s"]),
                      _secs(r["think_p90_s"]), r["think_family"], r["think_level"])
        console.print(t)
    for c in info["classes"]:
        _render_shape(console, c)
        _render_gaps(console, c)
    actions = Table(title="actions")
    for col in ("action", "count", "errors", "duration median", "duration p95"):
        actions.add_column(col, justify="left" if col == "action" else "right")
    for s in sorted(info["action_stats"], key=lambda s: -s["count"])[: max(top * 2, 10)]:
        actions.add_row(s["action"], str(s["count"]), f"{s['error_rate']:.1%}",
                        _ms(s["duration_median_ms"]), _ms(s["duration_p95_ms"]))
    console.print(actions)
    arrivals = info["arrivals"]
    rates = np.asarray(arrivals["sessions_per_s"])
    console.print(f"arrivals ({arrivals['bins'].replace('_', ' ')}, UTC): mean "
                  f"{arrivals['mean_sessions_per_s']:.4g} sessions/s, peak {rates.max():.4g} at bin "
                  f"{int(rates.argmax())}  {_sparkline(rates)}")


def _render_shape(console: Console, c: dict[str, Any]) -> None:
    from rich.table import Table

    shape = c["shape"]
    if shape is None:
        console.print(f"{c['name']}: no session shape (a model file before version 3): the chain's EXIT ends "
                      "sessions and clicks are independent")
        return
    shifts = shape["exit_shift"]
    if shifts:
        shown = ", ".join(f"{v:+.2f}" for v in shifts[:8])
        console.print(f"{c['name']}: exit shift by step (logit, steps 1–{min(len(shifts), 8)}): {shown}"
                      + (f" … step {len(shifts)}+: {shifts[-1]:+.2f}" if len(shifts) > 8 else ""))
    table = Table(title=f"{c['name']}: think tempo by session length")
    for col in ("actions", "median score", "tempo share", "shared", "own", "anti", "zero shift", "quantiles"):
        table.add_column(col, justify="left" if col == "actions" else "right")
    for band in shape["bands"]:
        table.add_row(band["lengths"], f"{band['median_score']:+.2f}", f"{band['tempo_share']:.0%}",
                      f"{band['shared']:.2f}", f"{band['own']:.2f}", f"{band['anti']:.2f}",
                      f"{band['zero_shift']:+.2f}",
                      str(band["score_quantiles"] or "-"))
    console.print(table)


def _render_gaps(console: Console, c: dict[str, Any]) -> None:
    gap, hours = c["session_gap"] or {}, c["session_gap_by_hour"]
    console.print(f"{c['name']}: gaps between sessions on the {c['session_gap_clock']} clock, "
                  f"{c['session_gap_level']} law: {gap.get('family', '-')} of {gap.get('n', 0):,} gaps, "
                  f"median {_secs(gap.get('median_s'))}, p90 {_secs(gap.get('p90_s'))}")
    if hours:
        medians = np.zeros(24)
        for h in hours:
            medians[h["hour"]] = h["median_s"]
        line = "".join(ch if any(h["hour"] == k for h in hours) else "·"
                       for k, ch in enumerate(_sparkline(medians)))
        console.print(f"  own law for {len(hours)} of 24 hours the session ended (UTC; · = the class's law), "
                      f"median by hour 0–23: {line}", soft_wrap=True)


def _secs(value: float | None) -> str:
    return "-" if value is None else format_duration(float(value))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}ms"


def _sparkline(values: np.ndarray) -> str:
    top = values.max()
    if top <= 0:
        return _SPARK[0] * len(values)
    return "".join(_SPARK[min(int(v / top * (len(_SPARK) - 1) + 0.5), len(_SPARK) - 1)] for v in values)
