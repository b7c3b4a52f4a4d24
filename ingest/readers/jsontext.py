"""JSON dumps as a stream of values: JSON lines (one value a line) or one document, with error positions.

JSON lines are decoded a batch of lines at a time (bounded memory); a single document has to be decoded
whole. Decoding runs with the garbage collector paused: building millions of small dicts otherwise
triggers collections that cost more than the decoding itself.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

import orjson

from tracereplay.errors import InputError
from tracereplay.ingest.raw import RawBatch

LINES_PER_BATCH = 2048
BYTES_PER_BATCH = 8 * 1024 * 1024  # a line may hold a whole export request of thousands of spans


@contextmanager
def gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def json_values(path: Path, stream: BinaryIO) -> Iterator[list[tuple[str, object]]]:
    """Batches of (place, value): ``("line N", value)`` for JSON lines, ``("document", value)`` otherwise."""
    first = stream.readline()
    blank = 0  # lines before the first value: places are counted from the top of the file
    while first and not first.strip():
        blank += 1
        first = stream.readline()
    if not first:
        raise InputError(path, "empty file (only white space)")
    try:
        with gc_paused():
            value = orjson.loads(first)
    except orjson.JSONDecodeError:
        value = _NOT_A_LINE
    if value is _NOT_A_LINE:
        yield [("document", _whole(path, first + stream.read(), blank))]
        return
    yield from _lines(path, stream, value, blank + 1)


_NOT_A_LINE = object()


def _whole(path: Path, data: bytes, blank: int) -> object:
    try:
        with gc_paused():
            return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        place = f"line {blank + exc.lineno} column {exc.colno}"
        raise InputError(path, f"invalid JSON ({exc.msg})", where=place) from None


def _lines(path: Path, stream: BinaryIO, first: object, number: int) -> Iterator[list[tuple[str, object]]]:
    batch: list[tuple[str, object]] = [(f"line {number}", first)]
    size = 0
    with gc_paused():
        for line in stream:
            number += 1
            if not line.strip():
                continue
            try:
                batch.append((f"line {number}", orjson.loads(line)))
            except orjson.JSONDecodeError as exc:
                raise InputError(path, f"invalid JSON ({exc.msg})", where=f"line {number}") from None
            size += len(line)
            if len(batch) >= LINES_PER_BATCH or size >= BYTES_PER_BATCH:
                yield batch
                batch = []
                size = 0
    if batch:
        yield batch


def records(value: object, *keys: str) -> list:
    """The records in a value: the value itself if it is a list, else the first list under ``keys``."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for key in keys:
            inner = value.get(key)
            if isinstance(inner, list):
                return inner
        return [value]
    raise TypeError(f"expected a JSON object or array, found {type(value).__name__}")


class Rows(Protocol):
    """A column builder a JSON reader fills: it counts its rows and turns them into a batch."""

    def __len__(self) -> int: ...

    def finish(self) -> RawBatch: ...


R = TypeVar("R", bound=Rows)


def read_json_rows(
    path: Path,
    stream: BinaryIO,
    *,
    batch_size: int,
    new_rows: Callable[[], R],
    events: Callable[[object], Iterable[dict]],
    add: Callable[[R, dict], None],
    label: str,
) -> Generator[RawBatch, None, None]:
    """Batches of rows from a JSON dump: ``events`` takes each value apart, ``add`` puts one into the rows.

    A value of the wrong shape stops the read with one line ``not <label> (…)`` naming the file and place.
    """
    rows = new_rows()
    for values in json_values(path, stream):
        for where, value in values:
            try:
                for event in events(value):
                    add(rows, event)
            except (TypeError, AttributeError, ValueError, KeyError) as exc:
                raise InputError(path, f"not {label} ({type(exc).__name__}: {exc})", where=where) from None
            if len(rows) >= batch_size:
                yield rows.finish()
                rows = new_rows()
    yield rows.finish()
