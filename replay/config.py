"""``RunConfig``: every setting of a run, with defaults, and ``validate()`` reporting every problem at once.

Which workload runs follows from the settings: ``users`` → closed, ``arrival_rate`` or ``arrival_scale`` →
open, a trace given to ``replay`` → trace replay.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tracereplay.errors import ConfigError
from tracereplay.replay.tls import client_context
from tracereplay.replay.transports.settings import MIB, TransportSettings


class Workload(enum.Enum):
    CLOSED = "closed"  # a fixed number of concurrent users, each looping its sessions
    OPEN = "open"  # sessions arrive at a rate, whatever the target's speed (up to a cap)
    TRACE = "trace"  # recorded users replay their recorded sessions with their timing


class Arrivals(enum.Enum):
    UNIFORM = "uniform"  # evenly spaced, as k6's constant-arrival-rate
    POISSON = "poisson"  # exponential gaps, as independent users arrive


#: A closed run on a model caps the gap between a user's sessions at this by default: fitted gaps are
#: hours long, and N users waiting them out are N idle users, not N users under load (``--max-gap``).
CLOSED_MAX_GAP_S = 30.0

# Which CLI verbs offer a setting as an option (tracereplay/cli/run.py builds them from this metadata).
RUN, REPLAY = "run", "replay"
BOTH = (RUN, REPLAY)


def setting(
    default: Any,
    help: str,
    *,
    commands: tuple[str, ...] = BOTH,
    kind: str | None = None,
    metavar: str | None = None,
    short: str | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A :class:`RunConfig` field with what its CLI option needs: ``help``, the verbs that offer it, and
    its ``kind`` ("duration", "fraction", "flag", "int", "float", "str", "choice"; inferred where plain).
    ``commands=()`` keeps a setting out of the CLI (API only)."""
    meta = {"help": help, "commands": commands, "kind": kind, "metavar": metavar, "short": short}
    meta["choices"] = choices
    return dataclasses.field(default=default, metadata=meta)


def choice_values(choices: tuple[str, ...] | None, default: object) -> tuple[str, ...]:
    """What a "choice" setting accepts: its ``choices``, or else the values of its enum default."""
    if choices:
        return choices
    if not isinstance(default, enum.Enum):
        raise TypeError(f"a choice setting needs choices or an enum default, not {default!r}")
    return tuple(member.value for member in type(default))


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Settings of one run (see ``docs/running.md``). Durations are seconds.

    Each field's metadata (:func:`setting`) is its CLI option: help text, the verbs offering it, its type;
    the default is declared here once."""

    target: str = setting(dataclasses.MISSING, "Base URL of the service under test.", metavar="URL")
    out: str = setting("run", "Run directory to write.", metavar="RUN_DIR", short="-o")
    duration: float | None = setting(60.0, "How long to run.", kind="duration", commands=(RUN, REPLAY))
    # closed workload
    users: int | None = setting(
        None, "Closed workload: this many concurrent users, looping sessions.", commands=(RUN,), kind="int"
    )
    ramp_up: float = setting(
        0.0, "Closed workload: start users evenly over this time.", commands=(RUN,), kind="duration"
    )
    # open workload
    arrival_rate: float | None = setting(
        None, "Open workload: sessions per second.", commands=(RUN,), kind="float"
    )
    arrival_scale: float | None = setting(
        None,
        "Open workload: this factor × the model's fitted arrival profile (hour of day or week).",
        commands=(RUN,),
        kind="float",
    )
    # … read on a profile clock that starts at profile_start ("14:00", "mon 14:00"; None: the wall clock's
    # time at start) and runs profile_speed × the wall clock. The rate stays F × profile at any speed.
    profile_start: str | None = setting(
        None,
        "Open workload on a model: where on the profile's clock the run starts (14:00, or mon 14:00 "
        "for an hour-of-week profile); default: the current UTC time.",
        commands=(RUN,),
        metavar="TIME",
    )
    profile_speed: float = setting(
        1.0,
        "Open workload on a model: the profile's clock runs this × the wall clock (60: a day in 24 "
        "minutes); the rate stays F × the profile (the shape, not the day's volume).",
        commands=(RUN,),
    )
    max_users: int = setting(
        10_000,
        "Open workload: cap on concurrent users; arrivals beyond it wait (late) or are dropped.",
        commands=(RUN,),
    )
    max_late: float = setting(
        10.0,
        "Open workload: an arrival not started within this of its time is dropped.",
        commands=(RUN,),
        kind="duration",
    )
    arrivals: Arrivals = setting(  # noqa: RUF009 (an enum member: immutable, safe as a shared default)
        Arrivals.UNIFORM, "Open workload: evenly spaced or Poisson arrivals.", commands=(RUN,), kind="choice"
    )
    # trace replay
    speed: float = setting(1.0, "Replay speed: 2 = twice as fast.", commands=(REPLAY,))
    # trace replay: any idle gap within a user; a model's closed run: the gap between a user's sessions
    max_gap: float | None = setting(None, "Shorten idle gaps within a user to at most this.", kind="duration")
    sample: float = setting(  # fraction of users kept (whole users)
        1.0,
        "Keep this share of the users (whole users, the same ones every run).",
        commands=(REPLAY,),
        kind="fraction",
    )
    loop: bool = setting(False, "Start over when the trace ends (needs --duration).", commands=(REPLAY,))
    # every workload
    actions: str | None = setting(None, "Action pack: module name or .py file.", metavar="PACK")
    think_scale: float = setting(
        1.0, "Multiplies every wait (think times, gaps between sessions); 0 runs flat out."
    )
    seed: int | None = setting(None, "Seed: the same seed makes the same choices.", kind="int")
    max_rps: float | None = setting(None, "Safety cap on requests per second (all workers).", kind="float")
    # the HTTP client (replay/transports/, docs/http.md): one TransportSettings for either client
    timeout: float = setting(
        10.0, "Per-request timeout: connecting, sending and the whole answer.", kind="duration"
    )
    connect_timeout: float = setting(
        10.0, "Opening a connection (TCP and TLS) may take at most this (within --timeout).", kind="duration"
    )
    max_body_bytes: int = setting(
        16 * MIB,
        "Keep at most this many bytes of each answer's body; the rest is read, counted and dropped.",
        kind="int",
        metavar="BYTES",
    )
    keep_alive: bool = setting(True, "Reuse connections between requests.", commands=())
    workers: int = setting(
        1, "Worker processes (default: one per core); users are split between them.", kind="int"
    )
    # a Dask cluster instead of local processes (replay/cluster/dask.py): one worker per Dask worker
    cluster: str | None = setting(
        None,
        "Run the workers on a Dask cluster: its scheduler (tcp://HOST:8786), or local:N for a "
        "LocalCluster of N processes; one worker per Dask worker (--workers is ignored).",
        metavar="ADDRESS",
    )
    # 0: no limit (connections are pooled, only requests in flight hold one)
    max_connections: int = setting(
        0, "Cap on open connections per worker (0: no cap; only requests in flight hold one)."
    )
    grace: float = setting(10.0, "On stop, how long requests in flight may take to finish.", kind="duration")
    uvloop: bool = setting(True, "Run on uvloop where installed.", commands=())
    http: str = setting(  # "fast" (replay/transports/fast.py: httptools, keep-alive HTTP/1.1) or "aiohttp"
        "fast",
        "HTTP client: our lean keep-alive HTTP/1.1 client on httptools, or aiohttp's.",
        kind="choice",
        choices=("fast", "aiohttp"),
    )
    # https targets (replay/tls.py): verified against the system's CAs plus ca_cert, or not at all
    ca_cert: str | None = setting(
        None,
        "https: also trust the CA certificates of this PEM file (a private or self-signed CA).",
        metavar="FILE",
    )
    insecure: bool = setting(  # k6's insecureSkipTLSVerify, curl -k
        False, "https: do not verify the target's certificate at all (as curl -k).", short="-k"
    )

    @property
    def session_gap_cap(self) -> float | None:
        """The longest gap between two sessions of a model's user: ``max_gap``, else 30 s in a closed run."""
        if self.max_gap is not None:
            return self.max_gap
        return CLOSED_MAX_GAP_S if self.workload is Workload.CLOSED else None

    @property
    def workload(self) -> Workload:
        if self.users is not None:
            return Workload.CLOSED
        if self.arrival_rate is not None or self.arrival_scale is not None:
            return Workload.OPEN
        return Workload.TRACE

    def problems(self, *, trace: bool = False) -> list[str]:
        """Every problem with these settings (empty when valid)."""
        p: list[str] = []
        url = urlsplit(self.target)
        if url.scheme not in ("http", "https") or not url.hostname:
            p.append(f"target {self.target!r} is not an http(s)://host[:port] URL")
        chosen = [
            n
            for n, v in (
                ("users", self.users),
                ("arrival_rate", self.arrival_rate),
                ("arrival_scale", self.arrival_scale),
            )
            if v is not None
        ]
        if trace and chosen:
            p.append(f"trace replay takes its users from the trace; drop {', '.join(chosen)}")
        if not trace and len(chosen) != 1:
            p.append("choose exactly one of users (closed), arrival_rate or arrival_scale (open)")
        if self.users is not None and (not isinstance(self.users, int) or self.users < 0):
            p.append("users must be a whole number ≥ 0")
        _positive(p, "arrival_rate", self.arrival_rate)
        _positive(p, "arrival_scale", self.arrival_scale)
        _positive(p, "max_users", self.max_users, integer=True)
        _positive(p, "profile_speed", self.profile_speed)
        if self.profile_start is not None:
            try:
                parse_profile_start(self.profile_start)
            except ConfigError as exc:
                p.extend(exc.problems)
        clock = [n for n in ("profile_start", "profile_speed") if getattr(self, n) != _DEFAULT_CLOCK[n]]
        if clock and self.arrival_scale is None:
            p.append(f"{' and '.join(clock)} set the clock of the model's arrival profile: use arrival_scale")
        _positive(p, "speed", self.speed)
        _positive(p, "workers", self.workers, integer=True)
        _positive(p, "timeout", self.timeout)
        _positive(p, "connect_timeout", self.connect_timeout)
        if not isinstance(self.max_body_bytes, int) or self.max_body_bytes < 0:
            p.append("max_body_bytes must be a whole number ≥ 0")
        _positive(p, "max_rps", self.max_rps)
        _positive(p, "max_gap", self.max_gap)
        for name in ("ramp_up", "think_scale", "max_late", "grace", "max_connections"):
            if getattr(self, name) < 0:
                p.append(f"{name} must be ≥ 0")
        if self.duration is not None and self.duration <= 0:
            p.append("duration must be positive")
        if self.duration is None and not trace:
            p.append("duration is required for closed and open workloads")
        if not 0 < self.sample <= 1:
            p.append("sample must be a fraction in (0, 1]")
        if self.loop and self.duration is None:
            p.append("loop needs a duration")
        if self.http not in ("fast", "aiohttp"):
            p.append(f"http must be 'fast' or 'aiohttp', not {self.http!r}")
        if self.seed is not None and self.seed < 0:
            p.append("seed must be ≥ 0")
        if self.cluster is not None and not _CLUSTER.fullmatch(self.cluster):
            p.append(f"cluster {self.cluster!r} is not a scheduler address (tcp://HOST:8786) or local:N")
        if self.insecure and self.ca_cert is not None:
            p.append("choose ca_cert (verify against this CA) or insecure (verify nothing), not both")
        return p

    def validate(self, *, trace: bool = False) -> RunConfig:
        """Raise ``ConfigError`` listing every problem; return self when valid.

        A ``ca_cert`` that cannot be loaded raises ``InputError`` naming the file: once, here, before any
        worker starts, rather than as every request failing."""
        problems = self.problems(trace=trace)
        if problems:
            raise ConfigError(problems)
        if self.ca_cert is not None:
            client_context(ca_cert=self.ca_cert)
        return self

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context every client of a worker shares, or None for a plain-http target: a context loads
        the system's CAs (about 20 ms of the loop's time, at a run's start), which an http run never uses."""
        if urlsplit(self.target).scheme != "https":  # the target's scheme as problems() and Origin read it
            return None
        return client_context(ca_cert=self.ca_cert, insecure=self.insecure)

    def transport_settings(self) -> TransportSettings:
        """What the HTTP client of each worker is built with."""
        return TransportSettings(
            connect_timeout=self.connect_timeout,
            request_timeout=self.timeout,
            max_body_bytes=self.max_body_bytes,
            keep_alive=self.keep_alive,
            max_connections=self.max_connections,
        )

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["arrivals"] = self.arrivals.value
        return out

    def for_worker(self, index: int) -> RunConfig:
        """This worker's share: users and rates split across ``workers`` (no shared state between them)."""
        n = self.workers
        changes: dict[str, Any] = {}
        if self.users is not None:
            changes["users"] = self.users // n + (1 if index < self.users % n else 0)
        for name in ("arrival_rate", "arrival_scale", "max_rps"):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value / n
        changes["max_users"] = max(1, self.max_users // n)
        return dataclasses.replace(self, **changes)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = {
    name: i
    for i, full in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
    for name in (full[:3], full)
}
_CLUSTER = re.compile(r"local:[1-9]\d*|[a-z]+://\S+")
_DEFAULT_CLOCK: dict[str, Any] = {"profile_start": None, "profile_speed": 1.0}
_START = re.compile(r"(?:(?P<day>[a-z]+)\s+)?(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?")


def parse_profile_start(text: str) -> tuple[int | None, int]:
    """``[weekday] HH:MM[:SS]`` → (weekday, 0 = Monday, or None; seconds into the day), else ConfigError.

    >>> parse_profile_start("mon 14:30")
    (0, 52200)
    """
    match = _START.fullmatch(str(text).strip().lower())
    if match:
        h, m, s = int(match["h"]), int(match["m"]), int(match["s"] or 0)
        day = match["day"]
        if (day is None or day in _DAY_NAMES) and h < 24 and m < 60 and s < 60:
            return (None if day is None else _DAY_NAMES[day]), h * 3600 + m * 60 + s
    raise ConfigError(f"profile_start {text!r} is not a time of the profile like 14:00, 9:30:15 or mon 14:00")


def default_workers() -> int:
    """One worker process per core available to us."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _positive(problems: list[str], name: str, value: float | None, *, integer: bool = False) -> None:
    if value is None:
        return
    if integer and (not isinstance(value, int) or isinstance(value, bool)):
        problems.append(f"{name} must be a whole number")
    elif value <= 0:
        problems.append(f"{name} must be positive")
