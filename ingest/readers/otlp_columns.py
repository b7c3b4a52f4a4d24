"""Scanner output → a :class:`RawBatch` of coded columns (strings built once per distinct value)."""

from __future__ import annotations

import contextlib
from collections import Counter

import numpy as np
import pandas as pd

from tracereplay.errors import InputError
from tracereplay.ingest.raw import AttributeTable, Coded, RawBatch
from tracereplay.ingest.readers import otlp_scan as scan

NAME = "otlp"


#: columns only read where another is missing: url stands in for path, client/agent for the user
_FALLBACK_FOR = {"url": "path", "client": "user", "agent": "user"}


class ScanTables:
    """The wanted keys of an :class:`AttributeTable` as arrays for the scanner, grouped by logical column."""

    def __init__(self, table: AttributeTable, kinds: frozenset[int] | None) -> None:
        encoded = [key.encode() for key in table.keys]
        self.keys = np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8)
        self.key_len = np.array([len(k) for k in encoded], dtype=np.int64)
        self.key_off = np.concatenate([[0], np.cumsum(self.key_len)[:-1]]).astype(np.int64)
        self.keep_kind = np.array([kinds is None or k in kinds for k in range(6)], dtype=np.bool_)
        self.table = table
        self.logical: dict[str, list[int]] = {}
        for slot, logical in enumerate(table.logical):
            self.logical.setdefault(logical, []).append(slot)  # slots are numbered in lookup order


def scan_chunk(chunk: bytes, tables: ScanTables, path, start: int) -> RawBatch:
    """Scan one chunk (concatenated TracesData messages); ``start`` is its offset in the file."""
    buf = np.frombuffer(chunk, dtype=np.uint8)
    resources, spans, error, at = scan.count_spans(buf)
    if error != scan.OK:
        _fail(path, error, start + at)
    n_slots = len(tables.key_len)
    out = {
        "start": np.empty(spans, np.int64), "end": np.empty(spans, np.int64),
        "kind": np.empty(spans, np.int8),
        "root": np.empty(spans, np.bool_), "error": np.empty(spans, np.bool_),
        "name_off": np.empty(spans, np.int64), "name_len": np.empty(spans, np.int64),
        "resource": np.empty(spans, np.int32),
    }
    service_off, service_len = np.empty(resources, np.int64), np.empty(resources, np.int64)
    # span-major: the scanner writes one span's slots next to each other
    vtype = np.empty((spans, n_slots), np.int8)
    voff = np.empty((spans, n_slots), np.int64)
    vlen = np.empty((spans, n_slots), np.int32)
    read, kept, error, at = scan.scan_spans(
        buf, tables.keys, tables.key_off, tables.key_len, tables.keep_kind,
        out["start"], out["end"], out["kind"], out["root"], out["error"], out["name_off"], out["name_len"],
        out["resource"], service_off, service_len, vtype, voff, vlen)
    if error != scan.OK:
        _fail(path, error, start + at)
    k = kept
    columns: dict[str, np.ndarray | Coded] = {
        "ts": out["start"][:k], "end": out["end"][:k], "kind": out["kind"][:k], "root": out["root"][:k],
        "span_error": out["error"][:k],
        "name": _strings(chunk, buf, out["name_off"][:k], out["name_len"][:k]),
    }
    services = _strings(chunk, buf, np.maximum(service_off, 0), np.where(service_off >= 0, service_len, 0))
    columns["service"] = Coded(services.codes[out["resource"][:k]], services.values)
    for logical, slots in tables.logical.items():
        chosen = _first_present(vtype, slots, k)
        if not (chosen >= 0).any():
            continue
        rows = np.arange(k)
        picked = np.where(chosen >= 0, chosen, 0)
        types = np.where(chosen >= 0, vtype[rows, picked], scan.MISSING)
        fallback_for = _FALLBACK_FOR.get(logical)
        if fallback_for is not None and fallback_for in columns:
            # a fallback column is only needed where the column it stands in for is missing
            types = np.where(columns[fallback_for].present, scan.MISSING, types)
        if logical in ("status",):
            columns[logical] = _numbers(chunk, types, voff[rows, picked], vlen[rows, picked])
            continue
        columns[logical] = _texts(chunk, buf, types, voff[rows, picked], vlen[rows, picked])
        if logical == "user":
            names = np.array(tables.table.keys, dtype=object)
            columns["user_key"] = Coded(np.where(types != scan.MISSING, chosen, -1).astype(np.int32), names)
    dropped = {"span kind": read - kept} if read > kept else {}
    return RawBatch(n=k, columns=columns, source=NAME, read=read, dropped=Counter(dropped))


def _fail(path, error: int, offset: int) -> None:
    what = "truncated message" if error == scan.TRUNCATED else "not a valid OTLP protobuf message"
    raise InputError(path, what, where=f"byte {offset}")


def _first_present(vtype: np.ndarray, slots: list[int], n: int) -> np.ndarray:
    chosen = np.full(n, -1, dtype=np.int64)
    for slot in reversed(slots):
        chosen = np.where(vtype[:n, slot] != scan.MISSING, slot, chosen)
    return chosen


def _strings(chunk: bytes, buf: np.ndarray, off: np.ndarray, length: np.ndarray) -> Coded:
    """Distinct byte slices → Coded, decoding each distinct slice once (empty slices are missing)."""
    hashes = scan.hash_slices(buf, off, length)
    codes, uniques = pd.factorize(hashes)
    first = np.empty(len(uniques), dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    values = np.empty(len(uniques), dtype=object)
    starts, lengths = off[first].tolist(), length[first].tolist()
    values[:] = [chunk[o:o + n].decode("utf-8", "replace") for o, n in zip(starts, lengths, strict=True)]
    coded = Coded(codes.astype(np.int32), values)
    return coded.drop_values(lambda v: v == "") if (length == 0).any() else coded


def _texts(chunk: bytes, buf: np.ndarray, types: np.ndarray, off: np.ndarray, length: np.ndarray) -> Coded:
    """Strings of string values; ints, bools and doubles (``off`` holds their value) rendered as text."""
    ints, nums = off, off.view(np.float64)
    out = Coded.missing(len(types))
    strings = np.flatnonzero(types == scan.STRING)
    if len(strings):
        coded = _strings(chunk, buf, off[strings], length[strings])
        out = out.assign(strings, coded.codes, coded.values)
    for kind, render in ((scan.INT, str), (scan.BOOL, lambda v: "true" if v else "false")):
        rows = np.flatnonzero(types == kind)
        if len(rows):
            coded = Coded.from_objects(np.array([render(int(v)) for v in ints[rows]], dtype=object))
            out = out.assign(rows, coded.codes, coded.values)
    rows = np.flatnonzero(types == scan.DOUBLE)
    if len(rows):
        coded = Coded.from_objects(np.array([repr(float(v)) for v in nums[rows]], dtype=object))
        out = out.assign(rows, coded.codes, coded.values)
    return out


def _numbers(chunk: bytes, types: np.ndarray, off: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Numbers of int, bool and double values (``off`` holds them); strings parsed."""
    ints, nums = off, off.view(np.float64)
    out = np.full(len(types), np.nan)
    integer = (types == scan.INT) | (types == scan.BOOL)
    out[integer] = ints[integer]
    out[types == scan.DOUBLE] = nums[types == scan.DOUBLE]
    for row in np.flatnonzero(types == scan.STRING):  # a status sent as a string: rare
        with contextlib.suppress(ValueError):
            out[row] = float(chunk[off[row]:off[row] + length[row]])
    return out
