"""Ingest: trace and analytics dumps → the canonical event table (``tracereplay.ingest.events``).

>>> from tracereplay.ingest import ingest, read_dumps
>>> summary = ingest(["traces.otlp.pb"], "events.parquet", session_gap="30m")   # doctest: +SKIP
>>> events = read_dumps(["segment.jsonl"], keep_user_ids=True)                    # doctest: +SKIP

Formats, detection and privacy defaults: ``docs/formats.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tracereplay.ingest.options import IngestOptions, make_options
from tracereplay.ingest.summary import IngestSummary

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["IngestOptions", "IngestSummary", "ingest", "read_dumps", "read_dumps_with_summary"]


def ingest(paths: str | Path | Sequence[str | Path], output: str | Path, **options: object) -> IngestSummary:
    """Read dumps (format detected from content), identify users, sessionize, redact, write ``output``.

    ``output`` is written atomically as Parquet in row groups; unless ``keep_user_ids=True`` the users are
    pseudonymised with a keyed hash whose key is kept in ``<output>.salt`` (created on first use, reused
    after, so re-ingesting gives the same pseudonyms). Options: see :class:`IngestOptions`.
    """
    from tracereplay.ingest.pipeline import write_output

    return write_output(_as_list(paths), output, make_options(**options))


def read_dumps(paths: str | Path | Sequence[str | Path], **options: object) -> pd.DataFrame:
    """The event table of the dumps as a DataFrame, without writing anything.

    Pass ``salt=b"..."`` for pseudonyms that are stable across calls (a fresh random key is used otherwise).
    """
    return read_dumps_with_summary(paths, **options)[0]


def read_dumps_with_summary(paths: str | Path | Sequence[str | Path],
                            **options: object) -> tuple[pd.DataFrame, IngestSummary]:
    """:func:`read_dumps` and the :class:`IngestSummary` of the same read."""
    from tracereplay.ingest.events import conform
    from tracereplay.ingest.pipeline import read_table

    table, summary = read_table(_as_list(paths), make_options(**options))
    return conform(table.to_pandas()), summary


def _as_list(paths: str | Path | Sequence[str | Path]) -> list[str | Path]:
    return [paths] if isinstance(paths, str | Path) else list(paths)
