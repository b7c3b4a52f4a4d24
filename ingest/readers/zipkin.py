"""Zipkin v2 JSON: a span array (as ``/api/v2/trace/{id}`` or ``/api/v2/traces`` return it, nested or flat).

``timestamp``/``duration`` are microseconds and may be missing (such spans are dropped as "no timestamp");
client and server halves of one RPC share an id — the kind filter keeps the server half. The server span's
``remoteEndpoint`` is the client, used as the identity fallback.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import BinaryIO

from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import AttributeTable, RawBatch
from tracereplay.ingest.readers.jsontext import read_json_rows
from tracereplay.ingest.readers.rows import SpanRows, kind_from_name

NAME = "zipkin"


def read(path: Path, stream: BinaryIO, options: IngestOptions) -> Generator[RawBatch, None, None]:
    table = AttributeTable(options)
    return read_json_rows(
        path, stream, batch_size=options.batch_spans,
        new_rows=lambda: SpanRows(table, options.kind_codes, NAME),
        events=_flatten, add=_add_span, label="Zipkin v2 JSON",
    )


def _flatten(value: object) -> Iterator[dict]:
    """Spans of a span array, of a list of traces (arrays of spans), or a single span object."""
    if isinstance(value, dict):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    else:
        raise TypeError(f"expected spans, found {type(value).__name__}")


def _add_span(rows: SpanRows, span: dict) -> None:
    root = not span.get("parentId")
    kind = kind_from_name(span.get("kind"), root)
    if not rows.wants(kind):
        return
    timestamp = span.get("timestamp")
    duration = span.get("duration")
    start_ns = int(timestamp) * 1000 if timestamp is not None else 0
    end_ns = start_ns + int(duration) * 1000 if timestamp is not None and duration is not None else 0
    tags = span.get("tags") or {}
    local = span.get("localEndpoint") or {}
    row = rows.add(start_ns, end_ns, span.get("name") or "", kind, root, local.get("serviceName") or "",
                   "error" in tags)
    for key, value in tags.items():
        rows.attribute(row, key, value)
    remote = span.get("remoteEndpoint") or {}
    if kind == 2:
        rows.attribute(row, "client.address", remote.get("ipv4") or remote.get("ipv6"))
