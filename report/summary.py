"""Summarise a run: per action and overall counts, errors by kind, rates and latency percentiles.

One streaming pass over the requests files reads only the needed columns a row group at a time and
folds each batch into per-action histograms (:mod:`tracereplay.report.histogram`), so memory stays
bounded by the number of actions, not of requests. Sessions (:mod:`.sessions`) and the over-time table
(:mod:`.timeseries`) are folded in the same pass.

Definitions (also in docs/reporting.md):
- ``rps`` = requests / run duration; the duration is ``ended − started`` from run.json, else the span
  from the first request's start to the last request's end.
- ``error_rate`` = errors / count (requests whose ``error`` is true).
- latency percentiles are nearest-rank, read from HdrHistogram-layout histograms (≤ 0.1 % above the
  exact sample, never below by more than 1 µs); ``max_ms`` and ``mean_ms`` are exact.
- latency is ``latency_corrected_ms`` (from the intended start, wrk2's rule) by default, or
  ``latency_ms`` (from the actual start) with ``latency="measured"``; both are always computed.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tracereplay.report import histogram
from tracereplay.report.columns import SUMMARY_COLUMNS, BatchArrays, Codes, concat, decode
from tracereplay.report.sessions import SessionAccumulator
from tracereplay.report.timeseries import TimeAccumulator

from tracereplay.durations import parse_duration
from tracereplay.errors import ConfigError

if TYPE_CHECKING:
    from tracereplay.report.load import Run

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)
PERCENTILE_KEYS = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms")
LATENCY_KEYS = (*PERCENTILE_KEYS, "max_ms", "mean_ms")
COUNT_KEYS = ("count", "errors", "error_rate", "rps")
TOTAL = "TOTAL"
FOLD_ROWS = 1 << 18  # rows folded at once: amortises the per-fold cost of the (actions × buckets) arrays
PERCENTILE_METHOD = "nearest-rank; HdrHistogram layout, 3 significant digits (<=0.1% above the exact sample)"


class Latency(enum.Enum):
    """Which latency the headline figures use."""

    CORRECTED = "corrected"  # from the intended (scheduled) start: includes time spent waiting to send
    MEASURED = "measured"  # from the actual start of the request


@dataclass
class LatencyStats:
    """Per-action histograms of one latency kind, plus exact sums and extremes."""

    counts: np.ndarray  # (actions, COUNTS_LEN)
    largest: np.ndarray  # (actions, COUNTS_LEN): the largest sample in each bucket, -inf if none
    samples: np.ndarray  # (actions,)
    sums: np.ndarray
    maxima: np.ndarray

    @classmethod
    def empty(cls, n: int) -> LatencyStats:
        return cls(
            counts=np.zeros((n, histogram.COUNTS_LEN), dtype=np.int64),
            largest=np.full((n, histogram.COUNTS_LEN), -np.inf),
            samples=np.zeros(n, dtype=np.int64),
            sums=np.zeros(n),
            maxima=np.full(n, -np.inf),
        )

    def grow(self, n: int) -> None:
        extra = n - len(self.samples)
        if extra > 0:
            more = LatencyStats.empty(extra)
            self.counts = np.vstack([self.counts, more.counts])
            self.largest = np.vstack([self.largest, more.largest])
            self.samples = np.concatenate([self.samples, more.samples])
            self.sums = np.concatenate([self.sums, more.sums])
            self.maxima = np.concatenate([self.maxima, more.maxima])

    def add(self, action: np.ndarray, latency_ms: np.ndarray, n_actions: int) -> None:
        self.grow(n_actions)
        keep = ~np.isnan(latency_ms)
        action, latency_ms = action[keep], latency_ms[keep]
        counts, largest = histogram.dense_counts(action, latency_ms, n_actions)
        self.counts += counts
        np.maximum(self.largest, largest, out=self.largest)
        self.samples += np.bincount(action, minlength=n_actions)
        self.sums += np.bincount(action, weights=latency_ms, minlength=n_actions)
        np.maximum.at(self.maxima, action, latency_ms)

    def table(self) -> pd.DataFrame:
        """Rows: actions then the total; columns: :data:`LATENCY_KEYS`."""
        counts = np.vstack([self.counts, self.counts.sum(axis=0)])
        largest = np.vstack([self.largest, self.largest.max(axis=0, initial=-np.inf)])
        samples = np.append(self.samples, self.samples.sum())
        sums = np.append(self.sums, self.sums.sum())
        maxima = np.append(self.maxima, self.maxima.max(initial=-np.inf))
        maxima = np.where(samples > 0, maxima, np.nan)
        values = histogram.percentiles_ms(counts, largest, list(PERCENTILES))
        frame = pd.DataFrame(values, columns=list(PERCENTILE_KEYS))
        frame["max_ms"] = maxima
        with np.errstate(invalid="ignore", divide="ignore"):
            frame["mean_ms"] = np.where(samples > 0, sums / np.maximum(samples, 1), np.nan)
        return frame


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
        rows = self.errors if action is None else self.errors[self.errors["action"] == action]
        grouped = rows.groupby("error_kind", sort=True)["count"].sum()
        return {str(k): int(v) for k, v in grouped.items()}

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
        return document


def summarize(
    run: Run, *, latency: Latency | str = Latency.CORRECTED, bucket: str | float | None = None
) -> Summary:
    """Summarise ``run`` in one streaming pass; ``bucket`` (e.g. ``"5s"``) adds the over-time table.

    >>> summary = summarize(load_run("runs/1"), bucket="5s")   # doctest: +SKIP
    >>> summary.actions[["action", "count", "p99_ms"]]          # doctest: +SKIP
    """
    latency = Latency(latency)
    bucket_s = _bucket_seconds(bucket)
    actions, kinds = Codes(), Codes()
    stats = {kind.value: LatencyStats.empty(0) for kind in Latency}
    counts = np.zeros(0, dtype=np.int64)
    errors = np.zeros(0, dtype=np.int64)
    kind_pairs: list[np.ndarray] = []
    bytes_total = 0.0
    first_ns, last_ns = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    sessions = SessionAccumulator()
    over_time = TimeAccumulator(bucket_s, corrected=latency is Latency.CORRECTED) if bucket_s else None

    for arrays in _coalesced(run, actions, kinds):
        n = len(actions)
        counts = _grow(counts, n) + np.bincount(arrays.action, minlength=n)
        errors = _grow(errors, n) + np.bincount(arrays.action, weights=arrays.error, minlength=n).astype(
            np.int64
        )
        stats[Latency.CORRECTED.value].add(arrays.action, arrays.corrected_ms, n)
        stats[Latency.MEASURED.value].add(arrays.action, arrays.measured_ms, n)
        kind_pairs.append(np.stack([arrays.action[arrays.error], arrays.kind[arrays.error]], axis=1))
        if arrays.bytes is not None:
            bytes_total += float(np.nansum(arrays.bytes))
        ends = _end_ns(arrays)
        first_ns, last_ns = min(first_ns, int(arrays.ts_ns.min())), max(last_ns, int(ends.max()))
        sessions.add(arrays, ends)
        if over_time is not None:
            over_time.add(arrays)

    n = len(actions)
    for item in stats.values():
        item.grow(n)
    counts, errors = _grow(counts, n), _grow(errors, n)
    has_data = bool(counts.sum())
    duration_s = _duration_s(run, first_ns, last_ns) if has_data else _meta_duration_s(run)
    names = actions.names
    tables = {kind: _indexed(stats[kind].table(), names) for kind in stats}
    frame = pd.DataFrame({"action": names, "count": counts, "errors": errors})
    frame = frame.assign(**_rates(frame["count"].to_numpy(), frame["errors"].to_numpy(), duration_s))
    headline = tables[latency.value]
    frame = pd.concat([frame, headline.loc[names].reset_index(drop=True)], axis=1)
    frame = frame.sort_values("action", kind="stable").reset_index(drop=True)
    total_count, total_errors = int(counts.sum()), int(errors.sum())
    total = {"count": total_count, "errors": total_errors}
    total.update(
        {
            k: float(v[0])
            for k, v in _rates(np.array([total_count]), np.array([total_errors]), duration_s).items()
        }
    )
    total.update(headline.loc[TOTAL].to_dict())
    total["bytes"] = bytes_total
    order = [*frame["action"], TOTAL]
    rows = [[*names, TOTAL].index(a) for a in order]
    histograms = {
        kind: (
            np.vstack([item.counts, item.counts.sum(axis=0)])[rows],
            np.vstack([item.largest, item.largest.max(axis=0, initial=-np.inf)])[rows],
        )
        for kind, item in stats.items()
    }
    return Summary(
        run=_run_info(
            run, latency, duration_s, first_ns if has_data else None, last_ns if has_data else None
        ),
        actions=frame,
        total=total,
        latency={kind: table.loc[order] for kind, table in tables.items()},
        errors=_errors_table(kind_pairs, names, kinds.names),
        sessions={**sessions.result(), **_user_counts(run)},
        over_time=over_time.result(run.users, _start_ns(run, first_ns if has_data else None))
        if over_time is not None
        else None,
        histograms=histograms,
    )


def _coalesced(run: Run, actions: Codes, kinds: Codes) -> Iterator[BatchArrays]:
    """Decoded batches of at least :data:`FOLD_ROWS` rows (but the last), whatever the row-group size."""
    pending: list[BatchArrays] = []
    rows = 0
    available = run.columns()
    # duration_ms is only the fallback for a run without latency_ms: don't read it for nothing
    columns = [c for c in SUMMARY_COLUMNS if not (c == "duration_ms" and "latency_ms" in available)]
    for _path, batch in run.batches(columns):
        arrays = decode(batch, actions, kinds)
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


def _grow(values: np.ndarray, n: int) -> np.ndarray:
    return (
        np.concatenate([values, np.zeros(n - len(values), dtype=values.dtype)]) if len(values) < n else values
    )


def _end_ns(arrays: BatchArrays) -> np.ndarray:
    latency = np.nan_to_num(arrays.measured_ms, nan=0.0)
    return arrays.ts_ns + (latency * 1e6).astype(np.int64)


def _duration_s(run: Run, first_ns: int, last_ns: int) -> float:
    from_meta = _meta_duration_s(run)
    if from_meta is not None and from_meta > 0:
        return from_meta
    return max(last_ns - first_ns, 0) / 1e9


def _meta_duration_s(run: Run) -> float | None:
    started, ended = run.started, run.ended
    if started is None or ended is None:
        return None
    return (ended - started).total_seconds()


def _rates(count: np.ndarray, errors: np.ndarray, duration_s: float | None) -> dict[str, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        error_rate = np.where(count > 0, errors / np.maximum(count, 1), np.nan)
        rps = count / duration_s if duration_s else np.full(len(count), np.nan)
    return {"error_rate": error_rate, "rps": rps}


def _indexed(table: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    table.index = pd.Index([*names, TOTAL], name="action")
    return table


def _errors_table(pairs: list[np.ndarray], actions: list[str], kinds: list[str]) -> pd.DataFrame:
    stacked = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
    if not len(stacked):
        return pd.DataFrame(
            {
                "action": pd.Series([], dtype=str),
                "error_kind": pd.Series([], dtype=str),
                "count": pd.Series([], dtype=np.int64),
            }
        )
    unique, count = np.unique(stacked, axis=0, return_counts=True)
    frame = pd.DataFrame(
        {
            "action": [actions[a] for a in unique[:, 0]],
            "error_kind": [kinds[k] for k in unique[:, 1]],
            "count": count.astype(np.int64),
        }
    )
    return frame.sort_values(["action", "count"], ascending=[True, False], kind="stable").reset_index(
        drop=True
    )


def _user_counts(run: Run) -> dict[str, Any]:
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
        per_second = users.groupby(keys)["active_users"].max().groupby(level=0).sum()
        out["peak_active_users"] = int(per_second.max())
    for column in ("sessions_started", "sessions_dropped"):
        if column in users:
            out[column] = int(per_worker[column].max().sum())
    return out


def _run_info(
    run: Run, latency: Latency, duration_s: float | None, first_ns: int | None, last_ns: int | None
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


def _start_ns(run: Run, first_ns: int | None) -> int | None:
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
