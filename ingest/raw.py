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

Absent columns mean "all missing".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from tracereplay.ingest.options import IngestOptions

OBJECT_COLUMNS = ("name", "service", "method", "route", "path", "url", "user", "user_key", "session",
                  "client", "agent", "action")

#: Old and new OpenTelemetry HTTP names for each logical column, preferred name first.
HTTP_KEYS: dict[str, tuple[str, ...]] = {
    "method": ("http.request.method", "http.method"),
    "route": ("http.route",),
    "path": ("url.path", "http.target"),
    "url": ("url.full", "http.url"),
    "status": ("http.response.status_code", "http.status_code"),
    "client": ("client.address", "http.client_ip", "net.sock.peer.addr", "net.peer.ip", "source.address"),
    "agent": ("user_agent.original", "http.user_agent"),
}
#: Keys whose values are numbers, the rest are read as strings.
NUMERIC_LOGICAL = frozenset({"status"})


@dataclass
class RawBatch:
    """A batch of spans (or analytics events) from one file, as columns."""

    n: int
    columns: dict[str, np.ndarray]
    source: str
    #: spans the reader looked at, including the ones it dropped itself
    read: int = 0
    #: spans the reader dropped, by reason
    dropped: Counter[str] = field(default_factory=Counter)

    def get(self, name: str) -> np.ndarray:
        """The column, or an all-missing one of the right length."""
        column = self.columns.get(name)
        if column is not None:
            return column
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
