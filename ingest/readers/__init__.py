"""One module a dump format, registered in the explicit table :data:`READERS` (no import side effects).

A reader is a function ``read(path, stream, options) -> Iterator[RawBatch]`` (see :class:`Reader`): it gets
the decompressed byte stream of one file and yields columnar batches (:mod:`tracereplay.ingest.raw`).
"""

from __future__ import annotations

import importlib
from collections.abc import Generator
from pathlib import Path
from typing import BinaryIO, Protocol

from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import RawBatch


class Reader(Protocol):
    """A format's ``read``: batches of the dump, as a generator so the pipeline can close it early."""

    def __call__(self, path: Path, stream: BinaryIO,
                 options: IngestOptions) -> Generator[RawBatch, None, None]: ...


#: format name → module under tracereplay.ingest.readers that defines ``read``
READERS: dict[str, str] = {
    "otlp": "otlp_proto",
    "otlp-json": "otlp_json",
    "jaeger": "jaeger",
    "zipkin": "zipkin",
    "segment": "segment",
    "mixpanel": "mixpanel",
    "snowplow": "snowplow",
    "access-log": "accesslog",
    "har": "har",
    "csv": "table",
    "parquet": "table",
}


def reader_for(format_name: str) -> Reader:
    """The ``read`` function of a format (imported on first use)."""
    module = importlib.import_module(f"tracereplay.ingest.readers.{READERS[format_name]}")
    return module.read
