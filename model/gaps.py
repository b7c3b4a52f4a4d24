"""The clock a class's gaps between sessions are measured and drawn on: the arrival clock or the wall clock.

The arrival clock (``ArrivalProfile``) lands a user's later sessions by the hourly profile, which is right
for users who come back "some day" at whatever hour people visit. It is wrong for what comes back on a
timer: a feed reader or monitor polling every hour has gaps of exactly 3,600 wall-clock seconds, which the
arrival clock stretches in quiet hours and squeezes in busy ones (on a real web log: gap KS 2.7× its noise
floor). Which clock is right is a property of the data, so each class gets the clock on which its gaps
depend least on the hour of day they start: for each clock, the KS distance of every hour's gaps (hours
with at least ``min_hour_gaps``) to all the class's gaps, averaged with the hours' weights. The hour cells
(``session_gap_by_hour``) absorb what dependence is left.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tracereplay.model.prepare import NS_PER_S

if TYPE_CHECKING:
    from tracereplay.model.behaviour import ArrivalProfile

CLOCKS = ("arrivals", "wall")
_MIN_HOUR_GAPS = 10


def clock_gaps(end_ns: np.ndarray, start_ns: np.ndarray, arrivals: ArrivalProfile, clock: str) -> np.ndarray:
    """Gaps (seconds) between session ends and the next starts, measured on ``clock``."""
    if clock == "wall":
        return (start_ns - end_ns) / NS_PER_S
    return arrivals.to_arrival_clock(start_ns / NS_PER_S) - arrivals.to_arrival_clock(end_ns / NS_PER_S)


def hour_dependence(gaps: np.ndarray, hour: np.ndarray, min_hour_gaps: int = _MIN_HOUR_GAPS) -> float | None:
    """Weighted mean KS distance of each hour's gaps to all of them (``None``: no hour has enough)."""
    pooled = np.sort(gaps)
    total, weight = 0.0, 0
    for h in range(24):
        mine = np.sort(gaps[hour == h])
        if len(mine) < min_hour_gaps:
            continue
        points = np.concatenate([mine, pooled])
        cdf_h = np.searchsorted(mine, points, side="right") / len(mine)
        cdf_all = np.searchsorted(pooled, points, side="right") / len(pooled)
        total += len(mine) * float(np.abs(cdf_h - cdf_all).max())
        weight += len(mine)
    return total / weight if weight else None


def choose_clock(end_ns: np.ndarray, start_ns: np.ndarray, hour: np.ndarray, arrivals: ArrivalProfile,
                 default: str = "arrivals") -> str:
    """The clock on which these gaps depend least on the hour they start (``default`` on a tie or no
    evidence)."""
    scores = {clock: hour_dependence(clock_gaps(end_ns, start_ns, arrivals, clock), hour) for clock in CLOCKS}
    if any(v is None for v in scores.values()):
        return default
    other = "wall" if default == "arrivals" else "arrivals"
    return other if scores[other] < scores[default] else default  # type: ignore[operator]
