"""A small builder of run directories that follow docs/architecture.md's contract, with real Parquet files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracereplay.ingest.events import to_arrow

START = pd.Timestamp("2026-01-01T12:00:00Z")

REQUEST_EXTRA = {
    "intended": pa.timestamp("ns", tz="UTC"),
    "latency_ms": pa.float64(),
    "latency_corrected_ms": pa.float64(),
    "error_kind": pa.string(),
    "bytes": pa.int64(),
    "worker": pa.int32(),
}


def requests_frame(
    *,
    actions: list[str],
    latency_ms: np.ndarray,
    offsets_s: np.ndarray,
    error_kind: list[str | None] | None = None,
    sessions: list[str] | None = None,
    corrected_extra_ms: np.ndarray | None = None,
    worker: int = 0,
) -> pd.DataFrame:
    """Requests in the run contract from plain arrays (one element per request)."""
    n = len(actions)
    kinds = error_kind if error_kind is not None else [None] * n
    extra = corrected_extra_ms if corrected_extra_ms is not None else np.zeros(n)
    ts = START + pd.to_timedelta(np.asarray(offsets_s, dtype=float), unit="s")
    sessions = sessions if sessions is not None else [f"w{worker}-s{i // 5}" for i in range(n)]
    return pd.DataFrame(
        {
            "ts": ts,
            "user": [f"u-{s}" for s in sessions],
            "session": sessions,
            "action": actions,
            "method": [a.split(" ")[0] for a in actions],
            "route": [a.split(" ")[-1] for a in actions],
            "path": [a.split(" ")[-1] for a in actions],
            "status": [
                500 if k == "http_5xx" else (404 if k == "http_4xx" else (None if k else 200)) for k in kinds
            ],
            "duration_ms": np.asarray(latency_ms, dtype=float),
            "error": [k is not None for k in kinds],
            "source": "run",
            "intended": ts - pd.to_timedelta(extra, unit="ms"),
            "latency_ms": np.asarray(latency_ms, dtype=float),
            "latency_corrected_ms": np.asarray(latency_ms, dtype=float) + extra,
            "error_kind": kinds,
            "bytes": np.full(n, 100),
            "worker": worker,
        }
    )


def write_requests(path: Path, frame: pd.DataFrame, *, row_group_rows: int = 1000) -> None:
    table = to_arrow(frame.assign(status=frame["status"].astype("Int64")))
    schema = pa.schema(
        [(REQUEST_EXTRA.get(f.name) and pa.field(f.name, REQUEST_EXTRA[f.name])) or f for f in table.schema]
    )
    pq.write_table(table.cast(schema), path, row_group_size=row_group_rows)


def write_users(path: Path, *, worker: int, active: list[int]) -> None:
    n = len(active)
    frame = pd.DataFrame(
        {
            "ts": START + pd.to_timedelta(np.arange(n), unit="s"),
            "worker": np.full(n, worker, dtype=np.int32),
            "active_users": np.asarray(active, dtype=np.int64),
            "sessions_started": np.arange(1, n + 1, dtype=np.int64),  # cumulative, as the runtime counts
            "sessions_dropped": np.zeros(n, dtype=np.int64),
        }
    )
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def write_run(
    directory: Path,
    workers: list[pd.DataFrame],
    *,
    duration_s: float | None = 10.0,
    users: list[list[int]] | None = None,
) -> Path:
    """A run directory with one requests file per worker (and users files if given)."""
    directory.mkdir(parents=True, exist_ok=True)
    for worker, frame in enumerate(workers):
        write_requests(directory / f"requests-{worker}.parquet", frame)
    for worker, active in enumerate(users or []):
        write_users(directory / f"users-{worker}.parquet", worker=worker, active=active)
    if duration_s is not None:
        meta = {
            "format": "tracereplay-run",
            "version": 1,
            "tracereplay": "0.1.0",
            "target": "http://127.0.0.1:9",
            "model": "model.json",
            "model_sha256": "0" * 64,
            "config": {"users": 3},
            "workers": len(workers),
            "started": START.isoformat(),
            "ended": (START + pd.Timedelta(seconds=duration_s)).isoformat(),
            "exit_reason": "duration",
            "requests": int(sum(len(w) for w in workers)),
        }
        (directory / "run.json").write_text(json.dumps(meta))
    return directory


def random_workers(
    rng: np.random.Generator,
    *,
    n: int,
    workers: int = 2,
    scale: float = 1.0,
    actions: tuple[str, ...] = ("GET /api/a", "POST /api/b", "GET /api/c/{id}"),
) -> list[pd.DataFrame]:
    """Lognormal latencies over ``actions``; about 2 % errors; ~10 s of traffic."""
    frames = []
    for worker in range(workers):
        names = list(rng.choice(list(actions), size=n))
        latency = rng.lognormal(mean=np.log(20), sigma=0.6, size=n) * scale
        kinds = list(rng.choice([None, "http_5xx", "timeout"], size=n, p=[0.98, 0.015, 0.005]))
        offsets = np.sort(rng.uniform(0, 10, size=n))
        sessions = [f"w{worker}-s{i // 4}" for i in range(n)]
        frames.append(
            requests_frame(
                actions=names,
                latency_ms=latency,
                offsets_s=offsets,
                error_kind=kinds,
                sessions=sessions,
                worker=worker,
            )
        )
    return frames


def nearest_rank(samples, p: float) -> float:
    """The textbook nearest-rank percentile, computed independently with exact rational arithmetic."""
    import math
    from fractions import Fraction

    ordered = sorted(samples)
    rank = max(math.ceil(Fraction(str(p)) / 100 * len(ordered)), 1)
    return float(ordered[rank - 1])


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def build(workers: list[pd.DataFrame], **options) -> Path:
        return write_run(tmp_path / f"run{next(counter)}", workers, **options)

    return build
