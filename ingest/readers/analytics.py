"""Column builder shared by the analytics readers (Segment, Mixpanel, Snowplow): one row an event.

Analytics events are user actions by nature: every row counts as a server span of a root (nothing is
dropped by the span-kind or entry-service rules). Times arrive as ISO strings or epoch numbers and are
converted for the whole batch at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Generator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from tracereplay.checked import series
from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import Coded, RawBatch
from tracereplay.ingest.readers.jsontext import read_json_rows, records


class EventRows:
    """Appends analytics events as columns."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.times: list[object] = []
        self.users: list[str | None] = []
        self.user_keys: list[str | None] = []
        self.sessions: list[str | None] = []
        self.actions: list[str | None] = []
        self.paths: list[str | None] = []
        self.read = 0
        self.dropped: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self.times)

    def add(self, time: object, user: str | None, user_key: str | None, session: object, action: object,
            path: object = None) -> None:
        self.times.append(time)
        self.users.append(_text(user))
        self.user_keys.append(user_key if user is not None else None)
        self.sessions.append(_text(session))
        self.actions.append(_text(action))
        self.paths.append(_text(path))

    def finish(self) -> RawBatch:
        n = len(self.times)
        arrays = {
            "ts": to_ns(self.times),
            "end": np.zeros(n, dtype=np.int64),
            "user": np.array(self.users, dtype=object),
            "user_key": np.array(self.user_keys, dtype=object),
            "session": np.array(self.sessions, dtype=object),
            "action": np.array(self.actions, dtype=object),
            "path": np.array(self.paths, dtype=object),
        }
        missing_action = pd.isna(arrays["action"])  # an event without a name is not an action we can replay
        if missing_action.any():
            self.dropped["no event name"] += int(missing_action.sum())
            keep = ~missing_action
            arrays = {k: v[keep] for k, v in arrays.items()}
            n = int(keep.sum())
        columns: dict[str, np.ndarray | Coded] = dict(arrays)
        return RawBatch(n=n, columns=columns, source=self.source, read=self.read, dropped=self.dropped)


def read_json_events(
    path: Path,
    stream: BinaryIO,
    options: IngestOptions,
    *,
    source: str,
    label: str,
    containers: tuple[str, ...],
    add: Callable[[EventRows, dict], None],
) -> Generator[RawBatch, None, None]:
    """Batches of rows from JSON events: each value is an event or holds them under ``containers``."""
    return read_json_rows(
        path, stream, batch_size=options.batch_spans, new_rows=lambda: EventRows(source),
        events=lambda value: records(value, *containers), add=add, label=f"a {label}",
    )


def to_ns(times: list[object]) -> np.ndarray:
    """UTC nanoseconds of ISO strings or epoch numbers (unit told by magnitude); 0 when unreadable."""
    values = pd.Series(times, dtype=object)
    numeric = to_numbers(values)
    out = np.zeros(len(values), dtype=np.int64)
    is_number = numeric.notna().to_numpy()
    if is_number.any():
        out[is_number] = epoch_to_ns(numeric.to_numpy()[is_number])
    text = ~is_number & values.notna().to_numpy()
    if text.any():
        parsed = series(pd.to_datetime(values[text].astype(str), utc=True, format="ISO8601",
                                       errors="coerce"))
        ns = parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64)
        out[text] = np.where(parsed.isna().to_numpy(), 0, ns)
    return out


def to_numbers(values: pd.Series) -> pd.Series:
    """``pd.to_numeric(values, errors="coerce")``: the numbers (numeric text too), NaN for the rest."""
    return series(pd.to_numeric(values, errors="coerce"))


def epoch_to_ns(values: np.ndarray) -> np.ndarray:
    """Epoch numbers in s, ms, µs or ns (told by magnitude) → int64 ns, exact for integer inputs."""
    values = np.asarray(values, dtype=np.float64)
    magnitude = np.abs(values)
    scale = np.select([magnitude < 1e11, magnitude < 1e14, magnitude < 1e17], [10**9, 10**6, 10**3], 1)
    whole = np.floor(values)
    # integer part times the scale in int64 (exact), the fraction rounded separately (float precision)
    fraction = np.round((values - whole) * scale).astype(np.int64)
    return whole.astype(np.int64) * scale.astype(np.int64) + fraction


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)
