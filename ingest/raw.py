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
:class:`Coded` (int32 codes into distinct values; the compiled scanners share one growing dictionary per
column between all batches of a file). The rest of the pipeline works on codes, translated into one
:class:`Dictionary` per field for the whole ingest, so Python-level work is done once per distinct value
(per file, when the reader shares its dictionaries), never once per row.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import TypeAlias, TypeVar, cast

import numpy as np

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

#: The distinct strings of a column: an object array, or a list a reader shares and only appends to.
Values: TypeAlias = Sequence[str] | np.ndarray


@dataclass
class Coded:
    """A string column as codes (int32, −1 = missing) into ``values`` (the distinct strings).

    ``values`` is an object array, or a list that a reader shares between all the batches of a file and only
    appends to (codes stay valid as it grows; it may hold far more values than one batch uses). Methods here
    cost O(rows + values the rows use), never O(len(values)) in Python.
    """

    codes: np.ndarray
    values: Values

    @classmethod
    def from_objects(cls, values: np.ndarray) -> Coded:
        """Factorize an object array; None, NaN, non-strings and "" are missing."""
        codes, uniques = _factorize_objects(np.asarray(values, dtype=object))
        return cls(codes, uniques)

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
        compact = self.compact()
        out = np.full(len(compact.codes), None, dtype=object)
        present = compact.present
        out[present] = _objects(compact.values)[compact.codes[present]]
        return out

    def compact(self) -> Coded:
        """The same column over only the values its rows use (cheap when ``values`` is a big shared table)."""
        if len(self.values) <= len(self.codes) and isinstance(self.values, np.ndarray):
            return self
        present = self.codes >= 0
        used, inverse = np.unique(self.codes[present], return_inverse=True)
        codes = np.full(len(self.codes), -1, dtype=np.int32)
        codes[present] = inverse
        values = self.values
        return Coded(codes, _objects([values[i] for i in used.tolist()]))

    def map(self, function: Callable[[str], str | None]) -> Coded:
        """Apply ``function`` to each distinct value used (None → missing); equal results share a code."""
        compact = self.compact()
        mapped = np.empty(len(compact.values), dtype=object)
        mapped[:] = [function(v) for v in compact.values]
        return compact.recode(mapped)

    def recode(self, mapped: Sequence[str | None] | np.ndarray) -> Coded:
        """Replace the values by ``mapped`` (same length; None → missing), merging equal results."""
        merged = Dictionary()
        table = np.append(merged.intern(mapped), np.int32(-1))  # index −1 → missing
        return Coded(table[self.codes], _objects(merged.values))

    def drop_values(self, is_missing: Callable[[object], bool]) -> Coded:
        compact = self.compact()
        mapped = [None if is_missing(v) else v for v in compact.values]
        return compact.recode(mapped)

    def assign(self, rows: np.ndarray, codes: np.ndarray, values: Values) -> Coded:
        """This column with ``rows`` set to ``codes`` into ``values`` (−1 = missing).

        The dictionaries (of the values used) are concatenated; equal strings may get two codes, which
        interning merges later.
        """
        base = self.compact()
        other = Coded(np.asarray(codes, dtype=np.int32), values).compact()
        out = base.codes.copy()
        out[rows] = np.where(other.codes >= 0, other.codes + len(base.values), -1)
        return Coded(out, np.concatenate([_objects(base.values), _objects(other.values)]))

    @classmethod
    def constant(cls, n: int, value: str) -> Coded:
        return cls(np.zeros(n, dtype=np.int32), np.array([value], dtype=object))


class Dictionary:
    """Distinct strings ↔ int32 codes for a whole ingest; it only grows, so codes never change.

    :meth:`translate` turns a :class:`Coded` column into this dictionary's codes through a lookup table kept
    per source dictionary and extended only for the values added since the last batch: when a reader shares
    one growing dictionary between batches, each distinct value costs Python work once per file. Per-batch
    dictionaries (the slower readers) simply get a fresh table per batch.
    """

    #: source dictionaries whose lookup tables are kept (least recently used dropped first)
    KEEP = 4  # a field draws on at most ~3 source dictionaries at once (user: user and client ids)

    def __init__(self) -> None:
        #: looked up with None too (missing: the default, −1), which it never holds
        self.index: dict[str | None, int] = {}
        self.values: list[str] = []
        self._tables: OrderedDict[tuple, _Lookup] = OrderedDict()
        self._pairs: OrderedDict[tuple, _Pairs] = OrderedDict()

    def __len__(self) -> int:
        return len(self.values)

    def intern(self, strings: Sequence[str | None] | np.ndarray) -> np.ndarray:
        """Codes of ``strings`` (None → −1), adding the new ones."""
        index = self.index
        codes = np.fromiter(map(index.get, strings, repeat(-1)), dtype=np.int32, count=len(strings))
        unseen = np.flatnonzero(codes < 0)
        if len(unseen):  # C-level passes: dict.fromkeys keeps the first of repeated new strings
            new = list(strings) if len(unseen) == len(codes) else [strings[i] for i in unseen.tolist()]
            with_none = dict.fromkeys(new)
            with_none.pop(None, None)
            added = cast(dict[str, None], with_none)  # None popped just above
            start = len(self.values)
            index.update(zip(added, range(start, start + len(added)), strict=True))
            self.values.extend(added)
            if len(added) == len(new):  # distinct new strings (a source dictionary's tail): numbered in order
                codes[unseen] = np.arange(start, start + len(new), dtype=np.int32)
            else:
                codes[unseen] = np.fromiter(map(index.get, new, repeat(-1)), dtype=np.int32, count=len(new))
        return codes

    def code(self, value: str) -> int:
        return int(self.intern([value])[0])

    def coded(self, codes: np.ndarray) -> Coded:
        return Coded(codes, self.values)

    def translate(self, column: Coded, function: Callable[[str], str | None] | None = None) -> np.ndarray:
        """Codes here of ``function(value)`` (None → missing) for every row of ``column``.

        ``function`` must be equal from batch to batch (the same function or bound method) for its results
        to be reused.
        """
        source = column.values
        if function is None and source is self.values:
            return column.codes
        lookup = self._cached(self._tables, (source,), function, _Lookup)
        return lookup.extend(self, function)[column.codes]

    def combine(self, a: Coded, b: Coded, join: Callable[[str, str], str]) -> np.ndarray:
        """Codes here of ``join(a, b)`` row by row (both present), ``join`` run once per distinct pair."""
        if not len(a.codes):
            return np.zeros(0, dtype=np.int32)
        width = int(b.codes.max()) + 1  # dense keys for this call (a bitmap factorizes them); stable below
        inverse, dense = factorize(a.codes.astype(np.int64) * width + b.codes)
        pairs: list[int] = (((dense // width) << 32) | (dense % width)).tolist()
        known = self._cached(self._pairs, (a.values, b.values), join, _Pairs).codes
        found = list(map(known.get, pairs))
        if None in found:
            new = [i for i, code in enumerate(found) if code is None]
            joined = [join(a.values[pairs[i] >> 32], b.values[pairs[i] & 0xFFFFFFFF]) for i in new]
            for i, code in zip(new, self.intern(joined).tolist(), strict=True):
                known[pairs[i]] = found[i] = code
        return np.array(found, dtype=np.int32)[inverse]

    def _cached(self, cache: OrderedDict[tuple, _CachedT], sources: tuple[Values, ...], function: object,
                make: Callable[[], _CachedT]) -> _CachedT:
        """The cache entry for these source dictionaries: the same objects, or (readers that hand out a new
        array each batch) an entry whose sources are prefixes of these — dictionaries only grow."""
        key = (*map(id, sources), function)
        entry = cache.get(key)
        if entry is None or any(old is not new for old, new in zip(entry.sources, sources, strict=True)):
            entry = None
            for other_key, other in cache.items():
                if other_key[-1] == function and all(
                        _extends(new, old) for new, old in zip(sources, other.sources, strict=True)):
                    entry = cache.pop(other_key)
                    break
            entry = entry or make()
            entry.sources = sources  # held: their ids cannot be reused while the entry lives
        cache[key] = entry
        cache.move_to_end(key)
        while len(cache) > self.KEEP:
            cache.popitem(last=False)
        return entry


class _Cached:
    sources: tuple[Values, ...] = ()


_CachedT = TypeVar("_CachedT", bound=_Cached)


class _Pairs(_Cached):
    """(a code << 32 | b code) → code in a :class:`Dictionary`, for pairs of two source dictionaries."""

    def __init__(self) -> None:
        self.codes: dict[int, int] = {}


class _Lookup(_Cached):
    """Source code → code in a :class:`Dictionary`, for the first ``filled`` values of the source."""

    def __init__(self) -> None:
        self.table = np.empty(64, dtype=np.int32)
        self.filled = 0

    def extend(self, into: Dictionary, function: Callable[[str], str | None] | None) -> np.ndarray:
        """The table for the source as it is now, ending with −1 (so code −1 looks up missing)."""
        source = self.sources[0]
        n = len(source)
        if n + 1 > len(self.table):
            table = np.empty(max(2 * len(self.table), n + 1), dtype=np.int32)
            table[:self.filled] = self.table[:self.filled]
            self.table = table
        if n > self.filled:
            tail = source[self.filled:n]
            if function is not None:
                tail = [function(v) for v in tail]
            self.table[self.filled:n] = into.intern(tail)
            self.filled = n
        self.table[n] = -1
        return self.table[:n + 1]


def _extends(new: Values, old: Values) -> bool:
    """Whether ``new`` starts with the values of ``old`` (a grown copy of the same dictionary)."""
    n = len(old)
    if len(new) < n:
        return False
    if n == 0 or new is old:
        return True
    if new[n - 1] != old[n - 1]:  # the usual way a different dictionary shows
        return False
    return bool((_objects(new[:n]) == _objects(old)).all())


def factorize(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inverse, distinct keys) of non-negative int64 keys, without pandas.

    Dense keys (the usual case: small dictionaries) use a bitmap, O(rows + key range); others sort.
    """
    if not len(keys):
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
    low, high = int(keys.min()), int(keys.max())
    span = high - low + 1
    if span <= max(4 * len(keys), 1 << 16):
        shifted = keys - low
        seen = np.zeros(span, dtype=bool)
        seen[shifted] = True
        uniques = np.flatnonzero(seen)
        rank = np.empty(span, dtype=np.int32)
        rank[uniques] = np.arange(len(uniques), dtype=np.int32)
        return rank[shifted], uniques + low
    uniques, inverse = np.unique(keys, return_inverse=True)
    return inverse.astype(np.int32), uniques


def _objects(values: Sequence[object] | np.ndarray) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype == object:
        return values
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _factorize_objects(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes and distinct values of an object array in first-seen order; None, NaN, non-str and "" → −1."""
    import pyarrow as pa

    try:
        encoded = pa.array(values, type=pa.string(), from_pandas=True).dictionary_encode()
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeError):  # non-strings, lone surrogates: slow path
        cleaned = [v if isinstance(v, str) and v else None for v in values]
        merged = Dictionary()
        return merged.intern(cleaned), _objects(merged.values)
    indices = encoded.indices
    if indices.null_count:
        indices = indices.fill_null(-1)
    codes = indices.to_numpy().astype(np.int32)
    uniques = _objects(encoded.dictionary.to_pylist())
    empty = np.flatnonzero(uniques == "")
    if len(empty):
        table = np.arange(len(uniques) + 1, dtype=np.int32)
        table[empty[0]] = -1
        table[empty[0] + 1:-1] -= 1
        table[-1] = -1
        codes = table[codes]
        uniques = np.delete(uniques, empty[0])
    return codes, uniques


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
    #: line-based readers: the first line number of each reason in ``dropped``
    first_line: dict[str, int] = field(default_factory=dict)

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
        try:  # decoded JSON and protobuf give these; lists, maps and the like are not numbers
            out[i] = float(v) if isinstance(v, (int, float, str, bytes)) else np.nan
        except ValueError:
            out[i] = np.nan
    return out
