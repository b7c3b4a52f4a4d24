"""Mixpanel raw export: JSON lines of ``{"event": name, "properties": {"time", "distinct_id", …}}``.

``properties.time`` is epoch seconds (older exports) or milliseconds (told by magnitude). The user is
``$user_id`` when identified, else ``distinct_id``; the session ``$session_id`` (or ``session_id``) when the
project records one, else the inactivity gap splits sessions.
"""

from __future__ import annotations

from collections.abc import Generator
from functools import partial
from pathlib import Path
from typing import BinaryIO

from tracereplay.ingest.options import IngestOptions
from tracereplay.ingest.raw import RawBatch
from tracereplay.ingest.readers.analytics import EventRows, read_json_events

NAME = "mixpanel"
USER_KEYS = ("$user_id", "distinct_id")
SESSION_KEYS = ("$session_id", "session_id", "session.id")


def read(path: Path, stream: BinaryIO, options: IngestOptions) -> Generator[RawBatch, None, None]:
    return read_json_events(
        path, stream, options, source=NAME, label="Mixpanel event", containers=(),
        add=partial(_add, options=options),
    )


def _add(rows: EventRows, event: dict, options: IngestOptions) -> None:
    rows.read += 1
    properties = event["properties"]
    user = key = None
    for name in USER_KEYS:
        if properties.get(name):
            user, key = properties[name], name
            break
    session = next((properties[k] for k in (*SESSION_KEYS, *options.session_keys) if properties.get(k)), None)
    path = properties.get("$pathname") or properties.get("path")
    rows.add(properties.get("time"), user, key, session, event.get("event"), path)
