"""Column builder shared by the JSON span readers (OTLP/JSON, Jaeger, Zipkin): lists, not a dict per span."""

from __future__ import annotations

from collections import Counter

import numpy as np

from tracereplay.ingest.raw import AttributeTable, Coded, RawBatch

SERVER = 2
KIND_NAMES = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}


class SpanRows:
    """Appends the event-table fields of spans; attributes go to the table's sparse (row, value) lists."""

    def __init__(self, table: AttributeTable, kinds: frozenset[int] | None, source: str) -> None:
        self.table, self.kinds, self.source = table, kinds, source
        self.slot_of = table.slot_of.get
        self.ts: list[int] = []
        self.end: list[int] = []
        self.names: list[str] = []
        self.kind: list[int] = []
        self.root: list[bool] = []
        self.service: list[str] = []
        self.error: list[bool] = []
        self.idx, self.vals = table.collector()
        self.read = 0
        self.dropped: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self.ts)

    def wants(self, kind: int) -> bool:
        """Count a span read; False (and counted as dropped) when its kind is filtered out."""
        self.read += 1
        if self.kinds is not None and kind not in self.kinds:
            self.dropped["span kind"] += 1
            return False
        return True

    def add(self, ts: int, end: int, name: str, kind: int, root: bool, service: str, error: bool) -> int:
        """Append a span's fields; returns its row for :meth:`attribute`."""
        row = len(self.ts)
        self.ts.append(ts)
        self.end.append(end)
        self.names.append(name)
        self.kind.append(kind)
        self.root.append(root)
        self.service.append(service)
        self.error.append(error)
        return row

    def attribute(self, row: int, key: str, value: object) -> None:
        slot = self.slot_of(key)
        if slot is not None and value is not None and value != "":
            self.idx[slot].append(row)
            self.vals[slot].append(value)

    def finish(self) -> RawBatch:
        n = len(self.ts)
        columns: dict[str, np.ndarray | Coded] = dict(self.table.finish(n, self.idx, self.vals))
        columns["ts"] = np.array(self.ts, dtype=np.int64)
        columns["end"] = np.array(self.end, dtype=np.int64)
        columns["name"] = np.array(self.names, dtype=object)
        columns["kind"] = np.array(self.kind, dtype=np.int8)
        columns["root"] = np.array(self.root, dtype=bool)
        columns["service"] = np.array(self.service, dtype=object)
        columns["span_error"] = np.array(self.error, dtype=bool)
        return RawBatch(n=n, columns=columns, source=self.source, read=self.read, dropped=self.dropped)


def kind_from_name(name: object, root: bool) -> int:
    """A kind named as Jaeger/Zipkin do (``server``, ``CLIENT`` …); a root without one is a server span."""
    if isinstance(name, str) and name:
        return KIND_NAMES.get(name.lower(), 0)
    return SERVER if root else 0


def truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")
