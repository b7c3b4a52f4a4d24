"""OTLP/JSON: one ``TracesData`` / ``ExportTraceServiceRequest`` document, or JSON lines of them (the
Collector's file exporter), or the Jaeger api_v3 ``{"result": …}`` wrapper.

Per the OTLP/JSON encoding: ids are hex (any case — only their presence is used here), 64-bit integers may
be strings or numbers, enums are integers (names are accepted too), unknown fields are ignored, and field
names are lowerCamelCase (snake_case is accepted as protobuf's JSON parsers do).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tracereplay.errors import InputError
from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import AttributeTable, RawBatch
from tracereplay.ingest.readers.jsontext import json_values
from tracereplay.ingest.readers.rows import SpanRows

NAME = "otlp-json"
_KIND_NAMES = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2,
               "SPAN_KIND_CLIENT": 3, "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
_VALUE_KEYS = ("stringValue", "string_value", "intValue", "int_value", "doubleValue", "double_value",
               "boolValue", "bool_value")


def read(path: Path, stream: BinaryIO, options: IngestOptions) -> Iterator[RawBatch]:
    """Yield the spans of an OTLP/JSON dump in batches."""
    table = AttributeTable(options)
    kinds = options.kind_codes
    for values in json_values(path, stream):
        builder = _Builder(table, kinds)
        for where, value in values:
            try:
                builder.add_document(value)
            except (TypeError, AttributeError, ValueError, KeyError) as exc:
                raise InputError(path, f"not OTLP/JSON ({type(exc).__name__}: {exc})", where=where) from None
            if len(builder) >= options.batch_spans:
                yield builder.finish()
                builder = _Builder(table, kinds)
        yield builder.finish()


class _Builder(SpanRows):
    """Span rows filled straight from OTLP/JSON documents (the span loop appends to the lists inline)."""

    def __init__(self, table: AttributeTable, kinds: frozenset[int] | None) -> None:
        super().__init__(table, kinds, NAME)

    def add_document(self, document: object) -> None:
        if not isinstance(document, dict):
            raise TypeError(f"expected an object with resourceSpans, found {type(document).__name__}")
        if isinstance(document.get("result"), dict):  # Jaeger api_v3 wrapper
            document = document["result"]
        resource_spans = _field(document, "resourceSpans", "resource_spans")
        if resource_spans is None:
            raise KeyError("resourceSpans")
        slot_of = self.table.slot_of.get
        kinds = self.kinds
        idx, vals = self.idx, self.vals
        for rs in resource_spans:
            service = ""
            resource = rs.get("resource") or {}
            for kv in resource.get("attributes") or ():
                if kv.get("key") == "service.name":
                    service = _scalar(kv.get("value")) or ""
            scopes = _field(rs, "scopeSpans", "scope_spans", "instrumentationLibrarySpans") or ()
            for ss in scopes:
                spans = ss.get("spans") or ()
                self.read += len(spans)
                for span in spans:
                    self._add_span(span, service, kinds, slot_of, idx, vals)

    def _add_span(self, span: dict, service: str, kinds, slot_of, idx, vals) -> None:
        # the hot loop: one dict lookup a field in the usual (lowerCamelCase) spelling, fallbacks if absent
        kind = span.get("kind", 0)
        if kind.__class__ is not int:
            kind = _kind(kind)
        if kinds is not None and kind not in kinds:
            self.dropped["span kind"] += 1
            return
        row = len(self.ts)
        start = span.get("startTimeUnixNano")
        if start is None:
            start = span.get("start_time_unix_nano", 0)
        end = span.get("endTimeUnixNano")
        if end is None:
            end = span.get("end_time_unix_nano", 0)
        self.ts.append(int(start))
        self.end.append(int(end))
        self.names.append(span.get("name") or "")
        self.kind.append(kind)
        self.root.append(not (span.get("parentSpanId") or span.get("parent_span_id")))
        self.service.append(service)
        status = span.get("status")
        code = status.get("code", 0) if status else 0
        self.error.append(code == 2 or code == "STATUS_CODE_ERROR")
        for kv in span.get("attributes") or ():
            slot = slot_of(kv.get("key"))
            if slot is not None:
                any_value = kv.get("value")
                value = any_value.get("stringValue") if any_value.__class__ is dict else None
                if value is None:
                    value = _scalar(any_value)
                if value is not None:
                    idx[slot].append(row)
                    vals[slot].append(value)



def _field(record: dict, *names: str) -> object:
    for name in names:
        value = record.get(name)
        if value is not None:
            return value
    return None


def _kind(value: object) -> int:
    if isinstance(value, int):
        return value
    return _KIND_NAMES.get(str(value), 0)


def _scalar(value: object) -> object:
    """The scalar inside an AnyValue object (``{"stringValue": "x"}``, ``{"intValue": "200"}`` …)."""
    if not isinstance(value, dict):
        return None
    for key, inner in value.items():
        if inner is None or key not in _VALUE_KEYS:
            continue
        if key in ("intValue", "int_value"):
            return int(inner)
        if key in ("boolValue", "bool_value"):
            return "true" if inner else "false"
        return inner
    return None
