"""Zipkin v2 JSON: a span array (as ``/api/v2/trace/{id}`` or ``/api/v2/traces`` return it, nested or flat).

``timestamp``/``duration`` are microseconds and may be missing (such spans are dropped as "no timestamp");
client and server halves of one RPC share an id — the kind filter keeps the server half. The server span's
``remoteEndpoint`` is the client, used as the identity fallback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tracereplay.errors import InputError
from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import AttributeTable, RawBatch
from tracereplay.ingest.readers.jsontext import json_values
from tracereplay.ingest.readers.rows import SpanRows, kind_from_name

NAME = "zipkin"


def read(path: Path, stream: BinaryIO, options: IngestOptions) -> Iterator[RawBatch]:
    table = AttributeTable(options)
    rows = SpanRows(table, options.kind_codes, NAME)
    for values in json_values(path, stream):
        for where, value in values:
            try:
                for span in _flatten(value):
                    _add_span(rows, span)
            except (TypeError, AttributeError, ValueError, KeyError) as exc:
                problem = f"not Zipkin v2 JSON ({type(exc).__name__}: {exc})"
                raise InputError(path, problem, where=where) from None
            if len(rows) >= options.batch_spans:
                yield rows.finish()
                rows = SpanRows(table, options.kind_codes, NAME)
    yield rows.finish()


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
