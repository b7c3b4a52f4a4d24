"""Open a run directory (``run.json``, ``requests-<worker>.parquet``, ``users-<worker>.parquet``).

:func:`load_run` only validates and lists the files; the requests are read when asked for
(:attr:`Run.requests` for a notebook, :meth:`Run.batches` for streaming summaries of large runs), so
opening a 10 M-request run costs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracereplay.errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from tracereplay.report.summary import Summary

RUN_FORMAT = "tracereplay-run"
REQUEST_FILES = "requests-*.parquet"
USER_FILES = "users-*.parquet"
# Columns the report needs from requests files; only these are read when summarising.
LATENCY_COLUMNS = ("latency_corrected_ms", "latency_ms", "duration_ms")
CHUNK_ROWS = 1 << 18


@dataclass(frozen=True, kw_only=True)
class Run:
    """One run directory, opened. ``meta`` is ``run.json`` as a dict (empty if the run left none)."""

    path: Path
    meta: dict[str, Any]
    request_files: tuple[Path, ...]
    user_files: tuple[Path, ...]

    @cached_property
    def requests(self) -> pd.DataFrame:
        """Every request of the run as one DataFrame, sorted by ``ts`` (reads all columns: for notebooks)."""
        import pandas as pd
        import pyarrow as pa

        tables = [_read_table(path) for path in self.request_files]
        if not tables:
            return pd.DataFrame()
        table = pa.concat_tables(tables, promote_options="permissive")
        frame = table.to_pandas()
        return frame.sort_values("ts", kind="stable").reset_index(drop=True)

    @cached_property
    def users(self) -> pd.DataFrame:
        """The active-users samples of every worker (``ts, worker, active_users, sessions_*``)."""
        import pandas as pd
        import pyarrow as pa

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
        from tracereplay.report.summary import summarize

        return summarize(self)

    def over_time(self, bucket: str | float = "5s") -> pd.DataFrame:
        """The over-time table (see :func:`tracereplay.report.summary.summarize`) for ``bucket``."""
        from tracereplay.report.summary import summarize

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

        The runtime writes one small row group a second per worker; reading several at once amortises the
        per-row-group cost, while a chunk stays near :data:`CHUNK_ROWS` rows so memory is bounded.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        for path in self.request_files:
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
        import pyarrow.parquet as pq

        names: set[str] | None = None
        for path in self.request_files:
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
    meta = _read_meta(path / "run.json")
    request_files = _request_files(path)
    if not request_files:
        raise InputError(path, "not a run directory: no requests-*.parquet files")
    run = Run(
        path=path, meta=meta, request_files=request_files, user_files=tuple(sorted(path.glob(USER_FILES)))
    )
    missing = {"ts", "action"} - run.columns()
    if missing:
        raise InputError(request_files[0], f"requests file lacks column(s) {', '.join(sorted(missing))}")
    if not set(LATENCY_COLUMNS) & run.columns():
        raise InputError(
            request_files[0], f"requests file has no latency column ({', '.join(LATENCY_COLUMNS)})"
        )
    return run


def _request_files(run_dir: Path) -> tuple[Path, ...]:
    """One ``requests-<worker>.parquet`` per worker, or that worker's ``.partNNNNNN`` files if it has none.

    A worker writes a part a second and merges them on close; a crashed run leaves only parts, and a
    crash during the merge leaves both (the merged file then wins, so nothing is counted twice).
    """
    merged: dict[str, Path] = {}
    parts: dict[str, list[Path]] = {}
    for file in sorted(run_dir.glob(REQUEST_FILES)):
        worker, dot, rest = file.name.removeprefix("requests-").removesuffix(".parquet").partition(".")
        if dot and rest.startswith("part"):
            parts.setdefault(worker, []).append(file)
        else:
            merged[file.name] = file
    chosen = list(merged.values())
    for worker, files in parts.items():
        if f"requests-{worker}.parquet" not in merged:
            chosen.extend(files)
    return tuple(sorted(chosen))


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


def _read_meta(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}  # a run that crashed before writing run.json is still worth reporting
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(
            path, f"not valid JSON ({exc.msg})", where=f"line {exc.lineno} column {exc.colno}"
        ) from None
    except UnicodeDecodeError:
        raise InputError(path, "not valid JSON (not UTF-8 text)") from None
    if not isinstance(meta, dict):
        raise InputError(path, "not a run description (expected a JSON object)")
    if meta.get("format", RUN_FORMAT) != RUN_FORMAT:
        raise InputError(
            path, f"not a run description (format {meta.get('format')!r}, expected {RUN_FORMAT!r})"
        )
    return meta


def _read_table(path: Path) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

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
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
