"""Segment / RudderStack events: JSON lines (or a ``{"batch": […]}`` document / an array) of ``track``,
``page`` and ``screen`` calls. The user is ``userId``, falling back to ``anonymousId``; the action is the
track ``event`` or the page/screen ``name``; the session is ``context.sessionId`` (or
``properties.session_id`` …) when the source sends one; ``timestamp`` is ISO 8601.
``identify``, ``group`` and ``alias`` calls describe users, not actions: they are dropped and counted.
"""

from __future__ import annotations

from collections.abc import Generator
from functools import partial
from pathlib import Path
from typing import BinaryIO

from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import RawBatch
from tracereplay.ingest.readers.analytics import EventRows, read_json_events

NAME = "segment"
ACTION_TYPES = frozenset({"track", "page", "screen"})
SESSION_KEYS = ("sessionId", "session_id", "session.id")


def read(path: Path, stream: BinaryIO, options: IngestOptions) -> Generator[RawBatch, None, None]:
    return read_json_events(
        path, stream, options, source=NAME, label="Segment event", containers=("batch",),
        add=partial(_add, options=options),
    )


def _add(rows: EventRows, event: dict, options: IngestOptions) -> None:
    rows.read += 1
    kind = event["type"]
    if kind not in ACTION_TYPES:
        rows.dropped[f"not an action ({kind})"] += 1
        return
    user, key = event.get("userId"), "userId"
    if not user:
        user, key = event.get("anonymousId"), "anonymousId"
    properties = event.get("properties") or {}
    context = event.get("context") or {}
    session = None
    for source in (context, properties):
        for name in (*SESSION_KEYS, *options.session_keys):
            if source.get(name):
                session = source[name]
                break
        if session is not None:
            break
    action = event.get("event") if kind == "track" else event.get("name") or properties.get("name")
    if action is None and kind != "track":
        action = f"{kind} {properties.get('path') or ''}".strip()
    time = event.get("timestamp") or event.get("originalTimestamp") or event.get("receivedAt")
    rows.add(time, user, key, session, action, properties.get("path"))
