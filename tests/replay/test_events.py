"""The request-event hook: listeners in order, a raising listener removed, latency rules."""

from __future__ import annotations

import logging

import pytest

from tracereplay.replay.events import CORE_FIELDS, LATER_DEFAULTS, RequestEvent, RequestHook


def _event(intended: float = 10.0, start: float = 10.5, end: float = 10.75) -> RequestEvent:
    return RequestEvent(
        user="u1", session="u1-s0", action="GET /a", method="GET", route="/a", path="/a",
        status=200, intended=intended, start=start, end=end, error_kind=None, nbytes=3,
    )


def test_listeners_run_in_order_and_can_leave() -> None:
    hook, seen = RequestHook(), []
    first = hook.add_listener(lambda e: seen.append(("first", e.action)))
    hook.add_listener(lambda e: seen.append(("second", e.status)))
    hook.fire(_event())
    hook.remove_listener(first)
    hook.fire(_event())
    assert seen == [("first", "GET /a"), ("second", 200), ("second", 200)]
    assert len(hook) == 1


def test_a_raising_listener_is_removed_and_the_rest_still_hear(caplog: pytest.LogCaptureFixture) -> None:
    hook, seen = RequestHook(), []

    def broken(event: RequestEvent) -> None:
        raise RuntimeError("dashboard went away")

    hook.add_listener(broken)
    hook.add_listener(seen.append)
    with caplog.at_level(logging.ERROR):
        hook.fire(_event())
        hook.fire(_event())
    assert len(seen) == 2 and len(hook) == 1
    assert sum("dashboard went away" in r.getMessage() or r.exc_info is not None for r in caplog.records) == 1


def test_corrected_latency_counts_from_the_intended_start() -> None:
    late = _event(intended=10.0, start=10.5, end=10.75)
    assert late.latency_s == pytest.approx(0.25)
    assert late.corrected_latency_s == pytest.approx(0.75)
    early = _event(intended=11.0, start=10.5, end=10.75)  # sent before its time: never negative waiting
    assert early.corrected_latency_s == pytest.approx(0.25)


def test_the_hot_path_constructor_gives_an_equal_event() -> None:
    """``User`` builds events with ``tuple.__new__`` and LATER_DEFAULTS: the same event, every field set."""
    core = ("u1", "u1-s0", "GET /a", "GET", "/a", "/a", 200, 10.0, 10.5, 10.75, None, 3, None, False, False)
    assert len(core) == CORE_FIELDS
    fast = tuple.__new__(RequestEvent, (*core, *LATER_DEFAULTS))
    assert fast == _event() and type(fast) is RequestEvent
    assert len(fast) == len(RequestEvent._fields)  # a field added later has its default, not a short tuple
