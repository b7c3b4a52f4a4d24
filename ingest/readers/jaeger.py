"""Jaeger JSON as the Jaeger UI / query API downloads it: ``{"data": [trace…]}``, one trace object, or a bare
span array. Processes are looked up by ``processID`` in the trace's ``processes`` or embedded as ``process``;
tags are typed (``{"key", "type", "value"}``); times are microseconds.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import BinaryIO

from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import AttributeTable, RawBatch
from tracereplay.ingest.readers.jsontext import read_json_rows, records
from tracereplay.ingest.readers.rows import SpanRows, kind_from_name, truthy

NAME = "jaeger"


def read(path: Path, stream: BinaryIO, options: IngestOptions) -> Generator[RawBatch, None, None]:
    table = AttributeTable(options)
    return read_json_rows(
        path, stream, batch_size=options.batch_spans,
        new_rows=lambda: SpanRows(table, options.kind_codes, NAME),
        events=lambda value: records(value, "data"), add=_add_trace, label="Jaeger JSON",
    )


def _add_trace(rows: SpanRows, trace: dict) -> None:
    if "spans" in trace:  # a trace: {"traceID", "spans", "processes"}
        processes = trace.get("processes") or {}
        spans = trace["spans"]
    else:  # an element of a bare span array
        processes, spans = {}, [trace]
    for span in spans:
        process = span.get("process") or processes.get(span.get("processID")) or {}
        tags = {tag["key"]: tag.get("value") for tag in span.get("tags") or ()}
        parent = span.get("parentSpanID")
        references = span.get("references") or ()
        has_parent = any(ref.get("refType", "CHILD_OF") == "CHILD_OF" for ref in references)
        root = not has_parent and (not parent or parent.strip("0") == "")
        kind = kind_from_name(tags.get("span.kind"), root)
        if not rows.wants(kind):
            continue
        start_us = int(span["startTime"])
        duration_us = span.get("duration")
        end_ns = (start_us + int(duration_us)) * 1000 if duration_us is not None else 0
        error = truthy(tags.get("error")) or str(tags.get("otel.status_code", "")).upper() == "ERROR"
        row = rows.add(start_us * 1000, end_ns, span.get("operationName") or "", kind, root,
                       process.get("serviceName") or "", error)
        for key, value in tags.items():
            rows.attribute(row, key, value if isinstance(value, str | int | float) else None)
