"""Summarise a run: per action and overall counts, errors by kind, rates and latency percentiles.

One streaming pass over the requests files reads only the needed columns a row group at a time and
folds each chunk into per-action histograms (:mod:`.actions`), so memory stays bounded by the number
of actions, not of requests. Sessions (:mod:`.sessions`) and the over-time table (:mod:`.timeseries`)
are folded in the same pass.

Definitions (also in docs/reporting.md):
- ``rps`` = requests / run duration; the duration is ``ended − started`` from run.json, else the span
  from the first request's start to the last request's end.
- ``error_rate`` = errors / count (requests whose ``error`` is true).
- latency percentiles are nearest-rank, read from HdrHistogram-layout histograms (≤ 0.1 % above the
  exact sample, never below it); ``max_ms`` and ``mean_ms`` are exact.
- latency is ``latency_corrected_ms`` (from the intended start, wrk2's rule) by default, or
  ``latency_ms`` (from the actual start) with ``latency="measured"``; both are always computed.
- ``expected`` counts answers with an HTTP error status the pack expected (a handshake's 401): not errors.
- long-poll requests (``long_poll`` true: held open by the server on purpose) are summarised apart, in
  ``long_polls``, and kept out of the actions table, the total and so the thresholds' headline figures,
  unless ``include_long_polls``; sessions count them, the over-time table does not.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from tracereplay.checked import series, to_int
from tracereplay.durations import parse_duration
from tracereplay.errors import ConfigError
from tracereplay.report.actions import (
    COUNT_KEYS,
    LATENCY_KEYS,
    PERCENTILE_KEYS,
    PERCENTILE_METHOD,
    PERCENTILES,
    TOTAL,
    ActionAccumulator,
    Latency,
)
from tracereplay.report.columns import SUMMARY_COLUMNS, BatchArrays, concat, decode
from tracereplay.report.sessions import SessionAccumulator
from tracereplay.report.timeseries import TimeAccumulator
from tracereplay.report.websocket import WebSocketSummary, summarize_ws

__all__ = [
    "COUNT_KEYS",
    "LATENCY_KEYS",
    "PERCENTILES",
    "PERCENTILE_KEYS",
    "TOTAL",
    "Latency",
    "Summary",
    "summarize",
]


class OpenedRun(Protocol):
    """What a summary reads of an opened run (:class:`tracereplay.report.load.Run` is one)."""

    @property
    def path(self) -> Path: ...

    @property
    def meta(self) -> dict[str, Any]: ...

    @property
    def request_files(self) -> tuple[Path, ...]: ...

    @property
    def ws_files(self) -> tuple[Path, ...]: ...  # empty unless the run's users held websockets

    # a cached_property, as Run's is: a summary reads it twice, and pyright matches a cached_property
    # only to a cached_property, never to a property (pyright issue #4343)
    @cached_property
    def users(self) -> pd.DataFrame: ...

    @property
    def started(self) -> datetime | None: ...

    @property
    def ended(self) -> datetime | None: ...

    def columns(self) -> set[str]: ...

    def batches(self, columns: list[str]) -> Iterator[tuple[Path, Any]]: ...


FOLD_ROWS = 1 << 18  # rows folded at once: amortises the per-fold cost of the (actions × buckets) arrays


@dataclass(frozen=True, kw_only=True)
class Summary:
    """What a run did, per action and overall. :meth:`to_dict` is the ``--json`` shape."""

    run: dict[str, Any]
    actions: pd.DataFrame  # one row per action: action, COUNT_KEYS, LATENCY_KEYS (headline latency)
    total: dict[str, Any]
    latency: dict[str, pd.DataFrame]  # "corrected"/"measured" → LATENCY_KEYS per action, plus a TOTAL row
    errors: pd.DataFrame  # action, error_kind, count (error rows only)
    sessions: dict[str, Any]
    over_time: pd.DataFrame | None
    # kind → (counts, largest sample per bucket), each (actions in table order + total, COUNTS_LEN)
    histograms: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False)
    websocket: WebSocketSummary | None = None  # when the run's users held websockets (report/websocket.py)
    # long-poll actions, apart from the headline (same columns as ``actions``); None when the run has none
    long_polls: pd.DataFrame | None = None
    long_poll_total: dict[str, Any] | None = None

    def action_names(self) -> list[str]:
        return list(self.actions["action"])

    def histogram(self, action: str = TOTAL, kind: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(counts, largest)`` of one action's (or the total's) latency histogram for ``kind``.

        ``kind`` is ``"corrected"`` or ``"measured"`` (default: the headline latency).
        """
        row = [*self.action_names(), TOTAL].index(action)
        counts, largest = self.histograms[kind or self.run["latency"]]
        return counts[row], largest[row]

    def errors_by_kind(self, action: str | None = None) -> dict[str, int]:
        rows = self.errors if action is None else self.errors.loc[self.errors["action"] == action]
        grouped = series(rows.groupby("error_kind", sort=True)["count"].sum())
        return {str(k): to_int(v) for k, v in grouped.items()}

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document: ``{"run", "total", "actions", "errors", "sessions"[, "over_time"]}``."""
        actions = []
        for row in self.actions.to_dict("records"):
            name = row["action"]
            entry = {"action": name, **_clean({k: row[k] for k in (*COUNT_KEYS, *LATENCY_KEYS)})}
            entry["errors_by_kind"] = self.errors_by_kind(name)
            for kind, frame in self.latency.items():
                entry[kind] = _clean(frame.loc[name].to_dict())
            actions.append(entry)
        total = {**_clean(self.total), "errors_by_kind": self.errors_by_kind()}
        for kind, frame in self.latency.items():
            total[kind] = _clean(frame.loc[TOTAL].to_dict())
        document: dict[str, Any] = {
            "run": _clean(self.run),
            "total": total,
            "actions": actions,
            "errors": [_clean(r) for r in self.errors.to_dict("records")],
            "sessions": _clean(self.sessions),
        }
        if self.over_time is not None:
            document["over_time"] = [_clean(r) for r in _jsonable_rows(self.over_time)]
        if self.websocket is not None:
            document["websocket"] = self.websocket.to_dict()
        if self.long_polls is not None:
            document["long_polls"] = {
                "actions": [_clean(r) for r in self.long_polls.to_dict("records")],
                "total": _clean(self.long_poll_total or {}),
            }
        return document


def summarize(
    run: OpenedRun,
    *,
    latency: Latency | str = Latency.CORRECTED,
    bucket: str | float | None = None,
    include_long_polls: bool = False,
) -> Summary:
    """Summarise ``run`` in one streaming pass; ``bucket`` (e.g. ``"5s"``) adds the over-time table.

    Long-poll requests are summarised in ``long_polls``, out of the headline, unless ``include_long_polls``.

    >>> summary = summarize(load_run("runs/1"), bucket="5s")   # doctest: +SKIP
    >>> summary.actions[["action", "count", "p99_ms"]]          # doctest: +SKIP
    """
    latency = Latency(latency)
    bucket_s = _bucket_seconds(bucket)
    per_action = ActionAccumulator()
    polls = ActionAccumulator()
    polls.actions, polls.kinds = per_action.actions, per_action.kinds  # one set of codes for both
    sessions = SessionAccumulator()
    over_time = None
    if bucket_s:
        origin = _start_ns(run, None)
        over_time = TimeAccumulator(bucket_s, corrected=latency is Latency.CORRECTED, origin_ns=origin)
    for arrays in _coalesced(run, per_action):
        ends = _end_ns(arrays)
        sessions.add(arrays, ends)
        poll = arrays.long_poll
        if not include_long_polls and poll.any():
            polls.add(arrays.select(poll), ends[poll])
            arrays, ends = arrays.select(~poll), ends[~poll]
        if not len(arrays):
            continue
        per_action.add(arrays, ends)
        if over_time is not None:
            over_time.add(arrays)
    per_action.finish()
    polls.finish()

    seen = [a for a in (per_action, polls) if a.has_data]
    first_ns = min(a.first_ns for a in seen) if seen else None
    last_ns = max(a.last_ns for a in seen) if seen else None
    duration_s = _duration_s(run, first_ns, last_ns)
    tables = per_action.latency_tables()
    frame = _action_table(per_action, tables[latency.value], duration_s)
    order = [*frame["action"], TOTAL]
    long_polls, long_poll_total = None, None
    if polls.has_data:
        poll_tables = polls.latency_tables()
        long_polls = _action_table(polls, poll_tables[latency.value], duration_s)
        long_poll_total = _total(polls, poll_tables[latency.value], duration_s)
    errors = per_action.errors_table()
    if polls.has_data:
        errors = pd.concat([errors, polls.errors_table()], ignore_index=True)
    return Summary(
        run=_run_info(run, latency, duration_s, first_ns, last_ns),
        actions=frame,
        total=_total(per_action, tables[latency.value], duration_s),
        latency={kind: table.loc[order] for kind, table in tables.items()},
        errors=errors,
        sessions={**sessions.result(), **_user_counts(run)},
        over_time=over_time.result(run.users, _start_ns(run, first_ns)) if over_time is not None else None,
        histograms=per_action.histograms(order),
        websocket=summarize_ws(run.ws_files),
        long_polls=long_polls,
        long_poll_total=long_poll_total,
    )


def _action_table(
    per_action: ActionAccumulator, headline: pd.DataFrame, duration_s: float | None
) -> pd.DataFrame:
    names = per_action.actions.names
    frame = pd.DataFrame(
        {
            "action": names,
            "count": per_action.counts,
            "errors": per_action.errors,
            "expected": per_action.expected,
        }
    )
    frame = frame.assign(**_rates(per_action.counts, per_action.errors, duration_s))
    frame = pd.concat([frame, headline.loc[names].reset_index(drop=True)], axis=1)
    frame = frame.loc[frame["count"] > 0]  # an action seen only as a long-poll (or only not) is in one table
    return frame.sort_values("action", kind="stable").reset_index(drop=True)


def _total(per_action: ActionAccumulator, headline: pd.DataFrame, duration_s: float | None) -> dict[str, Any]:
    count, errors = int(per_action.counts.sum()), int(per_action.errors.sum())
    rates = _rates(np.array([count]), np.array([errors]), duration_s)
    return {
        "count": count,
        "errors": errors,
        "expected": int(per_action.expected.sum()),
        **{key: float(values[0]) for key, values in rates.items()},
        **headline.loc[TOTAL].to_dict(),
        "bytes": per_action.bytes,
    }


def _coalesced(run: OpenedRun, per_action: ActionAccumulator) -> Iterator[BatchArrays]:
    """Decoded chunks of at least :data:`FOLD_ROWS` rows (but the last), whatever the row-group size."""
    pending: list[BatchArrays] = []
    rows = 0
    available = run.columns()
    # duration_ms is only the fallback for a run without latency_ms: don't read it for nothing
    columns = [c for c in SUMMARY_COLUMNS if not (c == "duration_ms" and "latency_ms" in available)]
    for _path, chunk in run.batches(columns):
        arrays = decode(chunk, per_action.actions, per_action.kinds)
        if len(arrays):
            pending.append(arrays)
            rows += len(arrays)
        if rows >= FOLD_ROWS:
            yield concat(pending)
            pending, rows = [], 0
    if pending:
        yield concat(pending)


def _bucket_seconds(bucket: str | float | None) -> float | None:
    if bucket is None:
        return None
    seconds = parse_duration(bucket)
    if seconds < 0.001:
        raise ConfigError(f"bucket {bucket!r} is too small (at least 1ms)")
    return seconds


def _end_ns(arrays: BatchArrays) -> np.ndarray:
    latency = np.nan_to_num(arrays.measured_ms, nan=0.0)
    return arrays.ts_ns + (latency * 1e6).astype(np.int64)


def _duration_s(run: OpenedRun, first_ns: int | None, last_ns: int | None) -> float | None:
    from_meta = _meta_duration_s(run)
    if from_meta is not None and from_meta > 0:
        return from_meta
    if first_ns is None or last_ns is None:
        return from_meta
    return max(last_ns - first_ns, 0) / 1e9


def _meta_duration_s(run: OpenedRun) -> float | None:
    started, ended = run.started, run.ended
    if started is None or ended is None:
        return None
    return (ended - started).total_seconds()


def _rates(count: np.ndarray, errors: np.ndarray, duration_s: float | None) -> dict[str, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        error_rate = np.where(count > 0, errors / np.maximum(count, 1), np.nan)
        rps = count / duration_s if duration_s else np.full(len(count), np.nan)
    return {"error_rate": error_rate, "rps": rps}


def _user_counts(run: OpenedRun) -> dict[str, Any]:
    """Session starts/drops as the runtime counted them (``users-*.parquet``), when present.

    The runtime's counters are cumulative per worker, sampled once a second: a worker's last (largest)
    value is its total.
    """
    users = run.users
    if not len(users):
        return {}
    per_worker = users.groupby("worker") if "worker" in users else users.groupby(lambda _: 0)
    out: dict[str, Any] = {}
    if "active_users" in users:
        # workers sample independently: add them up per second, then take the busiest second
        second = users["ts"].astype("datetime64[ns, UTC]").dt.floor("1s")
        keys = [second, users["worker"]] if "worker" in users else [second]
        per_worker_second = series(users.groupby(keys)["active_users"].max())
        per_second = series(per_worker_second.groupby(level=0).sum())
        out["peak_active_users"] = to_int(per_second.max())
    for column in ("sessions_started", "sessions_dropped"):
        if column in users:
            out[column] = to_int(series(per_worker[column].max()).sum())
    return out


def _run_info(
    run: OpenedRun, latency: Latency, duration_s: float | None, first_ns: int | None, last_ns: int | None
) -> dict[str, Any]:
    meta = run.meta
    return {
        "dir": str(run.path),
        "target": meta.get("target"),
        "model": meta.get("model"),
        "started": meta.get("started") or _iso_ns(first_ns),
        "ended": meta.get("ended") or _iso_ns(last_ns),
        "duration_s": duration_s,
        "exit_reason": meta.get("exit_reason"),
        "workers": meta.get("workers", len(run.request_files)),
        "requests_recorded": meta.get("requests"),
        "latency": latency.value,
        "percentiles": PERCENTILE_METHOD,
    }


def _start_ns(run: OpenedRun, first_ns: int | None) -> int | None:
    started = run.started
    return int(pd.Timestamp(started).value) if started is not None else first_ns


def _iso_ns(ns: int | None) -> str | None:
    return None if ns is None else pd.Timestamp(ns, unit="ns", tz="UTC").isoformat()


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe scalars: numpy → Python, NaN/inf → None."""
    return {key: _scalar(value) for key, value in values.items()}


def _scalar(value: Any) -> Any:
    if isinstance(value, dict):
        return _clean(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _jsonable_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict("records")
