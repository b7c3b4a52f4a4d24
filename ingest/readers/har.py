"""HAR (HTTP Archive 1.2: browser DevTools "Save all as HAR", proxy and recorder exports) → events.

Each entry is one request, so one event (``source`` = ``"har"``): ``startedDateTime`` (ISO 8601 with its zone)
is the start, ``time`` (ms) the duration, ``request.method`` and the path of ``request.url`` (query
stripped, route templated as for access logs) the action, ``response.status`` the status. The host of the
URL is the event's ``service``, so ``--service HOST`` keeps one site's requests out of a page's third-party
calls. A request without a response (status 0: a network error, a timeout) has no status and counts as an
error, as does a 5xx; a response the browser then aborted (``_error`` beside a status) keeps its status.

**Who and which session.** A HAR records one browser, so by default **one file is one user**; its entries
are split into sessions by the inactivity gap like every other format (a DevTools recording is one session
unless it was left recording across a break). Recorders that capture many browsers (a proxy) can say
otherwise per entry: ``--user-key NAME`` and ``--session-key NAME`` name a request cookie or header (e.g.
a session cookie) whose value identifies the user / session of each entry; entries without it fall back
to the file. Request headers, cookies and bodies never reach the event table; :func:`example_requests`
gives them per action for scaffolding an action pack.

A HAR is one JSON document, read whole: files over :data:`MAX_BYTES` are refused (split them), nesting is
bounded by orjson's depth limit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import numpy as np
import orjson

from tracereplay.errors import InputError
from tracereplay.ingest.bots import is_bot
from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import RawBatch
from tracereplay.ingest.readers.jsontext import gc_paused
from tracereplay.ingest.sniff import open_dump
from tracereplay.ingest.templating import template_path

SOURCE = "har"
#: the largest HAR read (it is one JSON document, held whole while it is decoded)
MAX_BYTES = 1 << 30
FILE_USER = "fallback: the HAR file"
#: header values replaced in :func:`example_requests` unless asked to keep them
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key", "x-auth-token",
                            "x-csrf-token", "x-xsrf-token"})


def read(path: Path, stream: BinaryIO, options: IngestOptions) -> Generator[RawBatch, None, None]:
    entries = har_entries(path, stream)
    columns: dict[str, list] = {name: [] for name in (
        "ts", "end", "method", "path", "route", "status", "span_error", "service", "user", "user_key",
        "session", "agent")}
    dropped: Counter[str] = Counter()
    file_user = f"har:{path}"
    for number, entry in enumerate(entries, 1):
        try:
            row = _row(entry, options, file_user)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise InputError(path, f"not a HAR entry ({type(exc).__name__}: {exc})",
                             where=f"entry {number}") from None
        if isinstance(row, str):
            dropped[row] += 1
            continue
        for name, value in row.items():
            columns[name].append(value)
    n = len(columns["ts"])
    batch = {
        "ts": np.array(columns["ts"], dtype=np.int64),
        "end": np.array(columns["end"], dtype=np.int64),
        "status": np.array(columns["status"], dtype=np.float64),
        "span_error": np.array(columns["span_error"], dtype=bool),
    }
    for name in ("method", "path", "route", "service", "user", "user_key", "session", "agent"):
        batch[name] = np.array(columns[name], dtype=object)
    yield RawBatch(n=n, columns=batch, source=SOURCE, read=len(entries), dropped=dropped)


def har_entries(path: Path, stream: BinaryIO) -> list:
    """The ``log.entries`` of a HAR document (one line errors for anything else)."""
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise InputError(path, f"HAR larger than {MAX_BYTES >> 20} MB (it is read whole): split it")
    try:
        with gc_paused():
            document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON ({exc.msg})",
                         where=f"line {exc.lineno} column {exc.colno}") from None
    log = document.get("log") if isinstance(document, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise InputError(path, "not a HAR file (no log.entries list)")
    return entries


def _row(entry: dict, options: IngestOptions, file_user: str) -> dict | str:
    """The event fields of one entry, or the reason it is dropped."""
    request = entry["request"]
    url = str(request["url"])
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return "not an HTTP request (data:, blob:, ws: …)"
    start = _iso_ns(entry["startedDateTime"])
    if start is None:
        return "no timestamp"
    elapsed = entry.get("time")
    end = start + int(float(elapsed) * 1e6) if isinstance(elapsed, int | float) and elapsed >= 0 else 0
    response = entry.get("response") or {}
    status = response.get("status")
    answered = status if isinstance(status, int) and status > 0 else None  # None: a network error, a timeout
    headers = _named(request.get("headers"))
    agent = headers.get("user-agent")
    if options.exclude_bots and is_bot(agent):
        return "bot (--exclude-bots)"
    cookies = _named(request.get("cookies"))
    user, key = _lookup(options.user_keys, cookies, headers)
    session, _ = _lookup(options.session_keys, cookies, headers)
    path = parts.path or "/"
    return {
        "ts": start, "end": end, "method": str(request["method"]).upper(), "path": path,
        "route": template_path(path), "status": float(answered) if answered is not None else np.nan,
        "span_error": answered is None or answered >= 500,
        "service": parts.hostname or None, "user": user or file_user, "user_key": key or FILE_USER,
        "session": session, "agent": agent,
    }


def _named(pairs: object) -> dict[str, str]:
    """HAR ``[{"name", "value"}]`` lists as a dict with lower-case names (HTTP/2 pseudo-headers skipped)."""
    out: dict[str, str] = {}
    if isinstance(pairs, list):
        for pair in pairs:
            name = pair.get("name") if isinstance(pair, dict) else None
            if isinstance(name, str) and not name.startswith(":"):
                out.setdefault(name.lower(), str(pair.get("value", "")))
    return out


def _lookup(names: tuple[str, ...], cookies: dict[str, str],
            headers: dict[str, str]) -> tuple[str | None, str | None]:
    for name in names:
        lowered = name.lower()
        for where, values in (("cookie", cookies), ("header", headers)):
            value = values.get(lowered)
            if value:
                return value, f"{where} {name}"
    return None, None


def _iso_ns(text: object) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


@dataclass
class ExampleRequest:
    """One recorded request of an action, as a pack scaffold needs it."""

    method: str
    url: str
    headers: dict[str, str]
    body: str | None = None
    mime_type: str | None = None
    status: int | None = None
    query: list[tuple[str, str]] = field(default_factory=list)


def example_requests(path: str | Path, *, per_action: int = 3,
                     keep_secrets: bool = False) -> dict[str, list[ExampleRequest]]:
    """Per action (``"METHOD route"``, named as in the event table), up to ``per_action`` recorded requests
    with their headers, query and body: what ``tracereplay pack new --har`` will scaffold from.

    Secret headers (:data:`SECRET_HEADERS`) have their values replaced by ``"<redacted>"`` unless
    ``keep_secrets``; bodies are kept as recorded (they are the payloads a pack has to reproduce).
    """
    source = Path(path)
    with open_dump(source) as stream:
        entries = har_entries(source, stream)
    out: dict[str, list[ExampleRequest]] = {}
    for entry in entries:
        try:
            request = entry["request"]
            parts = urlsplit(str(request["url"]))
            if parts.scheme.lower() not in ("http", "https"):
                continue
            method = str(request["method"]).upper()
            action = f"{method} {template_path(parts.path or '/')}"
            examples = out.setdefault(action, [])
            if len(examples) >= per_action:
                continue
            headers = _named(request.get("headers"))
            if not keep_secrets:
                headers = {k: "<redacted>" if k in SECRET_HEADERS else v for k, v in headers.items()}
            post = request.get("postData") or {}
            status = (entry.get("response") or {}).get("status")
            query = [(str(q.get("name")), str(q.get("value"))) for q in request.get("queryString") or []
                     if isinstance(q, dict)]
            examples.append(ExampleRequest(method=method, url=str(request["url"]), headers=headers,
                                           body=post.get("text"), mime_type=post.get("mimeType"),
                                           status=status if isinstance(status, int) and status > 0 else None,
                                           query=query))
        except (TypeError, KeyError, AttributeError):
            continue
    return out
