"""Checked results of pandas and scipy calls that are annotated wider than what the report asks for.

pandas annotates ``groupby(...)[column].sum()`` as any of scalar, Series or DataFrame, and a Series'
``max()`` as scalar or Series, because the shape depends on the data; scipy builds its test results'
classes at runtime, so their fields are untyped. The report knows which one it asked for: these helpers
check it at runtime and hand the value on with that type, so a wrong guess fails here, loudly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_NUMBER = int | float | np.integer | np.floating | np.bool_  # what a reduction returns


def series(value: object) -> pd.Series:
    """``value``, checked to be a Series (e.g. one column grouped and aggregated)."""
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
