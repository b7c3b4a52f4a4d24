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
from tracereplay.ingest.raw import Coded
from tracereplay.ingest.sessions import Sessions, assign_sessions

_CODED = ("user", "user_key", "session", "action", "method", "route", "path", "service", "source")


class Interner:
    """Distinct strings ↔ int32 codes (−1 = missing)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.values: list[str] = []

    def codes(self, values: np.ndarray) -> np.ndarray:
        """Codes of distinct, non-missing strings (new ones are added)."""
        found = list(map(self.index.get, values))  # one C-level pass; new values are the rare case
        if None in found:
            for i, code in enumerate(found):
                if code is None:
                    value = values[i]
                    code = self.index.get(value)  # the same string may repeat under two batch codes
                    if code is None:
                        code = self.index[value] = len(self.values)
                        self.values.append(value)
                    found[i] = code
        return np.array(found, dtype=np.int32)

    def __len__(self) -> int:
        return len(self.values)


class EventStore:
    """Accumulates normalized batches as codes, then filters, sessionizes and sorts them."""

    def __init__(self) -> None:
        self.interners = {name: Interner() for name in _CODED}
        self.parts: dict[str, list[np.ndarray]] = {}

    def add(self, rows: Normalized) -> None:
        if not len(rows):
            return
        columns = {
            "ts": rows.ts, "duration_ms": rows.duration_ms,  # end = ts + duration: not stored twice
            "status": np.where(np.isnan(rows.status), -1, rows.status).astype(np.int32),
            "error": rows.error.astype(bool), "root": rows.root.astype(bool),
        }
        for name in _CODED:
            coded = Coded.constant(len(rows), rows.source) if name == "source" else getattr(rows, name)
            lookup = np.append(self.interners[name].codes(coded.values), np.int32(-1))
            columns[name] = lookup[coded.codes]
        for name, values in columns.items():
            self.parts.setdefault(name, []).append(values)

    def column(self, name: str) -> np.ndarray:
        return np.concatenate(self.parts[name]) if name in self.parts else np.zeros(0)

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts.get("ts", []))

    def consolidate(self) -> dict[str, np.ndarray]:
        """All batches as one array per column (frees the per-batch pieces)."""
        # one column at a time, so only one column is ever held twice
        for name in list(self.parts):
            parts = self.parts[name]
            if len(parts) > 1:
                self.parts[name] = [np.concatenate(parts)]
            del parts
        columns = {name: parts[0] for name, parts in self.parts.items()}
        return columns

    def keep_services(self, services: tuple[str, ...], dropped: Counter[str]) -> None:
        """Keep the given services, or (when none are given) the entry services: those with root spans.

        If no service has a root span (every span has a parent outside the dump), every service is kept.
        """
        if not len(self):
            return
        columns = self.consolidate()
        service = columns["service"]
        names = self.interners["service"].values
        if services:
            wanted = [i for i, name in enumerate(names) if name in set(services)]
            reason = "service not selected"
        else:
            wanted = np.unique(service[columns["root"]]).tolist()
            reason = "not the entry service"
            if not wanted:
                return
        keep = np.isin(service, np.asarray(wanted, dtype=np.int32))
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
                             self.interners["session"].values, self.interners["user"].codes,
                             self.interners["user_key"].codes)
        keep = columns["user"] >= 0
        removed = int((~keep).sum())
        if removed:
            dropped["no user identity"] += removed
            self._keep_rows(columns, keep)

    def _keep_rows(self, columns: dict[str, np.ndarray], keep: np.ndarray) -> None:
        """Filter every column, one at a time (bounded extra memory)."""
        for name in list(columns):
            self.parts[name] = [columns.pop(name)[keep]]

    def finish(self, gap_s: float) -> tuple[dict[str, np.ndarray], np.ndarray, Sessions]:
        """Consolidated columns, the time order of rows, and their sessions."""
        columns = self.consolidate()
        end = columns["ts"] + np.round(np.nan_to_num(columns["duration_ms"] * 1e6)).astype(np.int64)
        sessions = assign_sessions(columns["user"], columns["ts"], end, columns["session"], int(gap_s * 1e9))
        del end
        order = np.argsort(columns["ts"], kind="stable")
        return columns, order, sessions


def record_batches(columns: dict[str, np.ndarray], order: np.ndarray, row_session: np.ndarray,
                   labels: dict[str, list[str]], rows_per_batch: int) -> Iterator[pa.RecordBatch]:
    """The event table in time order, ``rows_per_batch`` rows at a time, strings rebuilt from codes."""
    dictionaries = {name: pa.array(values, type=pa.string()) for name, values in labels.items()}
    for start in range(0, len(order), rows_per_batch):
        rows = order[start:start + rows_per_batch]
        arrays = {
            "ts": pa.array(columns["ts"][rows], type=pa.timestamp("ns", tz="UTC")),
            "user": _take(dictionaries["user"], columns["user"][rows]),
            "session": _take(dictionaries["session"], row_session[rows]),
            "action": _take(dictionaries["action"], columns["action"][rows]),
            "method": _take(dictionaries["method"], columns["method"][rows]),
            "route": _take(dictionaries["route"], columns["route"][rows]),
            "path": _take(dictionaries["path"], columns["path"][rows]),
            "status": pa.array(columns["status"][rows], mask=columns["status"][rows] < 0, type=pa.int32()),
            "duration_ms": pa.array(columns["duration_ms"][rows], from_pandas=True, type=pa.float64()),
            "error": pa.array(columns["error"][rows], type=pa.bool_()),
            "source": _take(dictionaries["source"], columns["source"][rows]),
        }
        yield pa.RecordBatch.from_arrays(list(arrays.values()), schema=EVENT_SCHEMA)


def _take(dictionary: pa.Array, codes: np.ndarray) -> pa.Array:
    indices = pa.array(codes, mask=codes < 0, type=pa.int32() if codes.dtype == np.int32 else pa.int64())
    return dictionary.take(indices)
