"""Open a run directory (``run.json``, each worker's ``requests-<w>`` and ``users-<w>`` files).

Which files make up a run, and ``run.json``'s schema, are :mod:`tracereplay.rundir`'s: a finished worker
left Parquet, a crashed one its Arrow stream (read up to its last complete second). :func:`load_run` only
validates and lists the files; the requests are read when asked for (:attr:`Run.requests` for a notebook,
:meth:`Run.batches` for streaming summaries of large runs), so opening a 10 M-request run costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tracereplay import rundir
from tracereplay.errors import InputError
from tracereplay.report.summary import Summary, summarize
from tracereplay.report.websocket import deliveries_of, read_ws

# Columns the report needs from requests files; only these are read when summarising.
LATENCY_COLUMNS = ("latency_corrected_ms", "latency_ms", "duration_ms")
CHUNK_ROWS = 1 << 18


@dataclass(frozen=True, kw_only=True)
class Run:
    """One run directory, opened. ``meta`` is ``run.json`` as a dict (validated by
    :func:`tracereplay.rundir.read_run_json`; empty if the run left none)."""

    path: Path
    meta: dict[str, Any]
    request_files: tuple[Path, ...]
    user_files: tuple[Path, ...]
    ws_files: tuple[Path, ...] = ()  # only when the run's users held websockets

    @cached_property
    def websocket(self) -> pd.DataFrame:
        """Every websocket row of the run (``tracereplay.rundir.WS_SCHEMA``), sorted by ``ts``."""
        return read_ws(self.ws_files).sort_values("ts", kind="stable").reset_index(drop=True)

    @cached_property
    def deliveries(self) -> pd.DataFrame:
        """A row per delivery: ``type``, ``correlation``, ``user`` (receiver), ``sender``, ``latency_ms``."""
        return deliveries_of(self.websocket)

    @cached_property
    def requests(self) -> pd.DataFrame:
        """Every request of the run as one DataFrame, sorted by ``ts`` (reads all columns: for notebooks)."""
        tables = [_read_table(path) for path in self.request_files]
        if not tables:
            return pd.DataFrame()
        table = pa.concat_tables(tables, promote_options="permissive")
        frame = table.to_pandas()
        return frame.sort_values("ts", kind="stable").reset_index(drop=True)

    @cached_property
    def users(self) -> pd.DataFrame:
        """The active-users samples of every worker (``ts, worker, active_users, sessions_*``)."""
        tables = [_read_table(path) for path in self.user_files]
        if not tables:
            return pd.DataFrame(
                {"ts": pd.Series([], dtype="datetime64[ns, UTC]"), "worker": [], "active_users": []}
            )
        frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
        return frame.sort_values("ts", kind="stable").reset_index(drop=True)

    @cached_property
    def summary(self) -> Summary:
        """The run's :class:`~tracereplay.report.summary.Summary` (computed once, corrected latency)."""
        return summarize(self)

    def over_time(self, bucket: str | float = "5s") -> pd.DataFrame:
        """The over-time table (see :func:`tracereplay.report.summary.summarize`) for ``bucket``."""
        over_time = summarize(self, bucket=bucket).over_time
        assert over_time is not None
        return over_time

    @property
    def started(self) -> datetime | None:
        return _iso(self.meta.get("started"))

    @property
    def ended(self) -> datetime | None:
        return _iso(self.meta.get("ended"))

    def batches(self, columns: list[str]) -> Iterator[tuple[Path, pa.Table]]:
        """Stream ``columns`` (those present) of every requests file in chunks of whole row groups.

        Reading several row groups (or stream batches) at once amortises the per-group cost, while a chunk
        stays near :data:`CHUNK_ROWS` rows so memory is bounded.
        """
        for path in self.request_files:
            if rundir.is_stream(path):
                yield from _stream_chunks(path, columns)
                continue
            try:
                parquet = pq.ParquetFile(path, read_dictionary=["action", "error_kind", "session"])
                present = [c for c in columns if c in parquet.schema_arrow.names]
                for group in _row_group_chunks(parquet.metadata, CHUNK_ROWS):
                    # one thread: on a shared machine Arrow's decoding threads cost more than they give
                    yield path, parquet.read_row_groups(group, columns=present, use_threads=False)
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(path, f"not a readable Parquet requests file ({_first_line(exc)})") from None

    def columns(self) -> set[str]:
        """Columns present in every requests file."""
        names: set[str] | None = None
        for path in self.request_files:
            if rundir.is_stream(path):
                file_names = set(rundir.stream_schema(path).names)
                names = file_names if names is None else names & file_names
                continue
            try:
                file_names = set(pq.read_schema(path).names)
            except Exception as exc:
                raise InputError(path, f"not a readable Parquet requests file ({_first_line(exc)})") from None
            names = file_names if names is None else names & file_names
        return names or set()


def load_run(run_dir: str | Path) -> Run:
    """Open a run directory written by ``tracereplay run``.

    >>> run = load_run("runs/1")            # doctest: +SKIP
    >>> run.requests.groupby("action").size()  # doctest: +SKIP
    >>> run.summary.actions                  # doctest: +SKIP
    """
    path = Path(run_dir)
    if not path.exists():
        raise InputError(path, "no such run directory")
    if not path.is_dir():
        raise InputError(path, "not a run directory (expected a folder with run.json and requests-*.parquet)")
    meta = rundir.read_run_json(path)
    request_files = rundir.worker_files(path, rundir.REQUESTS)
    if not request_files:
        raise InputError(path, "not a run directory: no requests-*.parquet files")
    run = Run(
        path=path,
        meta=meta.to_dict() if meta is not None else {},
        request_files=request_files,
        user_files=rundir.worker_files(path, rundir.USERS),
        ws_files=rundir.worker_files(path, rundir.WS),
    )
    missing = {"ts", "action"} - run.columns()
    if missing:
        raise InputError(request_files[0], f"requests file lacks column(s) {', '.join(sorted(missing))}")
    if not set(LATENCY_COLUMNS) & run.columns():
        raise InputError(
            request_files[0], f"requests file has no latency column ({', '.join(LATENCY_COLUMNS)})"
        )
    return run


def _stream_chunks(path: Path, columns: list[str]) -> Iterator[tuple[Path, pa.Table]]:
    """A crashed worker's stream in chunks of about :data:`CHUNK_ROWS` rows (its complete seconds)."""
    present = [c for c in columns if c in rundir.stream_schema(path).names]
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in rundir.stream_batches(path, present):
        pending.append(batch)
        rows += batch.num_rows
        if rows >= CHUNK_ROWS:
            yield path, pa.Table.from_batches(pending)
            pending, rows = [], 0
    if pending:
        yield path, pa.Table.from_batches(pending)


def _row_group_chunks(metadata: Any, rows: int) -> Iterator[list[int]]:
    """Consecutive row-group indices, grouped so each group holds about ``rows`` rows (at least one group)."""
    group: list[int] = []
    count = 0
    for index in range(metadata.num_row_groups):
        group.append(index)
        count += metadata.row_group(index).num_rows
        if count >= rows:
            yield group
            group, count = [], 0
    if group:
        yield group


def _read_table(path: Path) -> pa.Table:
    if rundir.is_stream(path):
        return pa.Table.from_batches(list(rundir.stream_batches(path)), rundir.stream_schema(path))
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(path, f"not a readable Parquet file ({_first_line(exc)})") from None


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
