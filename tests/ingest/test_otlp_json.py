"""OTLP/JSON: documents, JSON lines, the api_v3 wrapper, id case, int64 numbers or strings (both readers)."""

from __future__ import annotations

import json

import pytest
from population import make_population, otlp_json_document, write_otlp, write_otlp_json

from tracereplay.errors import InputError
from tracereplay.ingest import read_dumps


@pytest.fixture(autouse=True, params=[True, False], ids=["scanned", "decoded"])
def scanner(request, monkeypatch):
    """Every test runs with the compiled scanner and with the orjson reader (its fallback)."""
    from tracereplay.ingest.readers import native, otlp_json

    if request.param and not native.available():
        pytest.skip("the C extension was not built")
    monkeypatch.setattr(otlp_json, "USE_SCANNER", request.param)
    return request.param


@pytest.fixture(scope="module")
def population():
    return make_population()


@pytest.fixture(scope="module")
def reference(population, tmp_path_factory):
    path = write_otlp(tmp_path_factory.mktemp("ref") / "t.pb", population)
    return read_dumps(path, salt=b"k").drop(columns="source")


def _same(frame, reference):
    assert frame.drop(columns="source").equals(reference)
    assert set(frame["source"]) == {"otlp-json"}


def test_document_and_json_lines_match_protobuf(tmp_path, population, reference):
    _same(read_dumps(write_otlp_json(tmp_path / "a.json", population), salt=b"k"), reference)
    _same(read_dumps(write_otlp_json(tmp_path / "b.jsonl", population, lines=True), salt=b"k"), reference)


def test_wrapper_uppercase_ids_numeric_int64_and_enum_names(tmp_path, population, reference):
    document = otlp_json_document(population)
    for rs in document["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                span["traceId"] = span["traceId"].upper()
                span["startTimeUnixNano"] = int(span["startTimeUnixNano"])
                if span.get("kind") == "SPAN_KIND_SERVER":
                    span["kind"] = 2
                span["futureField"] = {"ignored": True}
    path = tmp_path / "v3.json"
    path.write_text(json.dumps({"result": document}, indent=2))
    _same(read_dumps(path, salt=b"k", format="otlp-json"), reference)
    _same(read_dumps(path, salt=b"k"), reference)  # detected from content


def test_enum_integers(tmp_path, population, reference):
    text = json.dumps(otlp_json_document(population)).replace('"SPAN_KIND_SERVER"', "2")
    text = text.replace('"SPAN_KIND_CLIENT"', "3").replace('"STATUS_CODE_ERROR"', "2")
    path = tmp_path / "ints.json"
    path.write_text(text)
    _same(read_dumps(path, salt=b"k"), reference)


def test_bad_line_is_named(tmp_path, population):
    path = write_otlp_json(tmp_path / "b.jsonl", population, lines=True)
    lines = path.read_text().splitlines()
    lines.insert(1, '{"resourceSpans": [')
    path.write_text("\n".join(lines))
    with pytest.raises(InputError, match=r"b\.jsonl: line 2: invalid JSON"):
        read_dumps(path)


def test_wrong_shape_is_named(tmp_path):
    path = tmp_path / "w.json"
    path.write_text('{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}')
    with pytest.raises(InputError, match=r"w\.json: line 1: not OTLP/JSON"):
        read_dumps(path, span_kinds=["any"])
