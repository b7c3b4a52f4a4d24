# The compiled scanners (ingest/native/*.c): their Python signatures, for pyright (it cannot read a .so).
# Keep in step with the PyArg_Parse* formats and docstrings of module.c, pool.c, sink.c and scan_*.c.

import numpy as np
from typing_extensions import Buffer

# Buffers a scanner writes into: numpy arrays (typeshed gives ndarray ``__buffer__`` only from Python 3.12).
_Writable = np.ndarray

OK: int
TRUNCATED: int
MALFORMED: int

class Pool:
    """Distinct strings of one column of a dump, each with a stable int32 code."""

    def __init__(self) -> None: ...
    def __len__(self) -> int: ...
    def intern(self, value: str | Buffer, /) -> int: ...
    @property
    def values(self) -> list[str]: ...

class Sink:
    """The columns a scanner writes spans into, and which attribute keys feed which column."""

    def __init__(self, keys: tuple[bytes, ...], key_logical: Buffer, fallback_of: Buffer, numeric: Buffer,
                 user_logical: int, keep_kind: Buffer, pools: tuple[Pool | None, ...], name_pool: Pool,
                 service_pool: Pool) -> None: ...
    def bind(self, start: _Writable, end: _Writable, kind: _Writable, root: _Writable, error: _Writable,
             status: _Writable, name: _Writable, service: _Writable, user_key: _Writable,
             codes: _Writable) -> None: ...
    @property
    def capacity(self) -> int: ...

def count_pb(buf: Buffer, framing: int, /) -> tuple[int, int, int, int, int]: ...
def scan_pb(buf: Buffer, framing: int, sink: Sink, row0: int, /) -> tuple[int, int, int, int, int]: ...
def scan_json(buf: Buffer, sink: Sink, row0: int, start: int, lines: bool,
              /) -> tuple[int, int, int, int, int, int, str | None]: ...
def scan_log(block: Buffer, start: int, program: Buffer, pools: tuple[Pool | None, ...], codes: _Writable,
             status: _Writable, line: _Writable, max_line: int, /) -> tuple[int, int, int]: ...
