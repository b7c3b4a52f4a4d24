"""Dumps → event table: read every file in batches, normalize, accumulate compactly, sessionize, write.

Memory stays bounded by the compact store (~50 bytes a kept row plus the distinct strings), not by the size
of the dumps: readers stream, and the output is written one Parquet row group at a time.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tracereplay.errors import InputError
from tracereplay.files import atomic_path
from tracereplay.ingest.events import EVENT_SCHEMA
from tracereplay.ingest.normalize import Normalizer
from tracereplay.ingest.options import IngestOptions, salt_path_for
from tracereplay.ingest.raw import RawBatch
from tracereplay.ingest.readers import reader_for
from tracereplay.ingest.redact import load_or_create_salt, new_salt, pseudonymise
from tracereplay.ingest.sessions import Sessions
from tracereplay.ingest.sniff import detect_format, open_dump, read_head
from tracereplay.ingest.store import DICTIONARY_SCHEMA, STRING_COLUMNS, EventStore, record_batches
from tracereplay.ingest.summary import FileSummary, IngestSummary


def collect(paths: Sequence[str | Path], options: IngestOptions) -> tuple[EventStore, IngestSummary]:
    """Read every dump into a compact store (filters applied, sessions not yet assigned)."""
    if not paths:
        raise InputError("-", "no dump given")

    def files() -> Generator[tuple[FileSummary, Iterator[RawBatch]], None, None]:
        for given in paths:
            path = Path(given)
            fmt = options.format
            if fmt == "auto":
                fmt = "access-log" if options.log_format else detect_format(path, read_head(path))
            read = reader_for(fmt)
            with open_dump(path) as stream, closing(read(path, stream, options)) as batches:
                yield FileSummary(path=str(path), format=fmt), batches

    with closing(files()) as dumps:
        return collect_batches(dumps, options)


def collect_batches(files: Iterable[tuple[FileSummary, Iterable[RawBatch]]],
                    options: IngestOptions) -> tuple[EventStore, IngestSummary]:
    """The pipeline after the readers: every file's batches normalized into one store, then filtered."""
    summary = IngestSummary(pseudonymised=not options.keep_user_ids)
    dropped: Counter[str] = Counter()
    store = EventStore()
    normalize = Normalizer(options, store.dictionaries)  # one set of dictionaries: adding rows is O(rows)
    started = time.perf_counter()
    with _progress(options) as advance:
        for file_summary, batches in files:
            summary.files.append(file_summary)
            for batch in batches:
                file_summary.spans += batch.read
                dropped.update(batch.dropped)
                for reason, line in batch.first_line.items():
                    file_summary.first_line.setdefault(reason, line)
                store.add(normalize(batch, dropped))
                advance(batch.read)
                del batch  # not held while the reader builds the next one
            if file_summary.spans == 0:
                raise InputError(file_summary.path, f"no spans or events in this {file_summary.format} file")
    summary.spans_read = sum(f.spans for f in summary.files)
    if options.services:
        store.keep_services(options.services, dropped)
    elif tuple(options.span_kinds) == ("server",):
        store.keep_services((), dropped)
    store.drop_unidentified(dropped)
    summary.dropped = dict(dropped)
    summary.seconds = time.perf_counter() - started
    if not len(store):
        reasons = ", ".join(f"{n} {reason}" for reason, n in dropped.most_common()) or "none"
        paths = [f.path for f in summary.files]
        where = paths[0] if len(paths) == 1 else f"{paths[0]} (and {len(paths) - 1} more)"
        raise InputError(where, f"no span matched: {summary.spans_read} read, dropped: {reasons}")
    return store, summary


def table_batches(store: EventStore, summary: IngestSummary, options: IngestOptions,
                  salt: bytes) -> Iterator[pa.RecordBatch]:
    """Sessionize, label and yield the event table in time order, one row group at a time.

    Batches have :data:`~tracereplay.ingest.store.DICTIONARY_SCHEMA` (strings as dictionary arrays).
    """
    columns, order, sessions = store.finish(options.session_gap)
    dictionaries = store.dictionaries
    users = dictionaries["user"].values
    user_labels = list(users) if options.keep_user_ids else pseudonymise(users, salt, prefix="u")
    labels = {name: dictionaries[name].values for name in ("action", "method", "route", "path", "source")}
    labels["user"] = user_labels
    labels["session"] = _session_labels(sessions, users, user_labels, dictionaries["session"].values, salt)
    _fill_summary(summary, columns, order, sessions, store)
    for unused in ("session", "user_key", "service", "root"):  # not written: free them first
        columns.pop(unused, None)
        store.parts.pop(unused, None)
    yield from record_batches(columns, order, sessions.row_session, labels, options.row_group_rows)


def _session_labels(sessions: Sessions, users: list[str], user_labels: list[str], explicit_ids: list[str],
                    salt: bytes) -> list[str]:
    """Explicit sessions: a keyed hash of (user, session id) — session ids are often tokens.
    Gap sessions: ``<user label>-<n>``, the user's n-th session."""
    explicit = sessions.explicit >= 0
    labels: list[str] = [""] * sessions.count
    rows = np.flatnonzero(explicit).tolist()
    owners, ids = sessions.user[explicit].tolist(), sessions.explicit[explicit].tolist()
    keys = [f"{users[u]}\x1f{explicit_ids[s]}" for u, s in zip(owners, ids, strict=True)]
    for i, label in zip(rows, pseudonymise(keys, salt, prefix="s"), strict=True):
        labels[i] = label
    gap = ~explicit
    owners, ordinals = sessions.user[gap].tolist(), sessions.ordinal[gap].tolist()
    for i, u, n in zip(np.flatnonzero(gap).tolist(), owners, ordinals, strict=True):
        labels[i] = f"{user_labels[u]}-{n}"
    return labels


def _fill_summary(summary: IngestSummary, columns: dict[str, np.ndarray], order: np.ndarray | None,
                  sessions: Sessions, store: EventStore) -> None:
    dictionaries = store.dictionaries
    summary.spans_kept = len(columns["ts"])
    summary.users = int((np.bincount(columns["user"], minlength=1) > 0).sum())
    summary.sessions = sessions.count
    action_counts = np.bincount(columns["action"], minlength=len(dictionaries["action"]))
    summary.actions = int((action_counts > 0).sum())
    names = dictionaries["action"].values
    top = np.argsort(-action_counts, kind="stable")[:10]
    summary.top_actions = {names[i]: int(action_counts[i]) for i in top if action_counts[i] > 0}
    key_codes = columns["user_key"]
    key_counts = np.bincount(key_codes[key_codes >= 0], minlength=len(dictionaries["user_key"]))
    key_names = dictionaries["user_key"].values
    summary.identity = {key_names[i]: int(c) for i, c in enumerate(key_counts) if c > 0}
    ts = columns["ts"]
    summary.first_ns = int(ts[order[0]] if order is not None else ts[0])
    summary.last_ns = int(ts[order[-1]] if order is not None else ts[-1])


def write_output(paths: Sequence[str | Path], output: str | Path, options: IngestOptions) -> IngestSummary:
    """The whole ingest: read, then write ``output`` atomically in row groups, the salt beside it."""
    target = Path(output)
    store, summary = collect(paths, options)
    started = time.perf_counter() - summary.seconds
    salt_file = salt_path_for(target)
    if options.keep_user_ids:
        salt, created = options.salt or new_salt(), False
    elif options.salt is not None:
        salt, created = options.salt, False
    elif salt_file.exists():
        salt, created = load_or_create_salt(salt_file)
    else:
        salt, created = new_salt(), True
    with atomic_path(target) as tmp, parquet_writer(tmp) as writer:
        for batch in table_batches(store, summary, options, salt):
            writer.write_batch(batch)
    if created:
        _write_salt(salt_file, salt)
    summary.output = str(target)
    summary.salt_file = None if options.keep_user_ids or options.salt is not None else str(salt_file)
    summary.seconds = time.perf_counter() - started
    return summary


def read_table(paths: Sequence[str | Path], options: IngestOptions) -> tuple[pa.Table, IngestSummary]:
    """The whole ingest in memory (for notebooks and tests)."""
    return to_table(*collect(paths, options), options)


def to_table(store: EventStore, summary: IngestSummary,
             options: IngestOptions) -> tuple[pa.Table, IngestSummary]:
    """The event table of a collected store, in memory, with :data:`EVENT_SCHEMA`."""
    batches = list(table_batches(store, summary, options, options.salt or new_salt()))
    return pa.Table.from_batches(batches, schema=DICTIONARY_SCHEMA).cast(EVENT_SCHEMA), summary


def parquet_writer(path: Path) -> pq.ParquetWriter:
    """A writer of :func:`table_batches` whose file reads back with exactly :data:`EVENT_SCHEMA`.

    Measured on 1 M spans (docs/architecture.md): dictionary arrays written as they are (no re-encoding of
    strings), zstd (smallest; as fast as snappy here), delta-encoded times, statistics only for the
    non-string columns (string min/max costs more than the rest of the write).
    The Arrow schema is not stored, so readers see plain strings, not dictionaries.
    """
    return pq.ParquetWriter(
        # use_dictionary and write_statistics take "bool or list" (pyarrow's docstring), but their
        # parameters are unannotated and pyright infers bool from the default
        path, DICTIONARY_SCHEMA, compression="zstd", store_schema=False,
        use_dictionary=list(STRING_COLUMNS),  # pyright: ignore[reportArgumentType]
        write_statistics=[name for name in EVENT_SCHEMA.names  # pyright: ignore[reportArgumentType]
                          if name not in STRING_COLUMNS],
        column_encoding={"ts": "DELTA_BINARY_PACKED"})


def _write_salt(path: Path, salt: bytes) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(salt.hex() + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)


@contextmanager
def _progress(options: IngestOptions) -> Iterator:
    """A rich progress line with spans/s on a terminal; a no-op elsewhere."""
    if not (options.progress and sys.stderr.isatty()):
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("ingest {task.completed:,.0f} spans"),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn())
    started = time.perf_counter()
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("ingest", total=None, rate="")

        def advance(n: int) -> None:
            done = progress.tasks[0].completed + n
            rate = done / max(time.perf_counter() - started, 1e-9)
            progress.update(task, advance=n, rate=f"{rate:,.0f} spans/s")

        yield advance
