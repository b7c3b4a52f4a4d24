"""CSV (any delimiter pandas sniffs: comma, tab, semicolon) and Parquet event tables with a column mapping.

``--columns user=uid,ts=time,action=event`` names the source column of each event-table column; without
a mapping the usual names are tried (``ts``/``timestamp``/``time``, ``user``/``user_id``/``userId``,
``session``/``session_id``, ``action``/``event``/``event_name`` …). ``ts`` may be ISO text or epoch
numbers in s/ms/µs/ns (told by magnitude). Needs ``ts``, ``user`` and either ``action`` or ``method`` +
``route``/``path``.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import closing
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from tracereplay.checked import series
from tracereplay.errors import InputError
from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import Coded, RawBatch
from tracereplay.ingest.readers.analytics import to_ns, to_numbers
from tracereplay.ingest.sniff import Peekable

ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "timestamp", "time", "start", "start_time", "event_time"),
    "user": ("user", "user_id", "userId", "uid", "distinct_id"),
    "session": ("session", "session_id", "sessionId"),
    "action": ("action", "event", "event_name", "name"),
    "method": ("method", "http_method"),
    "route": ("route", "http_route"),
    "path": ("path", "url_path"),
    "status": ("status", "status_code", "http_status"),
    "duration_ms": ("duration_ms", "latency_ms"),
    "error": ("error", "failed"),
}


def read(path: Path, stream: BinaryIO, options: IngestOptions) -> Generator[RawBatch, None, None]:
    source = "parquet" if options.format == "parquet" or _is_parquet(stream) else "csv"
    frames = _parquet_frames(path, options) if source == "parquet" else _csv_frames(path, stream, options)
    mapping: dict[str, str] | None = None
    with closing(frames):  # close the CSV reader while its stream is still open
        for frame in frames:
            if mapping is None:
                mapping = resolve_mapping(path, list(frame.columns), options.columns)
            yield _batch(frame, mapping, source)


def _is_parquet(stream: BinaryIO) -> bool:
    return isinstance(stream, Peekable) and stream.peek(4)[:4] == b"PAR1"


def _csv_frames(path: Path, stream: BinaryIO, options: IngestOptions) -> Generator[pd.DataFrame, None, None]:
    try:
        reader = pd.read_csv(stream, dtype=str, keep_default_na=False, chunksize=options.batch_spans,
                             sep=None, engine="python") if _needs_sniffing(stream) else pd.read_csv(
            stream, dtype=str, keep_default_na=False, chunksize=options.batch_spans)
        yield from reader
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"not a readable CSV table ({str(exc).splitlines()[0]})") from None


def _needs_sniffing(stream: BinaryIO) -> bool:
    """Tab- or semicolon-separated files need the delimiter sniffed (comma is the fast default)."""
    head = stream.peek(4096)[:4096] if isinstance(stream, Peekable) else b","
    first = head.split(b"\n", 1)[0]
    return b"," not in first and (b"\t" in first or b";" in first)


def _parquet_frames(path: Path, options: IngestOptions) -> Generator[pd.DataFrame, None, None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=options.batch_spans):
            yield batch.to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(path, f"not a readable Parquet table ({str(exc).splitlines()[0]})") from None


def resolve_mapping(path: Path, columns: list[str], given: dict[str, str]) -> dict[str, str]:
    """Event-table column → source column, from ``--columns`` and the usual names."""
    mapping: dict[str, str] = {}
    problems = [f"column {source!r} (for {target}) is not in the file" for target, source in given.items()
                if source not in columns]
    for target, aliases in ALIASES.items():
        if target in given:
            mapping[target] = given[target]
            continue
        found = next((c for c in aliases if c in columns), None)
        if found is not None:
            mapping[target] = found
    for needed in ("ts", "user"):
        if needed not in mapping:
            problems.append(f"no {needed} column (name it with --columns {needed}=COLUMN)")
    problems += [f"column {name!r} appears more than once" for name in dict.fromkeys(mapping.values())
                 if columns.count(name) > 1]
    if "action" not in mapping and not ("method" in mapping and ("route" in mapping or "path" in mapping)):
        problems.append("no action column, nor method + route/path (name them with --columns action=COLUMN)")
    if problems:
        raise InputError(path, "; ".join(problems) + f" (columns: {', '.join(columns[:20])})")
    return mapping


def _batch(frame: pd.DataFrame, mapping: dict[str, str], source: str) -> RawBatch:
    n = len(frame)

    def series_of(name: str) -> pd.Series:
        # a DataFrame only if the name repeats, which resolve_mapping refuses
        return series(frame[mapping[name]])

    def column(name: str) -> np.ndarray:
        values = series_of(name)
        text = values.astype(str).to_numpy(dtype=object)
        text[values.isna().to_numpy() | (text == "")] = None
        return text

    ts_values = series_of("ts")
    if pd.api.types.is_datetime64_any_dtype(ts_values):
        ts = series(pd.to_datetime(ts_values, utc=True)).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    else:
        ts = to_ns(ts_values.tolist())
    columns: dict[str, np.ndarray | Coded] = {"ts": ts, "end": np.zeros(n, dtype=np.int64)}
    for name in ("user", "session", "action", "method", "route", "path"):
        if name in mapping:
            columns[name] = column(name)
    if "user" in mapping:
        columns["user_key"] = np.full(n, mapping["user"], dtype=object)
    if "status" in mapping:
        columns["status"] = to_numbers(series_of("status")).to_numpy(dtype=float)
    if "duration_ms" in mapping:
        duration = to_numbers(series_of("duration_ms")).to_numpy(dtype=float)
        duration_ns = np.round(np.nan_to_num(duration) * 1e6).astype(np.int64)  # add ints, not floats
        columns["end"] = np.where(np.isnan(duration), 0, ts + duration_ns)
    if "error" in mapping:
        flags = series_of("error").astype(str).str.lower().isin(["true", "1", "yes"])
        columns["span_error"] = flags.to_numpy(dtype=bool)
    return RawBatch(n=n, columns=columns, source=source, read=n)
