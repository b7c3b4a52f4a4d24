"""Settings of one ingest: which spans count, who the user is, where sessions split, what is kept.

``IngestOptions`` is frozen and keyword-only; :meth:`IngestOptions.validate` reports every problem at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tracereplay.durations import parse_duration
from tracereplay.errors import ConfigError
from tracereplay.ingest.logformat import compile_log_format

#: Attributes that name a user, in the default lookup order (the first present wins).
DEFAULT_USER_KEYS: tuple[str, ...] = (
    "enduser.id", "user.id", "enduser.pseudo.id", "user.name", "user.email", "user.uuid", "user.username",
)
#: Attributes that name a session explicitly; such a session wins over the inactivity gap.
DEFAULT_SESSION_KEYS: tuple[str, ...] = ("session.id", "session_id")

#: OTLP span kinds (the numbering of opentelemetry.proto.trace.v1.Span.SpanKind).
SPAN_KINDS: dict[str, int] = {
    "unspecified": 0, "internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5,
}

FORMATS: tuple[str, ...] = (
    "auto", "otlp", "otlp-json", "jaeger", "zipkin", "segment", "mixpanel", "snowplow", "access-log", "har",
    "csv", "parquet",
)


@dataclass(frozen=True, kw_only=True)
class IngestOptions:
    """How to turn dumps into the event table.

    >>> IngestOptions(session_gap=600, services=("frontend",)).validate()
    """

    format: str = "auto"
    #: attribute names tried in order for the user identity (``--user-key``, repeatable)
    user_keys: tuple[str, ...] = DEFAULT_USER_KEYS
    session_keys: tuple[str, ...] = DEFAULT_SESSION_KEYS
    #: inactivity (seconds) after which a new session starts when no explicit session id is present
    session_gap: float = 1800.0
    #: keep only spans of these services; empty means the entry services (those with root server spans)
    services: tuple[str, ...] = ()
    span_kinds: tuple[str, ...] = ("server",)
    #: regular expression a span name must match (``re.search``); None keeps every name
    span_name: str | None = None
    #: opt out of pseudonymisation: raw user ids reach the output
    keep_user_ids: bool = False
    #: key for the keyed hash; None makes a fresh random one (ingest() keeps it beside the output)
    salt: bytes | None = None
    #: CSV/Parquet column mapping, e.g. {"user": "uid", "ts": "time", "action": "event"}
    columns: dict[str, str] = field(default_factory=dict)
    #: access logs: an nginx ``log_format`` or Apache ``LogFormat`` string (implies the access-log format)
    log_format: str | None = None
    #: access logs and HAR: drop requests whose user agent is a well-known crawler (ingest/bots.py)
    exclude_bots: bool = False
    #: spans per batch handed from a reader to the pipeline (bounds memory while reading)
    batch_spans: int = 65_536
    #: rows per Parquet row group in the output
    row_group_rows: int = 1 << 20
    #: show a rich progress bar (only honoured on a terminal)
    progress: bool = False

    def validate(self) -> None:
        """Raise :class:`ConfigError` listing every problem."""
        problems: list[str] = []
        if self.format not in FORMATS:
            problems.append(f"unknown format {self.format!r} (one of {', '.join(FORMATS)})")
        if not self.user_keys:
            problems.append("at least one user key is needed")
        if self.session_gap <= 0:
            problems.append(f"session gap must be positive, not {self.session_gap}")
        unknown = [k for k in self.span_kinds if k not in SPAN_KINDS and k != "any"]
        if unknown:
            kinds = ", ".join(SPAN_KINDS)
            problems.append(f"unknown span kind(s) {', '.join(unknown)} (one of {kinds}, any)")
        if self.span_name is not None:
            try:
                re.compile(self.span_name)
            except re.error as exc:
                problems.append(f"span-name filter {self.span_name!r} is not a regular expression ({exc})")
        if self.batch_spans < 1 or self.row_group_rows < 1:
            problems.append("batch and row-group sizes must be positive")
        allowed = {"ts", "user", "session", "action", "method", "route", "path", "status", "duration_ms",
                   "error"}
        bad = sorted(set(self.columns) - allowed)
        if bad:
            targets = ", ".join(sorted(allowed))
            problems.append(f"unknown column mapping target(s) {', '.join(bad)} (one of {targets})")
        if self.log_format is not None:
            if self.format not in ("auto", "access-log"):
                problems.append(f"--log-format is for access logs, not --format {self.format}")
            try:
                compile_log_format(self.log_format)
            except ConfigError as exc:
                problems.extend(exc.problems)
        if problems:
            raise ConfigError(problems)

    @property
    def kind_codes(self) -> frozenset[int] | None:
        """OTLP kind numbers to keep, or None for any kind."""
        if "any" in self.span_kinds:
            return None
        return frozenset(SPAN_KINDS[k] for k in self.span_kinds)


def make_options(**options: object) -> IngestOptions:
    """Build validated options from keyword arguments, accepting CLI-friendly spellings.

    ``session_gap`` may be a duration string (``"30m"``); ``columns`` may be ``"user=uid,ts=time"``;
    sequences may be lists.
    """
    given = dict(options)
    if isinstance(gap := given.get("session_gap"), str):
        given["session_gap"] = parse_duration(gap)
    if isinstance(given.get("columns"), str):
        given["columns"] = parse_columns(str(given["columns"]))
    for name in ("user_keys", "session_keys", "services", "span_kinds"):
        value = given.get(name)
        if isinstance(value, str):
            given[name] = (value,)
        elif isinstance(value, Iterable):
            given[name] = tuple(value)
        elif value is not None:
            raise ConfigError(f"{name}: a list of names, not {type(value).__name__}")
    if isinstance(given.get("salt"), str):
        given["salt"] = str(given["salt"]).encode()
    try:
        # keywords of any type from the Python API, passed on as given (validate() checks their values)
        opts = IngestOptions(**given)  # pyright: ignore[reportArgumentType]
    except TypeError as exc:
        raise ConfigError(f"unknown ingest option ({exc})") from None
    opts.validate()
    return opts


def parse_columns(text: str) -> dict[str, str]:
    """``"user=uid,ts=time,action=event"`` → ``{"user": "uid", "ts": "time", "action": "event"}``."""
    mapping: dict[str, str] = {}
    problems: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        target, sep, source = part.partition("=")
        if not sep or not target.strip() or not source.strip():
            problems.append(f"column mapping {part!r} is not TARGET=SOURCE")
            continue
        mapping[target.strip()] = source.strip()
    if problems:
        raise ConfigError(problems)
    return mapping


def salt_path_for(output: str | Path) -> Path:
    """Where the pseudonymisation key of ``output`` is kept: beside it, never in it."""
    out = Path(output)
    return out.with_name(out.name + ".salt")
