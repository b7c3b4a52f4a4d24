"""The compiled OTLP/JSON scanner (ingest/native/scan_json.c) against the orjson reader it replaces.

Every case reads the same file both ways (``otlp_json.read`` with the scanner, ``read_decoded`` without) and
compares the columns, so the layouts real exporters write (SDK spans through protobuf's JSON mapping, the
Collector's JSON lines) and the liberties of the encoding (snake_case, member order, escapes, numbers for
int64, enum names, pretty-printing) are all checked against the reference, as are batching, streaming and
bad input. Hypothesis compares the scanner's JSON checking with orjson's on random and mutated JSON.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from population import make_population, otlp_json_document

from tracereplay.errors import InputError
from tracereplay.ingest.options import make_options
from tracereplay.ingest.readers import native, otlp_json
from tracereplay.ingest.sniff import open_dump

pytestmark = pytest.mark.skipif(not native.available() and not os.environ.get("CI"),
                                reason="the C extension was not built (no C compiler at install)")

SAMPLE = Path(__file__).parents[2] / "sample_traces" / "otlp-json" / "traces.jsonl"
FIXED = ("ts", "end", "kind", "root", "span_error", "status")
TEXT = ("name", "service", "method", "route", "path", "user", "user_key", "session")
FALLBACKS = (("url", "path"), ("client", "user"), ("agent", "user"))


def _read(path: Path, options, *, scanner: bool) -> list:
    with open_dump(path) as stream:
        if scanner:
            return list(otlp_json.read(path, stream, options))
        return list(otlp_json.read_decoded(path, stream, options))


def _columns(batches: list) -> dict[str, np.ndarray]:
    out = {name: np.concatenate([b.get(name) for b in batches]) for name in FIXED}
    for name in TEXT + tuple(f for f, _ in FALLBACKS):
        out[name] = np.concatenate([b.coded(name).to_objects() for b in batches])
    return out


def _same_as_decoded(path: Path, options=None) -> dict[str, np.ndarray]:
    """Scanner and orjson reader agree on every column (fallback columns where their primary is missing)."""
    options = options or make_options()
    fast, slow = _read(path, options, scanner=True), _read(path, options, scanner=False)
    assert sum(b.read for b in fast) == sum(b.read for b in slow)
    assert sum((b.dropped for b in fast), start=type(slow[0].dropped)()) == \
        sum((b.dropped for b in slow), start=type(slow[0].dropped)())
    a, b = _columns(fast), _columns(slow)
    _assert_same_columns(a, b)
    assert len(a["ts"]) > 0
    return a


def _assert_same_columns(fast: dict[str, np.ndarray], slow: dict[str, np.ndarray]) -> None:
    """Every column equal; fallback columns where their primary is missing (the scanner skips the rest)."""
    for name in FIXED:
        assert np.array_equal(fast[name], slow[name], equal_nan=name == "status"), name
    for name in TEXT:
        assert list(fast[name]) == list(slow[name]), name
    for name, primary in FALLBACKS:
        needed = slow[primary] == None  # noqa: E711 (elementwise on an object array)
        assert list(fast[name][needed]) == list(slow[name][needed]), name


@pytest.fixture(scope="module")
def population():
    return make_population()


@pytest.fixture(scope="module")
def document(population) -> dict:
    """SDK spans (new and old HTTP names, a downstream service) through protobuf's JSON mapping."""
    document = otlp_json_document(population, extra_downstream=True)
    old = otlp_json_document(population[::2], new_semconv=False, service="legacy")
    document["resourceSpans"] += old["resourceSpans"]
    return document


COMPACT = (",", ":")  # the Collector's layout (and the scanner's fast path for attributes)


def _write_lines(path: Path, document: dict, newline: str = "\n", separators=None) -> Path:
    (key, resource_spans), = document.items()  # resourceSpans or resource_spans
    rows = [json.dumps({key: [rs]}, separators=separators) for rs in resource_spans]
    path.write_text(newline.join(rows) + newline, newline="")
    return path


def _spans(document: dict):
    for rs in document["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            yield from ss["spans"]


OPTIONS = {
    "default": {},
    "any kind, agent first": {"span_kinds": ["any"], "user_keys": ["user_agent.original", "enduser.id"]},
    "client spans": {"span_kinds": ["client"]},
}


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
@pytest.mark.parametrize("layout", ["document", "lines", "compact lines", "pretty", "crlf"])
def test_sdk_spans_read_the_same(tmp_path, document, layout, options):
    path = tmp_path / "t.json"
    if layout == "document":
        path.write_text(json.dumps(document))
    elif layout == "pretty":
        path.write_text(json.dumps(document, indent=4))
    else:
        _write_lines(path, document, "\r\n" if layout == "crlf" else "\n",
                     separators=COMPACT if layout.startswith("compact") else None)
    _same_as_decoded(path, make_options(**options))


def test_the_sample_dump_reads_the_same():
    _same_as_decoded(SAMPLE)
    _same_as_decoded(SAMPLE, make_options(span_kinds=["any"]))


def _snake(value: object) -> object:
    if isinstance(value, dict):
        return {re.sub(r"([A-Z])", r"_\1", k).lower(): _snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


def test_snake_case_and_old_scope_name(tmp_path, document):
    _same_as_decoded(_write_lines(tmp_path / "snake.jsonl", _snake(document), separators=COMPACT))
    renamed = {"resourceSpans": [{"resource": rs["resource"], "instrumentationLibrarySpans": rs["scopeSpans"]}
                                 for rs in document["resourceSpans"]]}
    _same_as_decoded(_write_lines(tmp_path / "ils.jsonl", renamed))


def test_member_order_numbers_and_enum_integers(tmp_path, document):
    """Resource after its spans, kind after the attributes, value before key; int64 and enums as numbers."""
    shuffled = json.loads(json.dumps(document))
    for rs in shuffled["resourceSpans"]:
        resource = rs.pop("resource")
        rs["resource"] = resource
    for span in _spans(shuffled):
        for key in list(span)[::-1]:
            span[key] = span.pop(key)
        span["startTimeUnixNano"] = int(span["startTimeUnixNano"])
        span["kind"] = {"SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3}.get(span["kind"], span["kind"])
        attributes = []
        for kv in span.get("attributes", ()):
            value = kv["value"]
            if "intValue" in value:
                value = {"intValue": int(value["intValue"])}
            attributes.append({"value": value, "key": kv["key"]})
        span["attributes"] = attributes
        if span.get("status", {}).get("code") == "STATUS_CODE_ERROR":
            span["status"]["code"] = 2
    _same_as_decoded(_write_lines(tmp_path / "shuffled.jsonl", shuffled))
    _same_as_decoded(_write_lines(tmp_path / "compact.jsonl", shuffled, separators=COMPACT))


def test_escapes_in_keys_and_values(tmp_path, document):
    """Non-ASCII ids written as \\u escapes (surrogate pairs included), escaped member names and keys."""
    escaped = json.loads(json.dumps(document))
    for i, span in enumerate(_spans(escaped)):
        for kv in span.get("attributes", ()):
            if kv["key"] == "enduser.id":
                kv["value"]["stringValue"] = f"Jürgen 😀 \"{i % 3}\"\\/\t"
        span["name"] = span["name"] + " é"
    for separators in (None, COMPACT):
        text = json.dumps(escaped, ensure_ascii=True, separators=separators)
        text = text.replace('"enduser.id"', '"enduser\\u002eid"')
        text = text.replace('"startTimeUnixNano"', '"start\\u0054imeUnixNano"')
        text = text.replace('"stringValue"', '"string\\u0056alue"', 7).replace("/", "\\/")
        path = tmp_path / "escaped.json"
        path.write_text(text)
        columns = _same_as_decoded(path)
        assert any(u is not None and u.startswith("Jürgen 😀 \"") for u in columns["user"])


def test_api_v3_wrapper_and_preferred_spellings(tmp_path, document):
    """{"result": …} wins over a sibling resourceSpans, resourceSpans over resource_spans, in any order."""
    decoy = {"resourceSpans": document["resourceSpans"][:1]}
    text = (f'{{"resource_spans": {json.dumps(decoy["resourceSpans"])}, '
            f'"result": {json.dumps(document)}, "resourceSpans": {json.dumps(decoy["resourceSpans"])}}}')
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(text)
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(document))
    a, b = _same_as_decoded(wrapped), _same_as_decoded(plain)
    assert np.array_equal(a["ts"], b["ts"])
    both = tmp_path / "both.json"
    both.write_text(f'{{"resource_spans": {json.dumps(document["resourceSpans"])}, '
                    f'"resourceSpans": {json.dumps(decoy["resourceSpans"])}}}')
    assert len(_same_as_decoded(both)["ts"]) < len(a["ts"])


@pytest.mark.parametrize("layout", ["document", "gzip document", "lines", "gzip lines"])
def test_small_batches_and_blocks(tmp_path, document, layout, monkeypatch):
    """Batches fill up mid-block (and one document outgrows a batch); lines straddle block boundaries."""
    monkeypatch.setattr(otlp_json, "BATCH_ROWS", 7)
    monkeypatch.setattr(otlp_json, "BLOCK_BYTES", 5000)  # shorter than most lines
    path = tmp_path / "t.json"
    if layout.endswith("document"):
        text = json.dumps(document)
        path.write_bytes(gzip.compress(text.encode()) if layout.startswith("gzip") else text.encode())
    else:
        rows = [json.dumps({"resourceSpans": [{**rs, "scopeSpans": [{**ss, "spans": ss["spans"][i:i + 3]}]}]})
                for rs in document["resourceSpans"] for ss in rs["scopeSpans"]
                for i in range(0, len(ss["spans"]), 3)]  # 3 spans a line
        text = "\n\n  \n" + "\n \t\n".join(rows)  # blank lines everywhere, no newline at the end
        path.write_bytes(gzip.compress(text.encode()) if layout.startswith("gzip") else text.encode())
    _same_as_decoded(path)
    with open_dump(path) as stream:
        batches = list(otlp_json.read(path, stream, make_options()))
    if layout.endswith("document"):  # one document: one batch, as large as it needs
        assert len(batches) == 1 and batches[0].n > 7
    else:
        assert len(batches) > 1 and all(b.n <= 7 for b in batches)


# --- bad input ----------------------------------------------------------------------------------------


def _both_fail(path: Path, pattern: str, options=None) -> None:
    options = options or make_options()
    for scanner in (True, False):
        with pytest.raises(InputError, match=pattern) as caught:
            _read(path, options, scanner=scanner)
        assert "\n" not in str(caught.value)


def test_truncated_and_corrupt_lines_are_named(tmp_path, document):
    path = _write_lines(tmp_path / "t.jsonl", document)
    data = path.read_bytes()
    lines = data.split(b"\n")
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(data[:-30])
    _both_fail(cut, rf"cut\.jsonl: line {len(lines) - 1}: invalid JSON")
    lines[2] = lines[2].replace(b'"name"', b'"name" "', 1)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\n".join(lines))
    _both_fail(bad, r"bad\.jsonl: line 3: invalid JSON")


def test_a_bad_document_names_line_and_column(tmp_path, document):
    path = tmp_path / "d.json"
    path.write_text(json.dumps(document, indent=1).replace('"kind"', '"kind" :: ', 1))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if ":: " in text)
    _both_fail(path, rf"d\.json: line {line} column \d+: invalid JSON")


SHAPES = {
    "array": (b"[1, 2]\n", None),
    "no resourceSpans": (b'{"resourceSpans": null, "x": 1}\n', None),
    "span not an object": (b'{"resourceSpans": [{"scopeSpans": [{"spans": [1]}]}]}\n', None),
    "bad start": (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": 2, '
                  b'"startTimeUnixNano": "soon"}]}]}]}\n', None),
    "bad intValue": (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": 2, "attributes": '
                     b'[{"key": "http.response.status_code", "value": {"intValue": "2xx"}}]}]}]}]}\n', None),
    "status not an object": (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": 2, '
                             b'"status": [2]}]}]}]}\n', None),
}


@pytest.mark.parametrize("data", [d for d, _ in SHAPES.values()], ids=SHAPES.keys())
def test_wrong_shapes_are_named(tmp_path, data):
    path = tmp_path / "w.jsonl"
    path.write_bytes(b'{"resourceSpans": []}\n' + data)
    _both_fail(path, r"w\.jsonl: line 2: not OTLP/JSON")


def test_problems_in_dropped_spans_are_ignored_as_before(tmp_path):
    """The Python reader never looks past the kind of a span it drops: neither does the scanner."""
    span = (b'{"kind": 3, "startTimeUnixNano": "soon", "status": [1], "attributes": [1, '
            b'{"key": "http.response.status_code", "value": {"intValue": "2xx"}}]}')
    kept = (b'{"kind": 2, "startTimeUnixNano": "5", '
            b'"attributes": [{"key": "enduser.id", "value": {"stringValue": "u"}}]}')
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"resourceSpans": [{"scopeSpans": [{"spans": [' + span + b", " + kept + b"]}]}]}\n")
    columns = _same_as_decoded(path)
    assert list(columns["ts"]) == [5]


@pytest.mark.parametrize("text", ["9223372036854775807", "-9223372036854775808", "9223372036854775808",
                                  "-9223372036854775809", "0009223372036854775807", " 12\t", "1_000", "1__0",
                                  "_1", "1_", "+5", "", "-", "99999999999999999999", "0" * 30, "1e3", "0x10"])
def test_times_are_read_as_int_reads_them(tmp_path, text):
    user = {"key": "enduser.id", "value": {"stringValue": "u"}}
    span = {"kind": 2, "startTimeUnixNano": text, "attributes": [user]}
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}) + "\n")
    try:
        expected = int(text)
    except ValueError:
        expected = None
    if expected is None or not -(2**63) <= expected < 2**63:
        _both_fail(path, r"t\.jsonl: line 1: not OTLP/JSON")
    else:
        assert list(_same_as_decoded(path)["ts"]) == [expected]


def test_an_empty_value_is_absent(tmp_path):
    """As in the protobuf readers: an empty enduser.id leaves the user to the next key (user.id)."""
    attributes = [{"key": "enduser.id", "value": {"stringValue": ""}},
                  {"key": "user.id", "value": {"stringValue": "u2"}}]
    span = {"kind": 2, "startTimeUnixNano": "5", "attributes": attributes}
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}) + "\n")
    assert list(_same_as_decoded(path)["user"]) == ["u2"]


def test_syntax_wins_over_shape_as_in_orjson(tmp_path):
    """orjson decodes a line before its shape is looked at: a later syntax error is what gets reported."""
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"resourceSpans": []}\n'
                     b'{"resourceSpans": [{"scopeSpans": [{"spans": [7]}]}], "x": [1,]}\n')
    _both_fail(path, r"s\.jsonl: line 2: invalid JSON")


# --- JSON checking: the scanner accepts exactly what orjson accepts ------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=12)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _scanner_accepts(data: bytes, lines: bool = False) -> bool:
    columns = native.SpanColumns(make_options(), otlp_json.NAME, batch_rows=16)
    status = native.scan_json(data, columns.sink, 0, 0, lines)[2]
    return status not in (native.JSON_TRUNCATED, native.JSON_MALFORMED)


def _orjson_accepts(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


def _embedded(value: object, ascii_only: bool, indent: int | None) -> bytes:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    return f'{{"resourceSpans": [{{"scopeSpans": [{{"spans": [{{"x": {text}}}]}}], "y": {text}}}]}}'.encode()


@FUZZ
@given(value=JSON_VALUES, ascii_only=st.booleans(), indent=st.sampled_from([None, 0, 2]))
def test_valid_json_is_accepted(value, ascii_only, indent):
    data = _embedded(value, ascii_only, indent)
    assert _orjson_accepts(data) and _scanner_accepts(data)


@FUZZ
@given(value=JSON_VALUES, ascii_only=st.booleans(),
       steps=st.lists(st.tuples(st.sampled_from(["flip", "insert", "delete", "cut"]), st.integers(0, 10**6),
                                st.binary(min_size=1, max_size=3)), min_size=1, max_size=3))
def test_mutated_json_is_judged_as_orjson_does(value, ascii_only, steps):
    out = bytearray(_embedded(value, ascii_only, None))
    for op, where, chunk in steps:
        at = where % (len(out) + 1)
        if op == "flip" and out:
            out[at % len(out)] ^= chunk[0] or 0x80
        elif op == "insert":
            out[at:at] = chunk
        elif op == "delete":
            del out[at:at + len(chunk)]
        else:
            del out[at:]
    data = bytes(out)
    assert _scanner_accepts(data) == _orjson_accepts(data)


@pytest.mark.parametrize("text", [
    b'"\\ud83d\\ude00"', b'"\\ud83d"', b'"\\ude00"', b'"\\ud83d\\u0041"', b'"\xed\xa0\x80"', b'"\xc0\xaf"',
    b'"\xf4\x90\x80\x80"', b'"\x1f"', b'"\x7f"', b"01", b"-", b"1.", b"1e", b"-0", b"1e400", b"-1e400",
    b"1e-400", b"1" * 400, b"0." + b"0" * 400 + b"1e700", b"18446744073709551616", b"[1,]", b'{"a":1,}',
    b"[" * 1024 + b"]" * 1024, b"[" * 1025 + b"]" * 1025, b"tru", b"nul", b"[true false]", b'"\\x"',
    b'"\\u12"', b"\xef\xbb\xbf{}", b"{} {}", b"{}\x0c",
])
def test_edge_cases_are_judged_as_orjson_does(text):
    data = b'{"resourceSpans": [], "x": ' + text + b"}" if not text.startswith((b"\xef", b"{}")) else text
    assert _scanner_accepts(data) == _orjson_accepts(data), data[:60]


# --- mutated dumps: both readers give the same table or the same error ---------------------------------


def _outcome(path: Path, scanner: bool) -> object:
    try:
        batches = _read(path, make_options(span_kinds=["any"]), scanner=scanner)
        rows = [b for b in batches if b.n]
        return _columns(rows) if rows else ("no rows", str(sum(b.read for b in batches)))
    except InputError as exc:
        where = exc.where and exc.where.split(" column")[0]  # columns: orjson counts its own way
        if "not valid UTF-8" in exc.message and where.startswith("line 1"):
            where = "(orjson places invalid UTF-8 in a document at its start)"
        return exc.message.split(" (")[0], where


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(["flip", "insert", "delete"]), st.integers(0, 10**6),
                                st.binary(min_size=1, max_size=4)), min_size=1, max_size=4))
def test_mutated_sample_reads_the_same_both_ways(tmp_path, steps):
    lines = SAMPLE.read_bytes().splitlines(keepends=True)[:3]
    lines[1] = json.dumps(json.loads(lines[1]), separators=COMPACT).encode() + b"\n"
    out = bytearray(b"".join(lines))
    for op, where, chunk in steps:
        at = where % (len(out) + 1)
        if op == "flip" and out:
            out[at % len(out)] ^= chunk[0] or 0x80
        elif op == "insert":
            out[at:at] = chunk
        else:
            del out[at:at + len(chunk)]
    path = tmp_path / "m.jsonl"
    path.write_bytes(bytes(out))
    fast, slow = _outcome(path, True), _outcome(path, False)
    if isinstance(slow, tuple) and isinstance(fast, tuple) and fast[0] != slow[0]:
        # the orjson reader decodes a batch of lines before looking at their shape; the scanner reports the
        # first problem in file order: a shape error on an earlier line than the other's syntax error
        shape, syntax = (fast, slow) if fast[0] == "not OTLP/JSON" else (slow, fast)
        assert shape[0] == "not OTLP/JSON" and syntax[0] == "invalid JSON"
        assert int(shape[1].split()[1]) < int(syntax[1].split()[1])
        return
    if isinstance(slow, tuple) and slow[1].startswith("(orjson"):
        assert fast[0] == slow[0]
        return
    if isinstance(slow, tuple) or isinstance(fast, tuple):
        assert fast == slow
        return
    _assert_same_columns(fast, slow)


def _places(value: object, path: tuple = ()) -> list[tuple]:
    """Every place in a JSON value (as a path of keys and indexes)."""
    out = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            out += _places(inner, (*path, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            out += _places(inner, (*path, i))
    return out


#: values that orjson and the scanner both keep exact (integers past int64 become doubles in the scanner)
EDIT_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=6) | st.floats(-1e6, 1e6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
NAMES = st.sampled_from(["resource_spans", "scope_spans", "instrumentationLibrarySpans",
                         "start_time_unix_nano", "parent_span_id", "int_value", "string_value", "bool_value",
                         "double_value", "result", "code", "kind", "key"])
OPS = st.sampled_from(["replace", "delete", "rename"])
EDITS = st.lists(st.tuples(st.integers(0, 10**6), OPS, EDIT_VALUES, NAMES), min_size=1, max_size=4)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=EDITS)
def test_edited_documents_read_the_same_both_ways(tmp_path, edits):
    """Members replaced by any JSON value, deleted or renamed to another spelling: the same table or error."""
    document = json.loads(SAMPLE.read_bytes().splitlines()[0])
    for where, op, value, name in edits:
        path = _places(document)[where % len(_places(document))]
        if not path:
            continue
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if op == "replace":
            parent[path[-1]] = value
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[name] = parent.pop(path[-1])
    file = tmp_path / "e.jsonl"
    file.write_text(json.dumps(document) + "\n" + json.dumps(document, separators=COMPACT) + "\n")
    fast, slow = _outcome(file, True), _outcome(file, False)
    if isinstance(slow, tuple) or isinstance(fast, tuple):
        assert fast == slow
        return
    _assert_same_columns(fast, slow)


@pytest.mark.parametrize("value", ["{}", '""', "0", "false", "[]", '{"a": 1}', "5", "true", '"x"'])
@pytest.mark.parametrize("where", ['{"resourceSpans": %s}', '{"resourceSpans": [{"scopeSpans": %s}]}'])
def test_empty_and_wrong_span_lists_read_the_same_both_ways(tmp_path, where, value):
    # found by the fuzz test above: {"resourceSpans": {}} was "no rows" to the scanner and "not OTLP/JSON"
    # to the Python reader once that began checking for a list
    file = tmp_path / "e.jsonl"
    file.write_text(where % value + "\n")
    assert _outcome(file, True) == _outcome(file, False)
