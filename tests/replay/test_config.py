"""RunConfig: defaults, every problem at once, a worker's share."""

from __future__ import annotations

import pytest

from tracereplay.errors import ConfigError
from tracereplay.replay import RunConfig, Workload
from tracereplay.replay.transports.settings import MIB, TransportSettings


def test_every_problem_is_reported_at_once():
    config = RunConfig(target="localhost:80", users=3, arrival_rate=-1, think_scale=-2, timeout=0, sample=2)
    with pytest.raises(ConfigError) as caught:
        config.validate()
    text = str(caught.value)
    for expected in (
        "not an http",
        "exactly one",
        "arrival_rate must be positive",
        "think_scale",
        "timeout must be positive",
        "sample",
    ):
        assert expected in text
    assert len(caught.value.problems) >= 6


def test_workload_follows_the_settings():
    assert RunConfig(target="http://h", users=1).workload is Workload.CLOSED
    assert RunConfig(target="http://h", arrival_rate=1).workload is Workload.OPEN
    assert RunConfig(target="http://h", arrival_scale=2).workload is Workload.OPEN
    assert RunConfig(target="http://h", duration=None).validate(trace=True).workload is Workload.TRACE
    with pytest.raises(ConfigError, match="takes its users from the trace"):
        RunConfig(target="http://h", users=3).validate(trace=True)


def test_worker_shares_add_up():
    config = RunConfig(target="http://h", users=7, max_rps=90, workers=3, max_users=10)
    shares = [config.for_worker(i) for i in range(3)]
    assert [s.users for s in shares] == [3, 2, 2]
    assert all(s.max_rps == 30 for s in shares) and all(s.max_users == 3 for s in shares)
    open_config = RunConfig(target="http://h", arrival_rate=10, workers=4)
    assert open_config.for_worker(2).arrival_rate == 2.5


def test_the_http_settings_make_one_transport_settings():
    config = RunConfig(target="http://h", users=1, timeout=3, connect_timeout=0.5, max_body_bytes=MIB)
    assert config.transport_settings() == TransportSettings(
        connect_timeout=0.5, request_timeout=3, max_body_bytes=MIB, keep_alive=True, max_connections=0
    )
    assert RunConfig(target="http://h", users=1).max_body_bytes == 16 * MIB
    bad = RunConfig(target="http://h", users=1, connect_timeout=0, max_body_bytes=-1).problems()
    assert "connect_timeout must be positive" in bad and "max_body_bytes must be a whole number ≥ 0" in bad
