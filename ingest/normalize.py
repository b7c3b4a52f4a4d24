"""One reader batch → the event table's fields: filters, identity fallback, method/route/path, action, error.

Every step works on whole columns; per-value Python work happens only once per *distinct* value (paths,
URLs, span names), never once per row.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tracereplay.ingest.identify import resolve_users
from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import RawBatch
from tracereplay.ingest.redact import map_distinct, path_of_url, redact_path
from tracereplay.ingest.templating import template_paths


@dataclass
class Normalized:
    """A batch's rows that survived the filters, with the event-table fields (raw ids still raw)."""

    ts: np.ndarray            # int64 ns
    end: np.ndarray           # int64 ns (== ts when unknown)
    duration_ms: np.ndarray   # float64, NaN when unknown
    user: np.ndarray          # object, raw id
    user_key: np.ndarray      # object, which attribute or fallback named the user
    session: np.ndarray       # object, raw explicit session id or None
    action: np.ndarray        # object
    method: np.ndarray        # object or None
    route: np.ndarray         # object or None
    path: np.ndarray          # object or None (query stripped, secrets redacted)
    status: np.ndarray        # float64 NaN when absent
    error: np.ndarray         # bool
    service: np.ndarray       # object
    root: np.ndarray          # bool
    source: str

    def __len__(self) -> int:
        return len(self.ts)


def normalize(batch: RawBatch, options: IngestOptions, dropped: Counter[str]) -> Normalized:
    """Filter and derive the event fields of one batch; counts dropped rows into ``dropped`` by reason."""
    keep = np.ones(batch.n, dtype=bool)
    ts = batch.get("ts").astype(np.int64)
    _drop(keep, ts <= 0, "no timestamp", dropped)
    if options.span_name is not None:
        pattern = re.compile(options.span_name)
        name_ok = map_distinct(batch.get("name"), lambda name: bool(pattern.search(name)))
        _drop(keep, ~name_ok.astype(bool), "span name filter", dropped)
    session = _blank_to_none(batch.get("session"))
    user, user_key = resolve_users(_blank_to_none(batch.get("user")), batch.get("user_key"),
                                   _blank_to_none(batch.get("client")), _blank_to_none(batch.get("agent")),
                                   session)
    # spans without identity are dropped later, after the service filter, so they count under the right reason

    rows = np.flatnonzero(keep)
    ts = ts[rows]
    end = batch.get("end").astype(np.int64)[rows]
    known_end = end >= ts
    duration_ms = np.where(known_end & (end > 0), (end - ts) / 1e6, np.nan)
    end = np.where(known_end, end, ts)

    method = map_distinct(_blank_to_none(batch.get("method")[rows]), str.upper)
    route = _blank_to_none(batch.get("route")[rows])
    path = _blank_to_none(batch.get("path")[rows])
    url = _blank_to_none(batch.get("url")[rows])
    from_url = pd.isna(path) & ~pd.isna(url)
    if from_url.any():
        path[from_url] = map_distinct(url[from_url], path_of_url)
    path = map_distinct(path, redact_path)

    action = _blank_to_none(batch.get("action")[rows])
    need = pd.isna(action)
    if need.any():
        action[need] = _http_actions(method[need], route[need], path[need], batch.get("name")[rows][need])

    status = batch.get("status")[rows].astype(np.float64)
    error = batch.get("span_error")[rows] | (status >= 500)
    return Normalized(
        ts=ts, end=end, duration_ms=duration_ms, user=user[rows], user_key=user_key[rows],
        session=session[rows], action=action, method=method, route=route, path=path, status=status,
        error=error, service=batch.get("service")[rows], root=batch.get("root")[rows], source=batch.source,
    )


def _http_actions(method: np.ndarray, route: np.ndarray, path: np.ndarray, name: np.ndarray) -> np.ndarray:
    """``"METHOD route"``, the route falling back to the templated path, then to the span name."""
    target = route.copy()
    no_route = pd.isna(target)
    if no_route.any():
        target[no_route] = template_paths(path[no_route])
    has_method = ~pd.isna(method)
    has_target = ~pd.isna(target)
    action = name.copy()
    both = has_method & has_target
    action[both] = method[both] + " " + target[both]
    only_target = ~has_method & has_target
    action[only_target] = target[only_target]
    blank = pd.isna(action) | (action == "")
    action[blank] = "(unnamed)"
    return action


def _drop(keep: np.ndarray, mask: np.ndarray, reason: str, dropped: Counter[str]) -> None:
    newly = keep & np.asarray(mask, dtype=bool)
    count = int(newly.sum())
    if count:
        dropped[reason] += count
        keep &= ~newly


def _blank_to_none(values: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=object).copy()
    if len(out):
        out[(out == "")] = None
    return out
