"""The columnar batch every reader yields, and the attribute lookup tables readers share.

A reader never builds a dict per span: it appends the few fields the event table needs to plain lists, and
the attributes it cares about to sparse (row index, value) lists, one pair per attribute key. ``RawBatch``
holds the result as numpy arrays:

| column      | dtype    | meaning                                                                  |
|-------------|----------|--------------------------------------------------------------------------|
| ts          | int64    | start, UTC nanoseconds                                                   |
| end         | int64    | end, UTC nanoseconds (0 when unknown)                                    |
| name        | object   | span name (or analytics event name)                                      |
| kind        | int8     | OTLP span kind number (2 = server; analytics events are 2)               |
| root        | bool     | the span has no parent (used to find the entry services)                 |
| service     | object   | service name                                                             |
| span_error  | bool     | the span's status says error                                             |
| method, route, path, url | object | HTTP attributes, old or new semantic-convention names       |
| status      | float64  | HTTP status (NaN when absent)                                            |
| user        | object   | the raw user id (first user key present)                                 |
| user_key    | object   | the attribute that supplied ``user``                                     |
| session     | object   | an explicit session id                                                   |
| client, agent | object | client address and user agent, the identity fallback                   |
| action      | object   | an action name set by the reader itself (analytics formats)              |

Absent columns mean "all missing". String columns may be given as object arrays or, by fast readers, as
:class:`Coded` (int32 codes into an array of distinct values) — the rest of the pipeline works on codes, so
Python-level work is done once per distinct value, never once per row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tracereplay.ingest.options import IngestOptions

OBJECT_COLUMNS = ("name", "service", "method", "route", "path", "url", "user", "user_key", "session",
                  "client", "agent", "action")

#: Old and new OpenTelemetry HTTP names for each logical column, preferred name first.
HTTP_KEYS: dict[str, tuple[str, ...]] = {
    "method": ("http.request.method", "http.method"),
    "route": ("http.route",),
    "path": ("url.path", "http.target", "http.path"),  # http.path: Zipkin/Brave
    "url": ("url.full", "http.url"),
    "status": ("http.response.status_code", "http.status_code"),
    "client": ("client.address", "http.client_ip", "net.sock.peer.addr", "net.peer.ip", "source.address"),
    "agent": ("user_agent.original", "http.user_agent"),
}
#: Keys whose values are numbers, the rest are read as strings.
NUMERIC_LOGICAL = frozenset({"status"})


@dataclass
class Coded:
    """A string column as codes (int32, −1 = missing) into ``values`` (object array of distinct strings)."""

    codes: np.ndarray
    values: np.ndarray

    @classmethod
    def from_objects(cls, values: np.ndarray) -> Coded:
        """Factorize an object array; None, NaN and "" are missing."""
        codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
        coded = cls(codes.astype(np.int32), np.asarray(uniques, dtype=object))
        return coded.drop_values(lambda v: v == "" or not isinstance(v, str)) if len(uniques) else coded

    @classmethod
    def missing(cls, n: int) -> Coded:
        return cls(np.full(n, -1, dtype=np.int32), np.empty(0, dtype=object))

    def __len__(self) -> int:
        return len(self.codes)

    def take(self, rows: np.ndarray) -> Coded:
        return Coded(self.codes[rows], self.values)

    @property
    def present(self) -> np.ndarray:
        return self.codes >= 0

    def to_objects(self) -> np.ndarray:
        out = np.full(len(self.codes), None, dtype=object)
        present = self.present
        out[present] = self.values[self.codes[present]]
        return out

    def map(self, function: Callable[[str], str | None]) -> Coded:
        """Apply ``function`` to each distinct value (None → missing); equal results share a code."""
        mapped = np.empty(len(self.values), dtype=object)
        mapped[:] = [function(v) for v in self.values]
        return self.recode(mapped)

    def recode(self, mapped: np.ndarray) -> Coded:
        """Replace the values by ``mapped`` (same length; None → missing), merging equal results."""
        new_codes, uniques = pd.factorize(mapped, use_na_sentinel=True)
        table = np.append(new_codes.astype(np.int32), np.int32(-1))  # index −1 → missing
        return Coded(table[self.codes], np.asarray(uniques, dtype=object))

    def drop_values(self, is_missing: Callable[[object], bool]) -> Coded:
        mapped = np.empty(len(self.values), dtype=object)
        mapped[:] = [None if is_missing(v) else v for v in self.values]
        return self.recode(mapped)

    def assign(self, rows: np.ndarray, codes: np.ndarray, values: np.ndarray) -> Coded:
        """This column with ``rows`` set to ``codes`` into ``values`` (−1 = missing).

        The dictionaries are concatenated; equal strings may get two codes, which interning merges later.
        """
        out = self.codes.copy()
        out[rows] = np.where(codes >= 0, codes + len(self.values), -1)
        return Coded(out, np.concatenate([self.values, np.asarray(values, dtype=object)]))

    @classmethod
    def constant(cls, n: int, value: str) -> Coded:
        return cls(np.zeros(n, dtype=np.int32), np.array([value], dtype=object))


def combine(a: Coded, b: Coded, rows: np.ndarray,
            join: Callable[[str, str], str]) -> tuple[np.ndarray, np.ndarray]:
    """Codes and values of ``join(a, b)`` on ``rows`` (where both are present), computed per distinct pair."""
    pairs = a.codes[rows].astype(np.int64) * (len(b.values) + 1) + b.codes[rows]
    codes, uniques = pd.factorize(pairs)
    uniques = np.asarray(uniques, dtype=np.int64)
    values = np.empty(len(uniques), dtype=object)
    values[:] = [join(a.values[p // (len(b.values) + 1)], b.values[p % (len(b.values) + 1)]) for p in uniques]
    return codes.astype(np.int32), values


@dataclass
class RawBatch:
    """A batch of spans (or analytics events) from one file, as columns."""

    n: int
    columns: dict[str, np.ndarray | Coded]
    source: str
    #: spans the reader looked at, including the ones it dropped itself
    read: int = 0
    #: spans the reader dropped, by reason
    dropped: Counter[str] = field(default_factory=Counter)

    def coded(self, name: str) -> Coded:
        """A string column as :class:`Coded` (all missing when absent)."""
        column = self.columns.get(name)
        if column is None:
            return Coded.missing(self.n)
        if isinstance(column, Coded):
            return column
        return Coded.from_objects(column)

    def get(self, name: str) -> np.ndarray:
        """A numeric column, or an all-missing one of the right length."""
        column = self.columns.get(name)
        if column is not None:
            return column.to_objects() if isinstance(column, Coded) else column
        if name in OBJECT_COLUMNS:
            return np.full(self.n, None, dtype=object)
        if name == "status":
            return np.full(self.n, np.nan)
        if name in ("root", "span_error"):
            return np.zeros(self.n, dtype=bool) if name == "span_error" else np.ones(self.n, dtype=bool)
        if name == "kind":
            return np.full(self.n, 2, dtype=np.int8)
        return np.zeros(self.n, dtype=np.int64)


class AttributeTable:
    """Which attribute keys a reader collects, into which logical column, with which priority.

    Readers look each attribute key up in :attr:`slot_of` (one dict lookup per attribute) and, when found,
    append ``(row, value)`` to ``idx[slot]`` / ``vals[slot]``. :meth:`finish` turns the sparse lists into
    columns, applying the priority order (the first key of the lookup order present on a span wins).
    """

    def __init__(self, options: IngestOptions) -> None:
        entries: list[tuple[str, str]] = [("user", key) for key in options.user_keys]
        entries += [("session", key) for key in options.session_keys]
        for logical, keys in HTTP_KEYS.items():
            entries += [(logical, key) for key in keys]
        self.slot_of: dict[str, int] = {}
        self.logical: list[str] = []
        self.keys: list[str] = []
        for logical, key in entries:
            if key in self.slot_of:  # e.g. a user key also used as a session key: the first use wins
                continue
            self.slot_of[key] = len(self.keys)
            self.logical.append(logical)
            self.keys.append(key)
        self.numeric = [logical in NUMERIC_LOGICAL for logical in self.logical]

    def collector(self) -> tuple[list[list[int]], list[list[object]]]:
        """Fresh sparse lists: ``idx[slot]`` rows and ``vals[slot]`` values."""
        return [[] for _ in self.keys], [[] for _ in self.keys]

    def finish(self, n: int, idx: list[list[int]], vals: list[list[object]]) -> dict[str, np.ndarray]:
        """Dense columns from the sparse lists, first key in lookup order winning."""
        out: dict[str, np.ndarray] = {}
        # walk slots from lowest to highest priority so the preferred key overwrites the others
        for slot in range(len(self.keys) - 1, -1, -1):
            rows = idx[slot]
            if not rows:
                continue
            logical = self.logical[slot]
            if self.numeric[slot]:
                column = out.get(logical)
                if column is None:
                    column = out[logical] = np.full(n, np.nan)
                column[rows] = _to_float(vals[slot])
                continue
            column = out.get(logical)
            if column is None:
                column = out[logical] = np.full(n, None, dtype=object)
            values = np.empty(len(rows), dtype=object)
            values[:] = [v if isinstance(v, str) else _text(v) for v in vals[slot]]
            column[rows] = values
            if logical == "user":
                keys = out.get("user_key")
                if keys is None:
                    keys = out["user_key"] = np.full(n, None, dtype=object)
                keys[rows] = self.keys[slot]
        return out


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _to_float(values: list[object]) -> np.ndarray:
    out = np.empty(len(values))
    for i, v in enumerate(values):
        try:
            out[i] = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            out[i] = np.nan
    return out
