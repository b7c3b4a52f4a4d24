"""Turn a chunk of a requests file (an Arrow table) into the numpy arrays the aggregators need.

Action and error-kind names are mapped to stable integer codes shared across files and batches
(:class:`Codes`), so aggregators can use ``numpy.bincount`` instead of grouping strings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

# Columns read from requests files when summarising (those absent in a file are skipped).
SUMMARY_COLUMNS = [
    "ts",
    "action",
    "error",
    "error_kind",
    "session",
    "bytes",
    "latency_corrected_ms",
    "latency_ms",
    "duration_ms",
    "expected",
    "long_poll",
]
UNKNOWN_KIND = "unknown"  # an error row without an error_kind


class Codes:
    """Names → dense integer codes, in order of first appearance."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.names)

    def code(self, name: str) -> int:
        if name not in self._index:
            self._index[name] = len(self.names)
            self.names.append(name)
        return self._index[name]

    def encode(self, column: pa.Array | pa.ChunkedArray, *, null: str | None = None) -> np.ndarray:
        """Codes of every value of a string column (dictionary-encoded or not); nulls become ``null``."""
        if isinstance(column, pa.ChunkedArray):
            if not column.num_chunks:
                return np.zeros(0, dtype=np.int64)
            if pa.types.is_dictionary(column.type):
                # each row group carries its own dictionary: share one, then map it once
                unified = column.unify_dictionaries()
                column = pa.DictionaryArray.from_arrays(
                    pa.chunked_array([c.indices for c in unified.chunks]).combine_chunks(),
                    unified.chunk(0).dictionary,
                )
            else:
                column = column.combine_chunks()
        if not pa.types.is_dictionary(column.type):
            column = column.dictionary_encode()
        mapping = np.array([self.code(str(v)) for v in column.dictionary.to_pylist()] or [0], dtype=np.int64)
        indices = column.indices
        if indices.null_count:
            fill = self.code(null) if null is not None else -1
            return np.where(
                indices.is_null().to_numpy(zero_copy_only=False),
                fill,
                mapping[indices.fill_null(0).to_numpy().astype(np.int64)],
            )
        return mapping[indices.to_numpy().astype(np.int64)]


@dataclass(frozen=True, kw_only=True)
class BatchArrays:
    """One batch of requests as numpy arrays (length n)."""

    action: np.ndarray  # int64 action codes
    ts_ns: np.ndarray  # int64 ns since the epoch (actual start)
    corrected_ms: np.ndarray  # float64, NaN where unknown
    measured_ms: np.ndarray  # float64, NaN where unknown
    error: np.ndarray  # bool
    kind: np.ndarray  # int64 error-kind codes, -1 where the row has none
    session: pa.Array | pa.ChunkedArray | None  # the raw session column (dictionary chunks) when present
    bytes: np.ndarray | None  # float64 bytes received, NaN where unknown
    expected: np.ndarray  # bool: an HTTP error status the pack expected (false in older runs)
    long_poll: np.ndarray  # bool: a long-poll request (false in older runs)

    def __len__(self) -> int:
        return len(self.action)

    def select(self, keep: np.ndarray) -> BatchArrays:
        """The rows where ``keep`` is true."""
        session = self.session
        if session is not None:
            session = session.filter(pa.array(keep))
        return BatchArrays(
            action=self.action[keep],
            ts_ns=self.ts_ns[keep],
            corrected_ms=self.corrected_ms[keep],
            measured_ms=self.measured_ms[keep],
            error=self.error[keep],
            kind=self.kind[keep],
            session=session,
            bytes=None if self.bytes is None else self.bytes[keep],
            expected=self.expected[keep],
            long_poll=self.long_poll[keep],
        )


def decode(batch: pa.Table | pa.RecordBatch, actions: Codes, kinds: Codes) -> BatchArrays:
    """Decode one chunk; missing optional columns get their documented fallbacks."""
    names = batch.schema.names
    ts = batch.column("ts")
    if pa.types.is_timestamp(ts.type):
        ts = ts.cast(pa.timestamp("ns", tz=ts.type.tz)).cast(pa.int64())
    ts_ns = ts.to_numpy(zero_copy_only=False).astype(np.int64)
    measured = _floats(batch, "latency_ms") if "latency_ms" in names else _floats(batch, "duration_ms")
    corrected = _floats(batch, "latency_corrected_ms") if "latency_corrected_ms" in names else measured
    # a row with no corrected latency (no intended start known) counts as measured: wrk2's rule degenerates
    corrected = np.where(np.isnan(corrected), measured, corrected)
    kind = kinds.encode(batch.column("error_kind")) if "error_kind" in names else np.full(len(ts_ns), -1)
    if "error" in names:
        error = batch.column("error").fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
    else:
        error = kind >= 0
    kind = np.where(error & (kind < 0), kinds.code(UNKNOWN_KIND), kind)
    return BatchArrays(
        action=actions.encode(batch.column("action"), null="(none)"),
        ts_ns=ts_ns,
        corrected_ms=corrected,
        measured_ms=measured,
        error=error,
        kind=kind,
        session=batch.column("session") if "session" in names else None,
        bytes=_floats(batch, "bytes") if "bytes" in names else None,
        expected=_flags(batch, "expected", len(ts_ns)),
        long_poll=_flags(batch, "long_poll", len(ts_ns)),
    )


def _flags(batch: pa.Table | pa.RecordBatch, name: str, n: int) -> np.ndarray:
    """A boolean column (nulls false), or all false when the file predates it."""
    if name not in batch.schema.names:
        return np.zeros(n, dtype=bool)
    return batch.column(name).fill_null(False).to_numpy(zero_copy_only=False).astype(bool)


def _floats(batch: pa.Table | pa.RecordBatch, name: str) -> np.ndarray:
    column = batch.column(name).cast(pa.float64())
    return column.to_numpy(zero_copy_only=False).astype(np.float64)


def concat(parts: list[BatchArrays]) -> BatchArrays:
    """Several decoded batches as one (workers write small row groups; folding each alone costs more)."""
    if len(parts) == 1:
        return parts[0]

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    sessions = [p.session for p in parts if p.session is not None]
    session = None
    if len(sessions) == len(parts):
        chunks = [c for s in sessions for c in (s.chunks if isinstance(s, pa.ChunkedArray) else [s])]
        session = pa.chunked_array(chunks, type=chunks[0].type) if chunks else None
    sizes = [p.bytes for p in parts if p.bytes is not None]
    return BatchArrays(
        action=joined("action"),
        ts_ns=joined("ts_ns"),
        corrected_ms=joined("corrected_ms"),
        measured_ms=joined("measured_ms"),
        error=joined("error"),
        kind=joined("kind"),
        session=session,
        bytes=np.concatenate(sizes) if len(sizes) == len(parts) else None,
        expected=joined("expected"),
        long_poll=joined("long_poll"),
    )
