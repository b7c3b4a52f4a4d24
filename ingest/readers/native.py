"""The compiled scanners' side in Python: their column spec, their output columns, and batches from them.

A scanner (``tracereplay.ingest._native``, C) writes every kept span into a :class:`SpanColumns`: times,
kind, flags and int32 codes of strings interned into one :class:`Pool` per column for the whole file. So a
batch's string columns are :class:`Coded` over dictionaries shared by every batch of the file, and Python
touches each distinct string once, never each span.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np

from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import AttributeTable, Coded, RawBatch

try:
    from tracereplay.ingest import _native
except ImportError:  # built without a C compiler: readers fall back to their Python paths
    _native = None

#: rows a batch holds. Per-batch work after the reader is O(rows + new distinct values) (dictionaries are
#: shared), so batches only need to be large enough to amortise numpy call overheads; smaller ones keep the
#: progress line moving and transient memory low (1 M-row batches measured no faster than 128 k).
BATCH_ROWS = 1 << 17
#: logical columns only read where another is missing: url stands in for path, client/agent for the user
_FALLBACK_FOR = {"url": "path", "client": "user", "agent": "user"}


def available() -> bool:
    """Whether the compiled scanners are there; says once per process (a warning) when they are not."""
    global _missing_said
    if _native is None and not _missing_said:
        _missing_said = True
        warnings.warn("the compiled OTLP scanners were not built (no C compiler at install): reading with "
                      "the Python readers, ~10-20x slower; reinstall with gcc and the Python headers",
                      RuntimeWarning, stacklevel=3)
    return _native is not None


_missing_said = False


def _scanners():
    """The compiled module; callers check :func:`available` first, so its absence here is a bug."""
    if _native is None:
        raise RuntimeError("the compiled scanners are not built: check native.available() first")
    return _native


OK = 0


def count_pb(block, framing: int) -> tuple[int, int, int, int, int]:
    """(spans, 0, bytes of whole messages, error, error offset) of an OTLP protobuf block."""
    return _scanners().count_pb(block, framing)


def scan_pb(block, framing: int, sink, row0: int) -> tuple[int, int, int, int, int]:
    """(spans read, spans kept, bytes of whole messages, error, error offset); kept rows from ``row0``."""
    return _scanners().scan_pb(block, framing, sink, row0)


class SpanColumns:
    """Numpy columns a scanner fills through a bound ``Sink``; handed out as :class:`RawBatch` objects."""

    def __init__(self, options: IngestOptions, source: str, batch_rows: int = BATCH_ROWS) -> None:
        table = AttributeTable(options)
        self.source, self.batch_rows = source, batch_rows
        self.logical = list(dict.fromkeys(table.logical))  # column names in first-use order
        position = {name: j for j, name in enumerate(self.logical)}
        self.key_names = np.array(table.keys, dtype=object)
        scanners = _scanners()
        self.pools = tuple(None if name == "status" else scanners.Pool() for name in self.logical)
        self.name_pool, self.service_pool = scanners.Pool(), scanners.Pool()
        kinds = options.kind_codes
        self.sink = scanners.Sink(
            keys=tuple(key.encode() for key in table.keys),
            key_logical=bytes(position[name] for name in table.logical),
            fallback_of=np.array([position.get(_FALLBACK_FOR.get(name, ""), -1) for name in self.logical],
                                 dtype=np.int8).tobytes(),
            numeric=bytes(name == "status" for name in self.logical),
            user_logical=position.get("user", -1),
            keep_kind=bytes(kinds is None or k in kinds for k in range(8)),
            pools=self.pools, name_pool=self.name_pool, service_pool=self.service_pool,
        )
        self.rows = self.read = 0
        self._allocate(batch_rows)

    def _allocate(self, capacity: int) -> None:
        self.columns = {
            "start": np.empty(capacity, np.int64), "end": np.empty(capacity, np.int64),
            "kind": np.empty(capacity, np.int8), "root": np.empty(capacity, np.bool_),
            "error": np.empty(capacity, np.bool_), "status": np.empty(capacity, np.float64),
            "name": np.empty(capacity, np.int32), "service": np.empty(capacity, np.int32),
            "user_key": np.empty(capacity, np.int32),
            "codes": np.empty((len(self.logical), capacity), np.int32),
        }
        self.sink.bind(**self.columns)
        self.rows = self.read = 0

    def make_room(self, spans: int) -> RawBatch | None:
        """Make room for ``spans`` more rows: returns the full batch to hand on, if one had to be closed."""
        if self.rows + spans <= self.sink.capacity:
            return None
        batch = self.take()
        if spans > self.sink.capacity:
            self._allocate(spans)
        return batch

    def scanned(self, read: int, kept: int) -> None:
        """Count what a scanner call read and kept (it wrote rows ``self.rows`` … ``self.rows + kept``)."""
        self.read += read
        self.rows += kept

    def take(self) -> RawBatch | None:
        """The rows so far as a batch (None when nothing was read); new columns are bound for what follows.

        The batch's arrays are views of the filled columns (no copy); untouched capacity of ``np.empty``
        arrays is never paged in, so a small file costs no more memory than its rows.
        """
        if not self.read:
            return None
        n, c = self.rows, self.columns
        columns: dict[str, np.ndarray | Coded] = {
            "ts": c["start"][:n], "end": c["end"][:n], "kind": c["kind"][:n], "root": c["root"][:n],
            "span_error": c["error"][:n],
            "name": Coded(c["name"][:n], self.name_pool.values),
            "service": Coded(c["service"][:n], self.service_pool.values),
        }
        for j, (name, pool) in enumerate(zip(self.logical, self.pools, strict=True)):
            if pool is None:  # status: numbers, no pool
                columns[name] = c["status"][:n]
                continue
            columns[name] = Coded(c["codes"][j, :n], pool.values)  # the pool's own list: shared
            if name == "user":
                columns["user_key"] = Coded(c["user_key"][:n], self.key_names)
        dropped = Counter({"span kind": self.read - n}) if self.read > n else Counter()
        batch = RawBatch(n=n, columns=columns, source=self.source, read=self.read, dropped=dropped)
        self._allocate(self.batch_rows)
        return batch


# --- OTLP/JSON (scan_json.c) ---------------------------------------------------------------------------

#: scan_json statuses: OK, then invalid JSON (cut short / malformed), valid JSON that is not OTLP, a document
#: that needs more room than the bound columns have left (mirrors scan_json.c and scanners.h)
JSON_TRUNCATED, JSON_MALFORMED, JSON_NOT_OTLP, JSON_FULL = 1, 2, 3, 4


def scan_json(block, sink, row0: int, start: int,
              lines: bool) -> tuple[int, int, int, int, int, int, str | None]:
    """OTLP/JSON from ``block[start:]`` (JSON lines, or one document) into rows ``row0``…

    Returns (spans read, spans kept, status, offset, newlines passed, rows needed, message). On ``JSON_FULL``
    nothing of the document at ``offset`` is kept: make room for ``rows needed`` and resume there.
    """
    return _scanners().scan_json(block, sink, row0, start, lines)
