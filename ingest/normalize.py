"""One reader batch → the event table's fields: filters, identity fallback, method/route/path, action, error.

Every step works on whole columns of codes (:class:`~tracereplay.ingest.raw.Coded`); per-value Python work
(templating a path, parsing a URL, upper-casing a method) happens once per *distinct* value and is cached
across batches, never once per row.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tracereplay.ingest.identify import resolve_users
from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import Coded, RawBatch, combine
from tracereplay.ingest.redact import path_of_url, redact_path
from tracereplay.ingest.templating import template_path

UNNAMED = "(unnamed)"


@dataclass
class Normalized:
    """A batch's rows that survived the filters, with the event-table fields (raw ids still raw)."""

    ts: np.ndarray            # int64 ns
    end: np.ndarray           # int64 ns (== ts when unknown)
    duration_ms: np.ndarray   # float64, NaN when unknown
    user: Coded               # raw id (missing: identified later through the session, or dropped)
    user_key: Coded           # which attribute or fallback named the user
    session: Coded            # raw explicit session id
    action: Coded
    method: Coded
    route: Coded
    path: Coded               # query stripped, secrets redacted
    status: np.ndarray        # float64 NaN when absent
    error: np.ndarray         # bool
    service: Coded
    root: np.ndarray          # bool
    source: str

    def __len__(self) -> int:
        return len(self.ts)


class Normalizer:
    """Turns raw batches into :class:`Normalized` rows; holds the per-ingest caches of distinct values."""

    def __init__(self, options: IngestOptions) -> None:
        self.options = options
        self.name_pattern = re.compile(options.span_name) if options.span_name is not None else None
        self.path_of_url = lru_cache(maxsize=1 << 16)(path_of_url)
        self.redact = lru_cache(maxsize=1 << 18)(redact_path)
        self.template = lru_cache(maxsize=1 << 18)(template_path)
        self.upper = lru_cache(maxsize=1 << 10)(str.upper)

    def __call__(self, batch: RawBatch, dropped: Counter[str]) -> Normalized:
        """Filter and derive the event fields of one batch; counts dropped rows into ``dropped`` by reason."""
        keep = np.ones(batch.n, dtype=bool)
        ts = batch.get("ts").astype(np.int64)
        _drop(keep, ts <= 0, "no timestamp", dropped)
        name = batch.coded("name")
        if self.name_pattern is not None:
            matches = np.array([bool(self.name_pattern.search(v)) for v in name.values] + [False])
            _drop(keep, ~matches[name.codes], "span name filter", dropped)
        # spans without identity are dropped later, after the service filter, so they count under the
        # reason that applies first
        user, user_key = resolve_users(batch.coded("user"), batch.coded("user_key"), batch.coded("client"),
                                       batch.coded("agent"))

        rows = np.flatnonzero(keep)
        ts = ts[rows]
        end = batch.get("end").astype(np.int64)[rows]
        known_end = end >= ts
        duration_ms = np.where(known_end & (end > 0), (end - ts) / 1e6, np.nan)
        end = np.where(known_end, end, ts)

        method = batch.coded("method").take(rows).map(self.upper)
        route = batch.coded("route").take(rows)
        path = batch.coded("path").take(rows)
        url = batch.coded("url").take(rows)
        from_url = np.flatnonzero(~path.present & url.present)
        if len(from_url):
            url_paths = url.map(self.path_of_url)
            path = path.assign(from_url, url_paths.codes[from_url], url_paths.values)
        path = path.map(self.redact)

        action = batch.coded("action").take(rows)
        need = np.flatnonzero(~action.present)
        if len(need):
            action = self._http_actions(action, need, method, route, path, name.take(rows))

        status = batch.get("status")[rows].astype(np.float64)
        error = batch.get("span_error")[rows] | (status >= 500)
        return Normalized(
            ts=ts, end=end, duration_ms=duration_ms, user=user.take(rows), user_key=user_key.take(rows),
            session=batch.coded("session").take(rows), action=action, method=method, route=route, path=path,
            status=status, error=error, service=batch.coded("service").take(rows),
            root=batch.get("root")[rows], source=batch.source,
        )

    def _http_actions(self, action: Coded, need: np.ndarray, method: Coded, route: Coded, path: Coded,
                      name: Coded) -> Coded:
        """``"METHOD route"``, the route falling back to the templated path, then to the span name."""
        target = route
        no_route = np.flatnonzero(~route.present & path.present)
        if len(no_route):
            templated = path.map(self.template)
            target = route.assign(no_route, templated.codes[no_route], templated.values)
        has_method, has_target = method.present[need], target.present[need]
        both = need[has_method & has_target]
        if len(both):
            codes, values = combine(method, target, both, lambda m, t: f"{m} {t}")
            action = action.assign(both, codes, values)
        only_target = need[~has_method & has_target]
        if len(only_target):
            action = action.assign(only_target, target.codes[only_target], target.values)
        by_name = need[~has_target]
        if len(by_name):
            action = action.assign(by_name, name.codes[by_name], name.values)
        unnamed = np.flatnonzero(~action.present)
        if len(unnamed):
            action = action.assign(unnamed, np.zeros(len(unnamed), dtype=np.int32),
                                   np.array([UNNAMED], dtype=object))
        return action


def _drop(keep: np.ndarray, mask: np.ndarray, reason: str, dropped: Counter[str]) -> None:
    newly = keep & np.asarray(mask, dtype=bool)
    count = int(newly.sum())
    if count:
        dropped[reason] += count
        keep &= ~newly
