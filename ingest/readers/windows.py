"""Windows over a dump for the compiled scanners: views of the bytes, the next one starting where the
consumer stopped.

A plain file is memory-mapped one window at a time (no copy; each window is unmapped once used, so resident
memory stays one window); a decompressing stream is read into one reused buffer whose unused tail moves to
the front. Either way the consumer looks at ``window.view``, sets ``window.taken`` to the bytes it used
(whole records), and the next window starts there; a window it takes nothing from grows (a record longer
than the window).
"""

from __future__ import annotations

import io
import mmap
import os
import stat
from collections.abc import Iterator
from typing import BinaryIO

from tracereplay.ingest.sniff import ReadsInto


class Window:
    """``view``: bytes from position ``offset`` of the stream; ``last``: the view reaches its end."""

    def __init__(self) -> None:
        self.view = memoryview(b"")
        self.offset = 0
        self.length = 0
        self.last = False
        self.taken = 0
        self._source: mmap.mmap | bytearray = bytearray()
        self._start = 0

    def whole_lines(self) -> int:
        """Bytes of the view up to and including its last newline (0 when it has none)."""
        newline = self._source.rfind(b"\n", self._start, self._start + self.length)
        return newline + 1 - self._start if newline >= 0 else 0

    def _show(self, source: mmap.mmap | bytearray, start: int, end: int, offset: int, last: bool) -> None:
        self._source, self._start = source, start
        self.view = memoryview(source)[start:end]
        self.offset, self.length, self.last, self.taken = offset, end - start, last, 0


def is_plain_file(stream: BinaryIO) -> bool:
    plain = isinstance(stream, io.BufferedReader) and isinstance(stream.raw, io.FileIO)
    return plain and stat.S_ISREG(os.fstat(stream.fileno()).st_mode)


def windows(stream: BinaryIO, size: int, head: bytes = b"") -> Iterator[Window]:
    """Windows of about ``size`` bytes from the stream's position; ``head``: bytes already read from it, which
    come first. Offsets count from the first byte of ``head`` (file offsets for a plain file). It ends when
    everything was taken, or after a last window the consumer left (partly) untaken: ``taken < length``."""
    if is_plain_file(stream):
        yield from _mapped(stream, size, stream.tell() - len(head))
    else:
        yield from _read(stream, size, head)


def _mapped(stream: BinaryIO, size: int, offset: int) -> Iterator[Window]:
    total = os.fstat(stream.fileno()).st_size
    window, want = Window(), size
    while offset < total:
        base = offset - offset % mmap.ALLOCATIONGRANULARITY
        length = min(want + (offset - base), total - base)
        with mmap.mmap(stream.fileno(), length, access=mmap.ACCESS_READ, offset=base) as mapped:
            window._show(mapped, offset - base, length, offset, base + length == total)
            try:
                yield window
            finally:  # also when the consumer stops early: a map cannot close under a live view
                window.view.release()
        if window.taken:
            offset, want = offset + window.taken, size
        elif window.last:
            return
        else:
            want *= 2


def _read(stream: BinaryIO, size: int, head: bytes) -> Iterator[Window]:
    if not isinstance(stream, ReadsInto):
        raise TypeError(f"a {type(stream).__name__} cannot read into a buffer")
    buffer = bytearray(max(size, len(head)))
    buffer[:len(head)] = head
    filled, offset = len(head), 0
    window = Window()
    while True:
        got = stream.readinto(memoryview(buffer)[filled:]) or 0
        filled += got
        if not filled:
            return
        window._show(buffer, 0, filled, offset, not got)
        try:
            yield window
        finally:
            window.view.release()
        if not got and window.taken < filled:
            return
        buffer[:filled - window.taken] = buffer[window.taken:filled]
        offset, filled = offset + window.taken, filled - window.taken
        if not got:
            return
        if filled == len(buffer):  # one record longer than the buffer: make room for it
            buffer.extend(bytes(len(buffer)))
