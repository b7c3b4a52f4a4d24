"""Checked results of pandas and scipy calls that are annotated wider than what the caller asked for.

pandas annotates ``frame[name]`` as a Series or a DataFrame (a list of names gives a frame),
``groupby(...)[column].sum()`` or a Series' ``max()`` as any of scalar, Series or DataFrame, and
``Timestamp.to_pydatetime()`` as possibly ``NaT``, because the shape depends on the arguments and the
data; scipy builds its test results' classes at runtime, so their fields are untyped. The caller knows
which one it asked for: these helpers check it at runtime and hand the value on with that type, so a wrong
guess fails here, loudly. Every stage uses them (one home).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

_NUMBER = int | float | np.integer | np.floating | np.bool_  # what a reduction returns


def series(value: object) -> pd.Series:
    """``value``, checked to be a Series (e.g. one column of a frame, or one column aggregated)."""
    if not isinstance(value, pd.Series):
        raise TypeError(f"expected a pandas Series, got {type(value).__name__}")
    return value


def to_int(value: object) -> int:
    """A numeric scalar (Python or numpy) as ``int()`` converts it."""
    if not isinstance(value, _NUMBER):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return int(value)


def to_float(value: object) -> float:
    """A numeric scalar (Python or numpy) as ``float()`` converts it."""
    if not isinstance(value, _NUMBER):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def to_datetime(value: object) -> datetime:
    """A datetime (a Timestamp is one), checked not to be ``NaT``."""
    if not isinstance(value, datetime) or value is pd.NaT:
        raise TypeError(f"expected a datetime, got {value!r}")
    return value
