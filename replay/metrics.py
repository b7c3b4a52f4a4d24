"""Prometheus metrics of a run: a listener of its request events plus its per-second counters.

    metrics = RunMetrics()
    handle.request_hook.add_listener(metrics.on_request)     # every request, as the user saw it
    ... on_interval=metrics.on_interval ...                   # users and sessions, once a second
    registry = CollectorRegistry(); registry.register(metrics)
    generate_latest(registry)                                 # the text /metrics serves

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
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

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


class RunMetrics:
    """The metrics of one run, fed by :meth:`on_request` and :meth:`on_interval`; a prometheus-client
    collector (register it on a ``CollectorRegistry``)."""

    def __init__(self, buckets: tuple[float, ...] = BUCKETS, prefix: str = "tracereplay") -> None:
        self.bounds = tuple(sorted(buckets))
        self.prefix = prefix
        self.requests: dict[tuple[str, str, str], int] = {}
        self.latency: dict[str, _Latency] = {}
        self.counts: dict[int, UserCounts] = {}  # the latest of each worker
        self.arrival_rate: float | None = None

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

    # ------------------------------------------------------------------ a scrape
    def collect(self) -> Iterator[Metric]:
        p = self.prefix
        requests = CounterMetricFamily(
            f"{p}_requests",
            "Requests sent, by action, HTTP status and error kind.",
            labels=["action", "status", "error_kind"],
        )
        for (action, status, kind), count in list(self.requests.items()):
            requests.add_metric([action, status, kind], count)
        yield requests
        latency = HistogramMetricFamily(
            f"{p}_request_duration_seconds",
            "Request latency as measured (actual start to answer), by action.",
            labels=["action"],
        )
        edges = [*(f"{b:g}" for b in self.bounds), "+Inf"]
        for action, histogram in list(self.latency.items()):
            cumulative, running = [], 0
            for edge, count in zip(edges, histogram.counts, strict=True):
                running += count
                cumulative.append((edge, running))
            latency.add_metric([action], cumulative, histogram.total)
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
        if self.arrival_rate is not None:
            yield GaugeMetricFamily(
                f"{p}_arrival_rate", "Arrival rate asked for, sessions/s.", value=self.arrival_rate
            )

    def describe(self) -> list[Metric]:
        # the families are known only when collected; an empty describe lets several runs share a registry
        return []
