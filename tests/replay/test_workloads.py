"""The Workload seam: every workload kind built from WORKLOADS through one context, each refusing the runtime
controls it cannot take with NotSteerable, and a workload written outside the package run by a LoadTester."""

from __future__ import annotations

import pytest

from tests.replay.test_loadtester import _eventually
from tracereplay.replay.config import RunConfig, Workload
from tracereplay.replay.loadtester import LoadTester
from tracereplay.replay.runner import prepare_worker
from tracereplay.replay.workloads import WORKLOADS
from tracereplay.replay.workloads.base import NotSteerable
from tracereplay.replay.workloads.closed import ClosedWorkload

PACK = "tracereplay.demo.actions"


def test_every_workload_kind_has_one_builder():
    assert set(WORKLOADS) == set(Workload)


@pytest.mark.parametrize(
    ("settings", "refused"),
    [
        ({"users": 2}, ["set_arrival_rate"]),
        ({"arrival_rate": 5.0}, ["add_users", "remove_users"]),
    ],
)
async def test_controls_a_workload_cannot_take_are_not_steerable(
    demo_url, hand_model, tmp_path, settings, refused
):
    out = str(tmp_path / "run")
    config = RunConfig(target=demo_url, duration=5, out=out, actions=PACK, **settings).validate()
    share, source, table = prepare_worker(hand_model, config)
    tester = LoadTester(share, controllers=source.controllers, table=table, paths=source.paths)
    await tester.start()
    try:
        for control in refused:
            with pytest.raises(NotSteerable, match="applies to"):
                getattr(tester, control)(1.0 if control == "set_arrival_rate" else 1)
        if "add_users" not in refused:
            tester.add_users(1)
            assert await _eventually(lambda: tester.active_users == 3)
        else:
            tester.set_arrival_rate(10.0)
            assert tester.workload.arrival_rate == 10.0
    finally:
        tester.stop()
        await tester.wait()


async def test_a_trace_replay_refuses_every_control(demo_url, demo_events, tmp_path):
    out = str(tmp_path / "run")
    config = RunConfig(target=demo_url, duration=2, out=out, actions=PACK).validate(trace=True)
    share, source, table = prepare_worker(None, config, trace=demo_events)
    tester = LoadTester(
        share, workload=Workload.TRACE, table=table, trace_users=source.trace_users, paths=source.paths
    )
    assert tester.workload.name == "trace" and tester.workload.arrival_rate is None
    for control, value in (("add_users", 1), ("remove_users", 1), ("set_arrival_rate", 1.0)):
        with pytest.raises(NotSteerable, match="trace replay"):
            getattr(tester, control)(value)
        with pytest.raises(ValueError):  # callers that ignore inapplicable controls catch ValueError
            getattr(tester, control)(value)


async def test_a_closed_workload_built_from_its_own_settings(demo_url, hand_model, tmp_path):
    out = str(tmp_path / "r")
    config = RunConfig(target=demo_url, users=3, ramp_up=0.3, duration=1.0, out=out, actions=PACK)
    share, source, table = prepare_worker(hand_model, config.validate())
    tester = LoadTester(share, controllers=source.controllers, table=table, paths=source.paths)
    assert isinstance(tester.workload, ClosedWorkload)
    assert (tester.workload.target, tester.workload.ramp_up_s) == (3, 0.3)
    outcome = await tester.run()
    assert outcome.requests > 0 and outcome.counts.sessions_started >= 3

