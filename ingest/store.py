"""The compact in-memory form of the event table while a dump streams in.

Each row costs ~50 bytes: times as int64, every string as an int32 code into a table of distinct values
(users, sessions, actions, paths … repeat a lot). Sorting, sessionizing and filtering work on the codes;
strings are only rebuilt one Parquet row group at a time when writing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from tracereplay.ingest.events import EVENT_SCHEMA
from tracereplay.ingest.identify import borrow_session_users
from tracereplay.ingest.normalize import Normalized
from tracereplay.ingest.raw import Dictionary
from tracereplay.ingest.sessions import Sessions, assign_sessions

_CODED = ("user", "user_key", "session", "action", "method", "route", "path", "service", "source")
#: coded columns whose dictionaries stay fixed once rows are in: stored in the narrowest integer type
_NARROW = ("action", "method", "route", "path", "service", "source")
#: string columns of the event table, written as dictionary arrays
STRING_COLUMNS = tuple(f.name for f in EVENT_SCHEMA if f.type == pa.string())
#: the event table with its strings as dictionary<int32, string>: what :func:`record_batches` yields.
#: Parquet stores both alike (dictionary-encoded strings), and files written without the Arrow schema
#: read back as plain strings, i.e. as EVENT_SCHEMA.
DICTIONARY_SCHEMA = pa.schema([
    pa.field(f.name, pa.dictionary(pa.int32(), pa.string()), nullable=f.nullable) if f.name in STRING_COLUMNS
    else f for f in EVENT_SCHEMA])


class EventStore:
    """Accumulates normalized batches as codes, then filters, sessionizes and sorts them."""

    def __init__(self) -> None:
        self.dictionaries = {name: Dictionary() for name in _CODED}
        self.parts: dict[str, list[np.ndarray]] = {}

    def add(self, rows: Normalized) -> None:
        """Keep a batch's rows: O(rows), the strings being codes of dictionaries that live for the ingest."""
        if not len(rows):
            return
        columns = {
            # a view may be of a reader's buffer: kept rows must not change if the reader reuses it
            "ts": rows.ts.copy() if rows.ts.base is not None else rows.ts,
            "duration_ms": rows.duration_ms,  # end = ts + duration: not stored twice
            "status": np.where(np.isnan(rows.status), -1, rows.status).astype(np.int32),
            "error": np.asarray(rows.error, dtype=bool), "root": np.array(rows.root, dtype=bool),
        }
        for name in _CODED:
            dictionary = self.dictionaries[name]
            if name == "source":
                columns[name] = np.full(len(rows), dictionary.code(rows.source), dtype=np.int32)
            else:
                codes = dictionary.translate(getattr(rows, name))
                columns[name] = codes.copy() if codes is getattr(rows, name).codes else codes
        for name in _NARROW:  # the dictionary only grows: the type that fits now may be widened later
            columns[name] = columns[name].astype(_code_type(len(self.dictionaries[name])))
        for name, values in columns.items():
            self.parts.setdefault(name, []).append(values)

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts.get("ts", []))

    def consolidate(self) -> dict[str, np.ndarray]:
        """All batches as one array per column, each batch's piece freed as soon as it is copied."""
        for name, parts in self.parts.items():
            if len(parts) == 1 and (name not in _NARROW or parts[0].dtype == self._type(name)):
                continue
            kind = self._type(name) if name in _NARROW else parts[0].dtype
            out = np.empty(sum(len(p) for p in parts), dtype=kind)
            at = 0
            while parts:  # pages of ``out`` are touched as pieces are freed: no second copy of the column
                piece = parts.pop(0)
                out[at:at + len(piece)] = piece
                at += len(piece)
                del piece
            parts.append(out)
        return {name: parts[0] for name, parts in self.parts.items()}

    def _type(self, name: str) -> np.dtype:
        return _code_type(len(self.dictionaries[name]))

    def keep_services(self, services: tuple[str, ...], dropped: Counter[str]) -> None:
        """Keep the given services, or (when none are given) the entry services: those with root spans.

        If no service has a root span (every span has a parent outside the dump), every service is kept.
        """
        if not len(self):
            return
        columns = self.consolidate()
        service = columns["service"]
        names = self.dictionaries["service"].values
        wanted = np.zeros(len(names) + 1, dtype=bool)  # by service code; the spare last slot is code −1
        if services:
            chosen = set(services)
            wanted[[i for i, name in enumerate(names) if name in chosen]] = True
            reason = "service not selected"
        else:
            wanted[service[columns["root"]]] = True
            reason = "not the entry service"
            if not wanted.any():
                return
        keep = wanted[service]
        removed = int((~keep).sum())
        if removed:
            dropped[reason] += removed
            self._keep_rows(columns, keep)

    def drop_unidentified(self, dropped: Counter[str]) -> None:
        """Identify rows through their session, then drop the rows still without a user.

        Runs after the service filter, so dropped rows are counted under the reason that applies first.
        """
        if not len(self):
            return
        columns = self.consolidate()
        borrow_session_users(columns["user"], columns["user_key"], columns["session"],
                             self.dictionaries["session"].values, self.dictionaries["user"].intern,
                             self.dictionaries["user_key"].intern)
        keep = columns["user"] >= 0
        removed = int((~keep).sum())
        if removed:
            dropped["no user identity"] += removed
            self._keep_rows(columns, keep)

    def _keep_rows(self, columns: dict[str, np.ndarray], keep: np.ndarray) -> None:
        """Filter every column, one at a time (bounded extra memory)."""
        for name in list(columns):
            self.parts[name] = [columns.pop(name)[keep]]

    def finish(self, gap_s: float) -> tuple[dict[str, np.ndarray], np.ndarray | None, Sessions]:
        """Consolidated columns, the time order of rows (None when they already are in order), sessions."""
        columns = self.consolidate()
        ts = columns["ts"]
        end = columns["duration_ms"] * 1e6  # in place from here: one temporary column, not four
        np.nan_to_num(end, copy=False)
        np.round(end, out=end)
        end = end.astype(np.int64)
        end += ts
        sessions = assign_sessions(columns["user"], ts, end, columns["session"], int(gap_s * 1e9))
        del end
        order = None if bool((ts[1:] >= ts[:-1]).all()) else np.argsort(ts, kind="stable")
        return columns, order, sessions


def record_batches(columns: dict[str, np.ndarray], order: np.ndarray | None, row_session: np.ndarray,
                   labels: dict[str, list[str]], rows_per_batch: int) -> Iterator[pa.RecordBatch]:
    """The event table in time order (``order`` None: rows already are), ``rows_per_batch`` rows at a time.

    Strings stay codes: each batch's string columns are dictionary arrays over the labels its rows use, so
    neither this nor the Parquet writer builds a string per row. Arrays are built from numpy buffers
    (``pa.array`` would import pandas, ~0.4 s).
    """
    texts = {name: _Labels(values) for name, values in labels.items()}
    total = len(order) if order is not None else len(columns["ts"])
    for start in range(0, total, rows_per_batch):
        stop = min(start + rows_per_batch, total)
        rows = order[start:stop] if order is not None else slice(start, stop)
        status = columns["status"][rows]
        duration = columns["duration_ms"][rows]
        arrays = {
            "ts": _array(pa.timestamp("ns", tz="UTC"), columns["ts"][rows]),
            "status": _array(pa.int32(), status.astype(np.int32, copy=False), status < 0),
            "duration_ms": _array(pa.float64(), duration, np.isnan(duration)),
            "error": _array(pa.bool_(), np.packbits(columns["error"][rows], bitorder="little"),
                            length=stop - start),
        }
        for name in STRING_COLUMNS:
            codes = row_session[rows] if name == "session" else columns[name][rows]
            arrays[name] = texts[name].dictionary_array(codes)
        yield pa.RecordBatch.from_arrays([arrays[name] for name in DICTIONARY_SCHEMA.names],
                                         schema=DICTIONARY_SCHEMA)


def _array(kind: pa.DataType, values: np.ndarray, missing: np.ndarray | None = None, *,
           length: int | None = None) -> pa.Array:
    """An Arrow array over a numpy buffer (no copy), ``missing`` rows null."""
    validity = None
    if missing is not None and missing.any():
        validity = pa.py_buffer(np.packbits(~missing, bitorder="little"))
    values = np.ascontiguousarray(values)
    size = len(values) if length is None else length
    return pa.Array.from_buffers(kind, size, [validity, pa.py_buffer(values)])


class _Labels:
    """The strings of one column's dictionary as UTF-8 bytes and offsets, encoded once for every row group."""

    #: dictionaries up to this size are written whole with every row group; larger ones only the values used
    SMALL = 4096

    def __init__(self, values: list[str]) -> None:
        joined = "".join(values)
        if joined.isascii():  # the usual case (pseudonyms, routes): one encode, lengths in characters
            data, parts = joined.encode("ascii"), values
        else:
            parts = [v.encode("utf-8", "replace") for v in values]
            data = b"".join(parts)
        del joined
        self.offsets = np.zeros(len(values) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, parts), dtype=np.int64, count=len(values)), out=self.offsets[1:])
        self.data = np.frombuffer(data, dtype=np.uint8)
        self.whole = self._strings(self.offsets, self.data) if len(values) <= self.SMALL else None

    def dictionary_array(self, codes: np.ndarray) -> pa.DictionaryArray:
        missing = codes < 0
        dictionary = self.whole
        if dictionary is None:  # a big dictionary: only the labels these rows use (numpy, O(rows + labels))
            n = len(self.offsets) - 1
            used = np.zeros(n + 1, dtype=bool)
            used[codes] = True  # code −1 marks the spare last slot
            used[n] = False
            kept = np.flatnonzero(used)
            rank = np.empty(n + 1, dtype=np.int32)
            rank[kept] = np.arange(len(kept), dtype=np.int32)
            rank[n] = 0
            codes = rank[codes]
            dictionary = self._subset(kept)
        indices = _array(pa.int32(), codes.astype(np.int32, copy=False), missing)
        return pa.DictionaryArray.from_arrays(indices, dictionary)

    def _subset(self, kept: np.ndarray) -> pa.Array:
        starts = self.offsets[kept]
        lengths = self.offsets[kept + 1] - starts
        offsets = np.zeros(len(kept) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        # byte i of the subset comes from data[starts[k] + (i − offsets[k])] for the label k it belongs to
        where = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return self._strings(offsets, self.data[where])

    @staticmethod
    def _strings(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
        if offsets[-1] >= 2**31:
            raise ValueError("labels of one row group exceed 2 GB")
        return pa.Array.from_buffers(pa.string(), len(offsets) - 1,
                                     [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)])


def _code_type(size: int) -> np.dtype:
    """The narrowest signed type holding codes 0..size−1 and −1."""
    return np.dtype(np.int8 if size < 128 else np.int16 if size < 32768 else np.int32)
