"""The compiled scanners' building blocks: the string pool and the sink spec (ingest/native)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tracereplay.ingest.options import make_options
from tracereplay.ingest.readers import native

pytestmark = pytest.mark.skipif(not native.available() and not os.environ.get("CI"),
                                reason="the C extension was not built (no C compiler at install)")


def test_the_extension_is_built():
    """CI installs with a compiler: a silent fall-back to the slow readers there would hide a broken build."""
    assert native.available()


def test_pool_gives_each_distinct_value_one_stable_code():
    from tracereplay.ingest._native import Pool

    pool = Pool()
    words = [f"user-{i}" for i in range(50_000)]  # enough to grow the table and the arena many times
    codes = [pool.intern(w) for w in words]
    assert codes == list(range(len(words)))
    assert [pool.intern(w.encode()) for w in reversed(words)] == codes[::-1]  # bytes and str agree
    assert pool.values == words and len(pool) == len(words)


def test_pool_keeps_long_values_and_replaces_invalid_utf8():
    from tracereplay.ingest._native import Pool

    pool = Pool()
    long = "x" * (17 << 20)  # longer than the 24-bit length kept in a table slot
    longer = long + "y"
    assert pool.intern(long) == 0 and pool.intern(longer) == 1 and pool.intern(long) == 0
    assert pool.intern(b"caf\xe9") == 2
    assert pool.values[2] == "caf\ufffd"
    assert pool.intern("") == 3 and pool.intern(b"") == 3


def test_span_columns_batches_share_one_dictionary(tmp_path):
    columns = native.SpanColumns(make_options(), "otlp", batch_rows=4)
    assert columns.sink.capacity == 4
    assert columns.take() is None  # nothing read yet
    pool = columns.pools[columns.logical.index("user")]
    assert pool.intern("alice") == 0
    columns.make_room(3)
    assert columns.make_room(10) is None and columns.sink.capacity >= 10  # empty batch: no hand-over


def test_sink_rejects_an_inconsistent_spec():
    from tracereplay.ingest._native import Pool, Sink

    with pytest.raises(ValueError, match="inconsistent"):
        Sink(keys=(b"a",), key_logical=b"", fallback_of=b"\xff", numeric=b"\0", user_logical=0,
             keep_kind=b"\1" * 6, pools=(Pool(),), name_pool=Pool(), service_pool=Pool())
    sink = Sink(keys=(b"a",), key_logical=b"\0", fallback_of=b"\xff", numeric=b"\0", user_logical=0,
                keep_kind=b"\1" * 6, pools=(Pool(),), name_pool=Pool(), service_pool=Pool())
    with pytest.raises(ValueError, match="wrong size"):
        sink.bind(start=np.empty(4, np.int64), end=np.empty(3, np.int64), kind=np.empty(4, np.int8),
                  root=np.empty(4, bool), error=np.empty(4, bool), status=np.empty(4),
                  name=np.empty(4, np.int32), service=np.empty(4, np.int32), user_key=np.empty(4, np.int32),
                  codes=np.empty((1, 4), np.int32))
