"""What an ingest did: spans read / kept / dropped by reason, users, sessions, actions, time range."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class FileSummary:
    path: str
    format: str
    spans: int = 0
    #: reason → first line number where a line was dropped for it (line-based formats)
    first_line: dict[str, int] = field(default_factory=dict)


@dataclass
class IngestSummary:
    """Counts of one ingest; ``to_dict()`` is the ``--json`` output."""

    files: list[FileSummary] = field(default_factory=list)
    spans_read: int = 0
    spans_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    users: int = 0
    sessions: int = 0
    actions: int = 0
    #: which attribute (or named fallback) identified the users, with row counts
    identity: dict[str, int] = field(default_factory=dict)
    top_actions: dict[str, int] = field(default_factory=dict)
    first_ns: int | None = None
    last_ns: int | None = None
    output: str | None = None
    salt_file: str | None = None
    pseudonymised: bool = True
    seconds: float = 0.0

    @property
    def spans_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def spans_per_second(self) -> float:
        return self.spans_read / self.seconds if self.seconds > 0 else 0.0

    @property
    def first(self) -> datetime | None:
        return _time(self.first_ns)

    @property
    def last(self) -> datetime | None:
        return _time(self.last_ns)

    def to_dict(self) -> dict[str, object]:
        return {
            "files": [{"path": f.path, "format": f.format, "spans": f.spans, "first_line": f.first_line}
                      for f in self.files],
            "spans_read": self.spans_read,
            "spans_kept": self.spans_kept,
            "spans_dropped": self.spans_dropped,
            "dropped": dict(sorted(self.dropped.items())),
            "users": self.users,
            "sessions": self.sessions,
            "actions": self.actions,
            "identity": self.identity,
            "top_actions": self.top_actions,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "output": self.output,
            "salt_file": self.salt_file,
            "pseudonymised": self.pseudonymised,
            "seconds": round(self.seconds, 3),
            "spans_per_second": round(self.spans_per_second),
        }


def _time(ns: int | None) -> datetime | None:
    return None if ns is None else datetime.fromtimestamp(ns / 1e9, tz=UTC)
