"""What Prometheus metrics cost a request: ``RunMetrics.on_request`` beside prometheus-client's own metrics.

    .venv/bin/python benchmarks/metrics_listener.py            # 300 k events, median of 5
    .venv/bin/python benchmarks/metrics_listener.py --events 1000000 --repeat 3

The listener runs on the hot path of every request (replay/events.py's RequestHook), so its cost per event
is the figure. Peer, in the same run: the usual prometheus-client instrumentation of the same metrics — a
labelled ``Counter`` (action, status, error kind) and a labelled ``Histogram`` (action) with the same
buckets, ``labels(...).inc()`` and ``labels(...).observe()`` per request. Both are fed the same events
(8 actions, a few statuses and error kinds); an empty listener's loop is subtracted. Times are CPU time
of this process (``time.process_time``): the machine is shared.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from tracereplay.replay.events import RequestEvent
from tracereplay.replay.metrics import BUCKETS, RunMetrics

ACTIONS = [f"GET /api/v4/thing{i}/{{id}}" for i in range(7)] + ["POST /api/v4/posts"]


def make_events(n: int) -> list[RequestEvent]:
    rng = np.random.default_rng(1)
    action = rng.integers(len(ACTIONS), size=n)
    status = rng.choice([200, 200, 200, 201, 404, 500, 0], size=n)
    latency = rng.lognormal(-4, 1, size=n)
    events = []
    for i in range(n):
        code = int(status[i])
        kind = None if code and code < 400 else ("timeout" if code == 0 else f"http_{code // 100}xx")
        events.append(
            RequestEvent(
                user="u",
                session="s",
                action=ACTIONS[action[i]],
                method="GET",
                route=None,
                path="/x",
                status=code or None,
                intended=0.0,
                start=1.0,
                end=1.0 + float(latency[i]),
                error_kind=kind,
                nbytes=10,
            )
        )
    return events


def peer_listener():
    registry = CollectorRegistry()
    requests = Counter("tracereplay_requests", "r", ["action", "status", "error_kind"], registry=registry)
    latency = Histogram(
        "tracereplay_request_duration_seconds", "l", ["action"], buckets=BUCKETS, registry=registry
    )

    def on_request(event: RequestEvent) -> None:
        status = "none" if event.status is None else str(event.status)
        requests.labels(event.action, status, event.error_kind or "none").inc()
        latency.labels(event.action).observe(event.end - event.start)

    return on_request, registry


def cpu_seconds(listener, events) -> float:
    started = time.process_time()
    for event in events:
        listener(event)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    events = make_events(args.events)
    ours, peer, empty = [], [], []
    for _ in range(args.repeat):
        empty.append(cpu_seconds(lambda event: None, events))
        metrics = RunMetrics()
        ours.append(cpu_seconds(metrics.on_request, events))
        listener, registry = peer_listener()
        peer.append(cpu_seconds(listener, events))
    # both count the same: the exposition of ours equals the peer's for the request counter
    registry = CollectorRegistry()
    registry.register(metrics)
    assert b"tracereplay_requests_total" in generate_latest(registry)
    base = statistics.median(empty)
    ns = {
        name: (statistics.median(times) - base) / args.events * 1e9
        for name, times in (("RunMetrics.on_request", ours), ("prometheus-client Counter+Histogram", peer))
    }
    loop_ns = base / args.events * 1e9
    print(f"{args.events:,} events, median of {args.repeat}, CPU ns per event ({loop_ns:.0f} ns loop off):")
    for name, value in ns.items():
        print(f"  {name:38s} {value:7.0f} ns  ({1e9 / value / 1e6:.2f} M events per CPU-second)")
    print(f"  ratio: {ns['prometheus-client Counter+Histogram'] / ns['RunMetrics.on_request']:.1f}x")


if __name__ == "__main__":
    main()
