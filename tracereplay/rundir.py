"""The run directory: its file names, ``run.json``'s schema, and the only code that writes or reads them.

A run directory holds::

    run.json                   RunMeta: what the run was asked to do and, once it ends, what it did
    requests-<w>.parquet       every request of worker w (REQUEST_SCHEMA), written when the worker ends
    users-<w>.parquet          worker w's counters, one row a second (USERS_SCHEMA)
    requests-<w>.arrows        while the run goes: worker w's requests as an Arrow IPC stream
    users-<w>.arrows           … and its counters, the same way
    ws-<w>.parquet             worker w's websocket happenings (WS_SCHEMA), only if a pack opened one
    ws-<w>.arrows              … while the run goes, the same way

The part rule: a worker appends each second's rows to its ``.arrows`` stream and hands them to the kernel
at once, so a crashed or killed worker loses at most the last second, and the stream stays readable up
to the last complete batch. A worker in another process or on another machine (``replay/cluster/``)
encodes the same stream in memory (:class:`StreamBytes`) and ships each second's bytes to the parent,
which appends them to the same file (:class:`ReceivedStream`): the file is byte for byte the stream the
worker would have written itself, and a lost worker loses what was not shipped yet. When the worker
ends, the stream is converted into ``.parquet`` (written to a temporary sibling, renamed into place,
then the stream is removed). A reader takes, per worker, the Parquet file when there is one (a crash
between the rename and the removal leaves both: nothing is counted twice), else the stream. Runs written
before the streams kept one ``requests-<w>.partNNNNNN.parquet`` a second; those parts are still read the
same way.

``run.json`` is written by :func:`write_run_json` only (at the start with ``exit_reason`` "running", at
the end with the totals) and read by :func:`read_run_json` only, which validates it: a run directory is
outside input, so a damaged ``run.json`` is one :class:`~tracereplay.errors.InputError` naming the file
and the field.
"""

from __future__ import annotations

import dataclasses
import io
import json
import platform
import re
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from tracereplay import __version__
from tracereplay.errors import InputError
from tracereplay.files import atomic_path
from tracereplay.ingest.events import EVENT_SCHEMA

RUN_JSON = "run.json"
FORMAT = "tracereplay-run"
#: run.json's schema version. Version 1 is the only one; a reader refuses a newer one.
VERSION = 1
RUNNING = "running"  # exit_reason while the run is going (or if it crashed)

REQUESTS, USERS, WS = "requests", "users", "ws"
PARQUET, STREAM = ".parquet", ".arrows"
#: Each batch's buffers zstd-compressed: an hour at 2 000 req/s is ~0.5 GB on disk instead of ~1.4 GB.
STREAM_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")
#: Rows a Parquet row group holds when a stream is converted (the report reads a row group at a time).
ROW_GROUP_ROWS = 1 << 16

REQUEST_SCHEMA = pa.schema(
    [
        *EVENT_SCHEMA,
        pa.field("intended", pa.timestamp("ns", tz="UTC"), nullable=False),
        pa.field("latency_ms", pa.float64()),
        pa.field("latency_corrected_ms", pa.float64()),
        pa.field("error_kind", pa.string()),
        pa.field("error_detail", pa.string()),  # why a failure failed, in words; null for a success
        pa.field("expected", pa.bool_()),  # an HTTP error status the pack expected (not an error)
        pa.field("long_poll", pa.bool_()),  # held open by the server on purpose: not in headline latency
        pa.field("bytes", pa.int64()),
        pa.field("worker", pa.int32(), nullable=False),
    ]
)

USERS_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("ns", tz="UTC"), nullable=False),
        pa.field("worker", pa.int32(), nullable=False),
        pa.field("active_users", pa.int64()),
        pa.field("sessions_started", pa.int64()),
        pa.field("sessions_dropped", pa.int64()),
        pa.field("sessions_late", pa.int64()),
        pa.field("requests", pa.int64()),
        pa.field("errors", pa.int64()),
    ]
)

#: One row per websocket happening of a worker's users (replay/websocket.py writes them). ``kind`` says
#: which: ``connect`` (``duration_ms`` = set-up time, ``outcome`` "ok" or an error kind), ``disconnect``
#: (``outcome`` = the reason), ``send`` (a message the user sent; ``outcome`` null when written),
#: ``receive`` (a message that arrived) or ``origin`` (an action tagged with a correlation id: ``ts`` is its
#: send's start). A ``receive`` whose ``correlation`` matches an ``origin`` or ``send`` row is a delivery:
#: its latency is the difference of the two ``ts`` (report/websocket.py).
WS_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("ns", tz="UTC"), nullable=False),
        pa.field("worker", pa.int32(), nullable=False),
        pa.field("user", pa.string()),
        pa.field("session", pa.string()),
        pa.field("socket", pa.string()),  # the path the pack opened
        pa.field("conn", pa.int64()),  # the connection's number in the worker (a reconnect gets a new one)
        pa.field("kind", pa.string(), nullable=False),
        pa.field("type", pa.string()),  # the message's type ("posted"), or the tagged action's name
        pa.field("correlation", pa.string()),
        pa.field("duration_ms", pa.float64()),
        pa.field("outcome", pa.string()),
        pa.field("detail", pa.string()),
        pa.field("bytes", pa.int64()),
    ]
)

_WORKER_FILE = re.compile(
    r"(?P<kind>requests|users|ws)-(?P<worker>\d+)(?:\.part(?P<part>\d+))?(?P<ext>\.parquet|\.arrows)"
)


# ------------------------------------------------------------------------------------------------ run.json
@dataclass(frozen=True, kw_only=True)
class RunMeta:
    """``run.json``. Times are UTC; ``totals`` is the end-of-run result (empty while running)."""

    target: str
    started: datetime
    workers: int = 1
    config: dict[str, Any] = field(default_factory=dict)
    ended: datetime | None = None
    exit_reason: str = RUNNING
    model: str | None = None
    model_sha256: str | None = None
    source: str | None = None  # "model", "script" or "trace"
    workload: str | None = None  # "closed", "open" or "trace"
    profile: dict[str, Any] | None = None  # open workload on a model: the profile window it covers
    requests: int = 0
    # requests, errors, sessions, latency figures; loop_blocked (the loop watchdog's count, seconds,
    # longest_s, threshold_s, blocks) and ended_by ("run" or "watchdog"): docs/architecture.md
    totals: dict[str, Any] = field(default_factory=dict)
    # workers lost mid-run (a killed process, a vanished cluster node): worker, where, users, at_s, lost_s,
    # moved (what the other workers took over: "users", "arrivals" or None)
    lost_workers: list[dict[str, Any]] = field(default_factory=list)
    tracereplay: str | None = None  # who wrote it: stamped by write_run_json
    python: str | None = None
    host: str | None = None

    @property
    def finished(self) -> bool:
        return self.exit_reason != RUNNING

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (``format`` and ``version`` first)."""
        out: dict[str, Any] = {"format": FORMAT, "version": VERSION}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return out


def write_run_json(run_dir: str | Path, meta: RunMeta) -> Path:
    """Write ``RUN_DIR/run.json`` atomically (the only writer); returns its path."""
    target = Path(run_dir) / RUN_JSON
    meta = dataclasses.replace(
        meta, tracereplay=__version__, python=sys.version.split()[0], host=platform.node()
    )
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(meta.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    return target


def read_run_json(run_dir: str | Path) -> RunMeta | None:
    """``RUN_DIR/run.json`` validated, or None if the run left none (it crashed before writing it)."""
    path = Path(run_dir) / RUN_JSON
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(
            path, f"not valid JSON ({exc.msg})", where=f"line {exc.lineno} column {exc.colno}"
        ) from None
    except UnicodeDecodeError:
        raise InputError(path, "not valid JSON (not UTF-8 text)") from None
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc.strerror})") from None
    return meta_from_dict(data, path)


def meta_from_dict(data: Any, path: Path) -> RunMeta:
    """Validate a parsed ``run.json``; an InputError names ``path`` and the first bad field."""
    if not isinstance(data, dict):
        raise InputError(path, "not a run description (expected a JSON object)")
    if data.get("format", FORMAT) != FORMAT:
        raise InputError(path, f"not a run description (format {data.get('format')!r}, expected {FORMAT!r})")
    version = data.get("version", VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(path, f"field 'version' is {version!r}, not a version number")
    if version > VERSION:
        raise InputError(path, f"run.json version {version} is newer than this tracereplay reads ({VERSION})")

    def get(name: str, kinds: tuple[type, ...], *, required: bool = False, default: Any = None) -> Any:
        if name not in data or data[name] is None:
            if required:
                raise InputError(path, f"field {name!r} is missing")
            return default
        value = data[name]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            wanted = " or ".join(k.__name__ for k in kinds)
            raise InputError(path, f"field {name!r} is {type(value).__name__}, expected {wanted}")
        return value

    def when(name: str, *, required: bool = False) -> datetime | None:
        text = get(name, (str,), required=required)
        if text is None:
            return None
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(path, f"field {name!r} is {text!r}, not an ISO 8601 time") from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)

    workers = get("workers", (int,), default=1)
    requests = get("requests", (int,), default=0)
    for name, value in (("workers", workers), ("requests", requests)):
        if value < 0:
            raise InputError(path, f"field {name!r} is {value}, expected a count ≥ 0")
    optional = ("model", "model_sha256", "source", "workload", "tracereplay", "python", "host")
    strings = {n: get(n, (str,)) for n in optional}
    return RunMeta(
        target=get("target", (str,), default=""),
        started=when("started", required=True),  # type: ignore[arg-type]
        ended=when("ended"),
        workers=workers,
        config=get("config", (dict,), default={}),
        exit_reason=get("exit_reason", (str,), default=RUNNING),
        profile=get("profile", (dict,)),
        requests=requests,
        totals=get("totals", (dict,), default={}),
        lost_workers=_lost_workers(get("lost_workers", (list,), default=[]), path),
        **{n: v for n, v in strings.items() if v is not None},
    )


def _lost_workers(entries: list[Any], path: Path) -> list[dict[str, Any]]:
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("worker"), int):
            raise InputError(path, f"field 'lost_workers' item {i} is not an object with a worker number")
    return entries


# ---------------------------------------------------------------------------------------- worker files
def worker_path(run_dir: str | Path, kind: str, worker: int, ext: str = PARQUET) -> Path:
    """``RUN_DIR/<kind>-<worker><ext>``: ``kind`` is REQUESTS, USERS or WS, ``ext`` PARQUET or STREAM."""
    return Path(run_dir) / f"{kind}-{worker}{ext}"


def worker_files(run_dir: str | Path, kind: str) -> tuple[Path, ...]:
    """The files to read for ``kind`` (REQUESTS, USERS or WS), by the part rule (module docstring)."""
    merged: dict[int, Path] = {}
    streams: dict[int, Path] = {}
    parts: dict[int, list[Path]] = {}
    for file in Path(run_dir).iterdir():
        match = _WORKER_FILE.fullmatch(file.name)
        if match is None or match["kind"] != kind:
            continue
        worker = int(match["worker"])
        if match["part"] is not None:
            if match["ext"] == PARQUET:
                parts.setdefault(worker, []).append(file)
        elif match["ext"] == PARQUET:
            merged[worker] = file
        elif file.stat().st_size > 0:  # killed before the stream's first bytes: it holds nothing
            streams[worker] = file
    chosen: list[Path] = []
    for worker in sorted(merged.keys() | streams.keys() | parts.keys()):
        if worker in merged:
            chosen.append(merged[worker])
        elif worker in streams:
            chosen.append(streams[worker])
        else:
            chosen.extend(sorted(parts[worker]))
    return tuple(chosen)


def is_stream(path: Path) -> bool:
    return path.suffix == STREAM


def stream_schema(path: Path) -> pa.Schema:
    """The schema of an ``.arrows`` stream; InputError if it has none (not a stream, or empty)."""
    try:
        with pa.OSFile(str(path)) as source:
            return pa.ipc.open_stream(source).schema
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise InputError(path, f"not a readable Arrow stream ({_first_line(exc)})") from None


def stream_batches(path: Path, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The complete record batches of an ``.arrows`` stream, in order.

    A worker killed mid-write leaves a torn last batch: reading stops there, so the run keeps every second
    before it. A file with no readable schema at all is an InputError naming it.
    """
    try:
        # read, not memory-mapped: each batch is decoded into its own buffers and freed once used, so
        # converting or reading an hour of a worker's requests holds one row group, not the whole file
        source = pa.OSFile(str(path))
        reader = pa.ipc.open_stream(source)
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise InputError(path, f"not a readable Arrow stream ({_first_line(exc)})") from None
    with source:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowInvalid, OSError):
                # a torn tail: what a writer killed mid-batch leaves. Said once, as the rows after it are
                # lost (at most the second being written)
                warnings.warn(
                    f"{path}: ends in an incomplete batch; read up to its last complete second", stacklevel=2
                )
                return
            yield batch.select(columns) if columns is not None else batch


class StreamSink(Protocol):
    """Where a recorder's batches go: its ``.arrows`` file, or bytes shipped to the parent."""

    def write(self, table: pa.Table) -> None: ...

    def finish(self) -> Path | None: ...


#: Opens a worker's stream of one kind: ``(kind, worker, schema) → StreamSink``. Recorders default to a
#: :class:`StreamWriter` in the run directory; a worker whose run directory is elsewhere ships bytes
#: (``replay/cluster/worker.py``).
StreamOpener = Callable[[str, int, pa.Schema], StreamSink]


class StreamWriter:
    """One worker's ``.arrows`` stream: :meth:`write` appends a batch and hands it to the kernel at once,
    so it survives the process being killed; :meth:`finish` converts it into the worker's Parquet file."""

    def __init__(self, run_dir: str | Path, kind: str, worker: int, schema: pa.Schema) -> None:
        self.run_dir, self.kind, self.worker, self.schema = Path(run_dir), kind, worker, schema
        self.path = worker_path(run_dir, kind, worker, STREAM)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # OSFile writes straight to the file descriptor: no user-space buffer a crash could lose
        self._sink = pa.OSFile(str(self.path), "wb")
        self._writer = pa.ipc.new_stream(self._sink, schema, options=STREAM_OPTIONS)
        self.rows = 0
        # Arrow writes the schema with the first batch: an empty one now makes the stream readable from
        # its first byte on, even if the worker is killed before its first second is flushed
        self.write(schema.empty_table())

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)
        self._sink.flush()
        self.rows += table.num_rows

    def finish(self) -> Path:
        """Close the stream, write ``<kind>-<worker>.parquet`` from it (atomically), remove the stream."""
        self._writer.close()
        self._sink.close()
        return stream_to_parquet(self.run_dir, self.kind, self.worker, self.schema)


class StreamBytes:
    """A worker's stream encoded in memory, for a worker whose run directory is elsewhere: :meth:`take`
    hands over the bytes written since the last take (whole IPC messages), which the parent appends to
    the stream file with :class:`ReceivedStream`. The first take starts with the schema; the take after
    :meth:`finish` ends with the end-of-stream marker."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self._buffer = io.BytesIO()
        self._lock = threading.Lock()  # written by the recorder's flush thread, taken in the event loop
        self._writer = pa.ipc.new_stream(self._buffer, schema, options=STREAM_OPTIONS)
        self.rows = 0
        self.write(schema.empty_table())

    def write(self, table: pa.Table) -> None:
        with self._lock:
            self._writer.write_table(table)
            self.rows += table.num_rows

    def finish(self) -> None:
        with self._lock:
            self._writer.close()

    def take(self) -> bytes:
        with self._lock:
            data = self._buffer.getvalue()
            self._buffer.seek(0)
            self._buffer.truncate()
            return data


class ReceivedStream:
    """The parent's end of a :class:`StreamBytes`: each piece appended to ``<kind>-<worker>.arrows`` and
    handed to the kernel at once; :meth:`finish` converts the file into the worker's Parquet file."""

    def __init__(self, run_dir: str | Path, kind: str, worker: int, schema: pa.Schema) -> None:
        self.run_dir, self.kind, self.worker, self.schema = Path(run_dir), kind, worker, schema
        self.path = worker_path(run_dir, kind, worker, STREAM)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("wb", buffering=0)

    def append(self, data: bytes) -> None:
        if data:
            self._file.write(data)

    def finish(self) -> Path | None:
        """Close the file and convert it (a lost worker's, without its end marker, up to its last whole
        batch); None if nothing ever arrived."""
        self._file.close()
        if self.path.stat().st_size == 0:
            self.path.unlink()
            return None
        return stream_to_parquet(self.run_dir, self.kind, self.worker, self.schema)


def stream_to_parquet(run_dir: str | Path, kind: str, worker: int, schema: pa.Schema) -> Path:
    """Convert a closed ``<kind>-<worker>.arrows`` into ``<kind>-<worker>.parquet`` (written atomically,
    in row groups of ``ROW_GROUP_ROWS``), then remove the stream; returns the Parquet file."""
    source = worker_path(run_dir, kind, worker, STREAM)
    target = worker_path(run_dir, kind, worker, PARQUET)
    with atomic_path(target) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as out:
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch in stream_batches(source):
            pending.append(batch)
            rows += batch.num_rows
            if rows >= ROW_GROUP_ROWS:
                out.write_table(pa.Table.from_batches(pending, schema), row_group_size=rows)
                pending, rows = [], 0
        if pending:
            out.write_table(pa.Table.from_batches(pending, schema), row_group_size=max(rows, 1))
    source.unlink(missing_ok=True)
    return target


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
