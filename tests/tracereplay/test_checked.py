"""The checked pandas/scipy results: the shapes the stages rely on pass through, any other fails loudly."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tracereplay.checked import series, to_datetime, to_float, to_int


def test_a_grouped_column_aggregate_is_a_series_and_a_frame_aggregate_is_refused() -> None:
    frame = pd.DataFrame({"kind": ["a", "b", "a"], "count": [1, 2, 3], "other": [0, 0, 0]})
    grouped = series(frame.groupby("kind", sort=True)["count"].sum())
    assert grouped.to_dict() == {"a": 4, "b": 2}
    with pytest.raises(TypeError, match="expected a pandas Series, got DataFrame"):
        series(frame.groupby("kind")[["count", "other"]].sum())


def test_reductions_convert_as_int_and_float_do() -> None:
    values = pd.Series([3, 1, 2])
    assert to_int(values.max()) == 3 and isinstance(to_int(values.max()), int)
    assert to_int(pd.Series([2.9]).max()) == 2  # truncated, as int() does
    assert to_int(pd.Series([True, True]).sum()) == 2
    assert to_float(np.float32(0.5)) == 0.5
    for value in ("3", None, pd.NA, values):
        with pytest.raises(TypeError, match="expected a number"):
            to_int(value)
        with pytest.raises(TypeError, match="expected a number"):
            to_float(value)


def test_fisher_exact_unpacks_to_its_p_value() -> None:
    odds, p = stats.fisher_exact([[8, 2], [1, 5]], alternative="greater")
    assert to_float(p) == pytest.approx(stats.fisher_exact([[8, 2], [1, 5]], alternative="greater").pvalue)
    assert 0.0 < to_float(p) < 0.05 and to_float(odds) == pytest.approx(20.0)


def test_a_timestamp_is_a_datetime_and_nat_is_refused() -> None:
    when = to_datetime(pd.Timestamp(3_600_000_000_000, tz="UTC").to_pydatetime())
    assert when == datetime(1970, 1, 1, 1, tzinfo=UTC) and type(when) is datetime
    for value in (pd.NaT, pd.Timestamp("NaT"), "1970-01-01", 0.0):
        with pytest.raises(TypeError, match="expected a datetime"):
            to_datetime(value)
