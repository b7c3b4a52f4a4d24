"""The canonical event table: one row per user action, the contract between every stage.

| column        | pandas dtype          | meaning                                                        |
|---------------|-----------------------|----------------------------------------------------------------|
| ts            | datetime64[ns, UTC]   | when the action started                                        |
| user          | string                | pseudonymous user key                                          |
| session       | string                | session key                                                    |
| action        | string                | ``"METHOD /route/{template}"`` or the analytics event name     |
| method        | string (nullable)     | HTTP method                                                    |
| route         | string (nullable)     | route template                                                 |
| path          | string (nullable)     | concrete path, query stripped                                  |
| status        | Int64 (nullable)      | HTTP status                                                    |
| duration_ms   | float64 (nullable)    | server-side duration (client latency in run output)           |
| error         | bool                  | failed                                                         |
| source        | string                | the reader (or ``run``) that produced the row                  |

Readers and runs may add columns; nothing downstream may require them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from tracereplay.errors import InputError
from tracereplay.files import atomic_path

if TYPE_CHECKING:
    import pandas as pd

EVENT_COLUMNS: tuple[str, ...] = (
    "ts", "user", "session", "action", "method", "route", "path", "status", "duration_ms", "error", "source",
)

EVENT_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("ns", tz="UTC"), nullable=False),
        pa.field("user", pa.string(), nullable=False),
        pa.field("session", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("method", pa.string()),
        pa.field("route", pa.string()),
        pa.field("path", pa.string()),
        pa.field("status", pa.int32()),
        pa.field("duration_ms", pa.float64()),
        pa.field("error", pa.bool_(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
    ]
)

_PANDAS_DTYPES = {
    "ts": "datetime64[ns, UTC]",
    "user": "string",
    "session": "string",
    "action": "string",
    "method": "string",
    "route": "string",
    "path": "string",
    "status": "Int64",
    "duration_ms": "float64",
    "error": "bool",
    "source": "string",
}
REQUIRED = ("ts", "user", "session", "action")


def empty_events() -> pd.DataFrame:
    """An event table with no rows and the right dtypes."""
    import pandas as pd

    return conform(pd.DataFrame({c: [] for c in REQUIRED}))


def conform(frame: pd.DataFrame, *, source: str = "unknown") -> pd.DataFrame:
    """Return ``frame`` with every event column present, in order, with the contract's dtypes.

    Missing optional columns are added empty; extra columns are kept after the contract's.
    Rows are sorted by ``ts`` (stable, so equal times keep their order).
    """
    import pandas as pd  # not at import time: the ingest path writes Parquet without pandas

    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"event table lacks required column(s): {', '.join(missing)}")
    out = frame.copy()
    for column in EVENT_COLUMNS:
        if column not in out.columns:
            out[column] = _default(column, len(out), source)
    out["ts"] = pd.to_datetime(out["ts"], utc=True).astype("datetime64[ns, UTC]")
    out["error"] = out["error"].fillna(False).astype(bool)
    for column, dtype in _PANDAS_DTYPES.items():
        if column not in ("ts", "error"):
            out[column] = out[column].astype(dtype)
    extras = [c for c in out.columns if c not in EVENT_COLUMNS]
    ordered = out[list(EVENT_COLUMNS) + extras]
    if not isinstance(ordered, pd.DataFrame):  # a list of labels selects a frame (pandas annotates a union)
        raise TypeError(f"selecting the event columns gave a {type(ordered).__name__}")
    return ordered.sort_values("ts", kind="stable").reset_index(drop=True)


def _default(column: str, n: int, source: str) -> object:
    import pandas as pd

    if column == "error":
        return False
    if column == "source":
        return source
    # float64 has no pd.NA; NaN is its missing value.
    return float("nan") if _PANDAS_DTYPES[column] == "float64" else pd.NA


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """The event table as Arrow, with :data:`EVENT_SCHEMA` for the contract's columns."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = [
        EVENT_SCHEMA.field(name) if name in EVENT_SCHEMA.names else table.schema.field(name)
        for name in table.column_names
    ]
    return table.cast(pa.schema(fields))


def write_events(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write an event table to exactly ``path`` as Parquet, atomically (a temp file renamed into place)."""
    import pyarrow.parquet as pq

    target = Path(path)
    with atomic_path(target) as tmp:
        pq.write_table(to_arrow(conform(frame)), tmp, compression="zstd")
    return target


def read_events(path: str | Path, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Read an event table written by any stage (ingest, simulate, a run's requests*.parquet)."""
    import pyarrow.parquet as pq

    source = Path(path)
    if not source.exists():
        raise InputError(source, "no such file")
    try:
        table = pq.read_table(source, columns=list(columns) if columns is not None else None)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(source, f"not a readable Parquet event table ({_first_line(exc)})") from None
    frame = table.to_pandas()
    missing = [c for c in REQUIRED if c not in frame.columns and (columns is None or c in columns)]
    if missing:
        raise InputError(source, f"not an event table: missing column(s) {', '.join(missing)}")
    return conform(frame) if columns is None else frame


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
