"""One reader batch → the event table's fields: filters, identity fallback, method/route/path, action, error.

Every step works on whole columns of codes (:class:`~tracereplay.ingest.raw.Coded`); per-value Python work
(templating a path, parsing a URL, upper-casing a method) happens once per *distinct* value and is cached
across batches, never once per row.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tracereplay.ingest.identify import resolve_users
from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import Coded, Dictionary, RawBatch
from tracereplay.ingest.redact import path_of_url, redact_path
from tracereplay.ingest.templating import template_path

UNNAMED = "(unnamed)"
#: the coded fields of :class:`Normalized`, each with its own dictionary
FIELDS = ("user", "user_key", "session", "action", "method", "route", "path", "service")


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
    """Turns raw batches into :class:`Normalized` rows, coded into one :class:`Dictionary` per field.

    The dictionaries live as long as the ingest (pass the store's, so its interning is free): with readers
    that share a growing dictionary between batches, every per-value step (templating, redaction, URL
    parsing, upper-casing, joining "METHOD route") runs once per distinct value of the whole dump.
    """

    def __init__(self, options: IngestOptions, dictionaries: Mapping[str, Dictionary] | None = None) -> None:
        self.options = options
        self.dictionaries = {name: Dictionary() for name in FIELDS} | dict(dictionaries or {})
        #: routes and templated paths: the second half of an action's name
        self.target = Dictionary()
        self.matching = Dictionary()
        self.name_pattern = re.compile(options.span_name) if options.span_name is not None else None
        self.path_of_url = lru_cache(maxsize=1 << 16)(path_of_url)
        self.redact = lru_cache(maxsize=1 << 18)(redact_path)
        self.template = lru_cache(maxsize=1 << 18)(template_path)
        self.upper = lru_cache(maxsize=1 << 10)(str.upper)

    def __call__(self, batch: RawBatch, dropped: Counter[str]) -> Normalized:
        """Filter and derive the event fields of one batch; counts dropped rows into ``dropped`` by reason."""
        keep = np.ones(batch.n, dtype=bool)
        ts = np.asarray(batch.get("ts"), dtype=np.int64)
        _drop(keep, ts <= 0, "no timestamp", dropped)
        name = batch.coded("name")
        if self.name_pattern is not None:
            _drop(keep, self.matching.translate(name, self._matches) < 0, "span name filter", dropped)
        every = bool(keep.all())
        rows = None if every else np.flatnonzero(keep)

        def pick(column: np.ndarray) -> np.ndarray:
            return column if rows is None else column[rows]

        def coded(field: str) -> Coded:
            column = batch.coded(field)
            return column if rows is None else column.take(rows)

        d = self.dictionaries
        ts = pick(ts)
        end = pick(np.asarray(batch.get("end"), dtype=np.int64))
        known_end = end >= ts
        duration_ms = np.where(known_end & (end > 0), (end - ts) / 1e6, np.nan)
        end = np.where(known_end, end, ts)

        # spans without identity are dropped later, after the service filter, so they count under the
        # reason that applies first
        user = d["user"].translate(coded("user"))
        user_key = d["user_key"].translate(coded("user_key"))
        if (user < 0).any():  # filled in place: not in the arrays the batch may share with the reader
            user, user_key = user.copy(), user_key.copy()
            resolve_users(user, user_key, coded("client"), coded("agent"), d["user"], d["user_key"])

        method = d["method"].translate(coded("method"), self.upper)
        route = d["route"].translate(coded("route"))
        path = d["path"].translate(coded("path"), self.redact)
        url = coded("url")
        from_url = (path < 0) & url.present
        if from_url.any():
            path = np.where(from_url, d["path"].translate(url, self._url_path), path)

        names = name if rows is None else name.take(rows)
        if "action" in batch.columns:  # analytics: the reader named the action
            action = d["action"].translate(coded("action"))
            if (action < 0).any():
                action = self._http_actions(action.copy(), method, route, path, names)
        else:
            action = self._http_actions(None, method, route, path, names)

        status = np.asarray(pick(batch.get("status")), dtype=np.float64)
        error = pick(batch.get("span_error")) | (status >= 500)
        return Normalized(
            ts=ts, end=end, duration_ms=duration_ms, user=d["user"].coded(user),
            user_key=d["user_key"].coded(user_key), session=_as(d["session"], coded("session")),
            action=d["action"].coded(action), method=d["method"].coded(method), route=d["route"].coded(route),
            path=d["path"].coded(path), status=status, error=error,
            service=_as(d["service"], coded("service")),
            root=pick(batch.get("root")), source=batch.source,
        )

    def _matches(self, name: str) -> str | None:
        assert self.name_pattern is not None
        return "" if self.name_pattern.search(name) else None

    def _url_path(self, url: str) -> str | None:
        path = self.path_of_url(url)
        return None if path is None else self.redact(path)

    def _http_actions(self, action: np.ndarray | None, method: np.ndarray, route: np.ndarray,
                      path: np.ndarray, name: Coded) -> np.ndarray:
        """``"METHOD route"``, the route falling back to the templated path, then to the span name, where
        ``action`` is missing (None: on every row)."""
        d = self.dictionaries
        target = self.target.translate(d["route"].coded(route))
        no_route = (route < 0) & (path >= 0)
        if no_route.any():
            target = np.where(no_route, self.target.translate(d["path"].coded(path), self.template), target)
        has_method, has_target = method >= 0, target >= 0
        if action is None:
            if has_method.all() and has_target.all():  # the usual HTTP server spans: no row gathers
                return d["action"].combine(d["method"].coded(method), self.target.coded(target),
                                           _method_and_target)
            action = np.full(len(method), -1, dtype=np.int32)
        need = action < 0
        both = np.flatnonzero(need & has_method & has_target)
        if len(both):
            methods, targets = d["method"].coded(method[both]), self.target.coded(target[both])
            action[both] = d["action"].combine(methods, targets, _method_and_target)
        only_target = np.flatnonzero(need & ~has_method & has_target)
        if len(only_target):
            action[only_target] = d["action"].translate(self.target.coded(target[only_target]))
        by_name = np.flatnonzero(need & ~has_target)
        if len(by_name):
            action[by_name] = d["action"].translate(name.take(by_name))
        unnamed = action < 0
        if unnamed.any():
            action[unnamed] = d["action"].code(UNNAMED)
        return action


def _method_and_target(method: str, target: str) -> str:
    return f"{method} {target}"


def _as(dictionary: Dictionary, column: Coded) -> Coded:
    return dictionary.coded(dictionary.translate(column))


def _drop(keep: np.ndarray, mask: np.ndarray, reason: str, dropped: Counter[str]) -> None:
    newly = keep & np.asarray(mask, dtype=bool)
    count = int(newly.sum())
    if count:
        dropped[reason] += count
        keep &= ~newly
