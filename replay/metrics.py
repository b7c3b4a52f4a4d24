"""Prometheus metrics of a run: a listener of its request events plus its per-second counters.

    metrics = RunMetrics()
    handle.request_hook.add_listener(metrics.on_request)     # every request, as the user saw it
    ... on_interval=metrics.on_interval ...                   # users and sessions, once a second
    registry = CollectorRegistry(); registry.register(metrics)
    generate_latest(registry)                                 # the text /metrics serves

A run of several workers (``--workers N``, ``--cluster``) counts in each worker and shows the sum in the
parent: each worker's :class:`RunMetrics` travels once a second as :meth:`RunMetrics.to_wire`, a compact
cumulative snapshot (its counts by action/status/error kind, its per-action bucket counts, its arrival
rate), and the parent's :meth:`RunMetrics.add_worker` keeps the latest of each. Cumulative, so a report
lost or late costs nothing, and an ended or lost worker's last snapshot stays in the sum
(:meth:`RunMetrics.retire` zeroes only its gauges): counters never go down.

    parent = RunMetrics()
    parent.add_worker(w, report["metrics"])                   # each worker's snapshot, once a second
    parent.on_interval(interval)                              # its users and sessions
    parent.retire(w)                                          # a worker gone: counters kept, gauges 0

The hot path (:meth:`RunMetrics.on_request`) only counts into plain dicts and lists; prometheus-client's
metric families are built when a scrape collects them. So a request costs a dict update and a bisect, not
prometheus-client's per-sample locks (``benchmarks/metrics_listener.py`` measures it), and nothing is a
module global: each run (or agent) has its own registry. Scrapes must come from the run's event-loop
thread (the agent and ``run --metrics-port`` serve ``/metrics`` from that loop), so counting and reading
never race.

Exposed (``tracereplay_`` prefix):

- ``requests_total{action, status, error_kind}`` — status ``none`` when no HTTP answer came, error kind
  ``none`` for a success (else ``connect``, ``timeout``, ``http_5xx`` …, replay/transport.py's kinds);
- ``request_duration_seconds{action}`` — histogram of the latency as measured (actual start → answer);
- ``active_users``, ``sessions_started_total``, ``sessions_dropped_total``, ``sessions_late_total``,
  ``arrival_rate`` (open workload: sessions/s asked for; absent otherwise).

With several workers each family is the sum over them (the scrape shows the run, not a worker).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from tracereplay.replay.events import RequestEvent, RequestHook
from tracereplay.replay.live import Interval
from tracereplay.replay.recorder import UserCounts

#: Latency bucket bounds, seconds: 1 ms … 30 s, about 2.5× apart (+Inf is implied).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
NONE = "none"


class _Latency:
    """One action's latency histogram: a count per bucket (not cumulative) and the sum."""

    __slots__ = ("counts", "total")

    def __init__(self, size: int) -> None:
        self.counts = [0] * size
        self.total = 0.0


@dataclass(frozen=True, slots=True)
class _WorkerFigures:
    """One worker's latest cumulative snapshot, as the parent keeps it."""

    requests: dict[tuple[str, str, str], int]
    latency: dict[str, tuple[list[int], float]]
    arrival_rate: float | None


class RunMetrics:
    """The metrics of one run, fed by :meth:`on_request` and :meth:`on_interval`; a prometheus-client
    collector (register it on a ``CollectorRegistry``)."""

    def __init__(self, buckets: tuple[float, ...] = BUCKETS, prefix: str = "tracereplay") -> None:
        self.bounds = tuple(sorted(buckets))
        self.prefix = prefix
        self.requests: dict[tuple[str, str, str], int] = {}
        self.latency: dict[str, _Latency] = {}
        self.counts: dict[int, UserCounts] = {}  # the latest of each worker
        self.arrival_rate: float | None = None  # this process's own (one in-process worker)
        self.workers: dict[int, _WorkerFigures] = {}  # other processes' latest snapshots (a pool's parent)

    # ------------------------------------------------------------------ feeding (the run's loop)
    def watch(self, hook: RequestHook) -> None:
        """Count every request ``hook`` announces."""
        hook.add_listener(self.on_request)

    def on_request(self, event: RequestEvent) -> None:
        status = NONE if event.status is None else str(event.status)
        key = (event.action, status, event.error_kind or NONE)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        latency = self.latency.get(event.action)
        if latency is None:
            latency = self.latency[event.action] = _Latency(len(self.bounds) + 1)
        seconds = event.end - event.start
        latency.counts[bisect_left(self.bounds, seconds)] += 1
        latency.total += seconds

    def on_interval(self, interval: Interval) -> None:
        self.counts[interval.worker] = interval.counts

    def finish(self, sessions_started: int, sessions_dropped: int, sessions_late: int) -> None:
        """The run's final counts (its result): the last interval may be up to a second behind them."""
        self.counts = {0: UserCounts(0, sessions_started, sessions_dropped, sessions_late)}

    def set_arrival_rate(self, rate: float | None) -> None:
        self.arrival_rate = rate

    # ------------------------------------------------------------------ several workers
    def to_wire(self) -> dict[str, Any]:
        """This process's figures as plain data (lists, dicts, numbers: msgpack and pickle both carry it),
        cumulative since the run began."""
        return {
            "bounds": list(self.bounds),
            "requests": [[a, s, k, n] for (a, s, k), n in self.requests.items()],
            "latency": {action: [*h.counts, h.total] for action, h in self.latency.items()},
            "arrival_rate": self.arrival_rate,
        }

    def add_worker(self, worker: int, wire: dict[str, Any]) -> None:
        """Keep ``worker``'s latest snapshot (:meth:`to_wire`); it replaces the one before. A snapshot
        with other bucket bounds (another version's worker) would not add up: it is left out."""
        if list(wire["bounds"]) != list(self.bounds):
            return
        size = len(self.bounds) + 1
        latency = {
            action: (list(values[:size]), float(values[size]))
            for action, values in wire["latency"].items()
            if len(values) == size + 1
        }
        requests = {(a, s, k): int(n) for a, s, k, n in wire["requests"]}
        self.workers[worker] = _WorkerFigures(requests, latency, wire.get("arrival_rate"))

    def retire(self, worker: int) -> None:
        """``worker`` ended or was lost: its counters stay in the sums (they never go down), its users and
        arrival rate no longer count."""
        c = self.counts.get(worker)
        if c is not None:
            self.counts[worker] = UserCounts(0, c.sessions_started, c.sessions_dropped, c.sessions_late)
        figures = self.workers.get(worker)
        if figures is not None:
            self.workers[worker] = _WorkerFigures(figures.requests, figures.latency, None)

    def _merged(self) -> tuple[dict[tuple[str, str, str], int], dict[str, tuple[list[int], float]]]:
        """Requests and latency of this process plus every worker's latest snapshot."""
        requests = dict(self.requests)
        latency = {action: (list(h.counts), h.total) for action, h in list(self.latency.items())}
        for figures in list(self.workers.values()):
            for key, count in figures.requests.items():
                requests[key] = requests.get(key, 0) + count
            for action, (counts, total) in figures.latency.items():
                mine = latency.get(action)
                if mine is None:
                    latency[action] = (list(counts), total)
                else:
                    latency[action] = ([a + b for a, b in zip(mine[0], counts, strict=True)], mine[1] + total)
        return requests, latency

    def _arrival_rate(self) -> float | None:
        every = (self.arrival_rate, *(f.arrival_rate for f in self.workers.values()))
        rates = [r for r in every if r is not None]
        return sum(rates) if rates else None

    # ------------------------------------------------------------------ a scrape
    def collect(self) -> Iterator[Metric]:
        p = self.prefix
        merged_requests, merged_latency = self._merged()
        requests = CounterMetricFamily(
            f"{p}_requests",
            "Requests sent, by action, HTTP status and error kind.",
            labels=["action", "status", "error_kind"],
        )
        for (action, status, kind), count in merged_requests.items():
            requests.add_metric([action, status, kind], count)
        yield requests
        latency = HistogramMetricFamily(
            f"{p}_request_duration_seconds",
            "Request latency as measured (actual start to answer), by action.",
            labels=["action"],
        )
        edges = [*(f"{b:g}" for b in self.bounds), "+Inf"]
        for action, (counts, total) in merged_latency.items():
            cumulative, running = [], 0
            for edge, count in zip(edges, counts, strict=True):
                running += count
                cumulative.append((edge, running))
            latency.add_metric([action], cumulative, total)
        yield latency
        counts = list(self.counts.values())
        yield GaugeMetricFamily(
            f"{p}_active_users", "Users running now.", value=sum(c.active_users for c in counts)
        )
        for name, what in (
            ("sessions_started", "Sessions started."),
            (
                "sessions_dropped",
                "Arrivals dropped (open workload: over max_users for longer than max_late).",
            ),
            ("sessions_late", "Arrivals started late (open workload: waited for a free user slot)."),
        ):
            total = sum(getattr(c, name) for c in counts)
            yield CounterMetricFamily(f"{p}_{name}", what, value=total)
        rate = self._arrival_rate()
        if rate is not None:
            yield GaugeMetricFamily(f"{p}_arrival_rate", "Arrival rate asked for, sessions/s.", value=rate)

    def describe(self) -> list[Metric]:
        # the families are known only when collected; an empty describe lets several runs share a registry
        return []
