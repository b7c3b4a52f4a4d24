"""A run's actions are held against the pack before any load; paths escape their parameters."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tracereplay.errors import ConfigError
from tracereplay.replay.actions.generic import parse_action
from tracereplay.replay.actions.pack import Action, ActionPack, check_actions
from tracereplay.replay.actions.paths import fill_path
from tracereplay.replay.store import MemStore

PACK = "tracereplay.demo.actions"


def tracereplay(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tracereplay", *args], capture_output=True, text=True, timeout=90
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_typo_in_a_script_stops_the_run_before_it_starts(tmp_path, workers):
    script = tmp_path / "typo.toml"
    script.write_text(
        'actions = ["POST /api/v4/users/login", "GET /api/v4/users/me/teamz", "log in",\n'
        '           "GET /api/v4/system/ping", "GET /api/v4/files/{file_id}"]\n',
        encoding="utf-8",
    )
    out = tmp_path / "run"
    done = tracereplay(
        "run", str(script), "--target", "http://127.0.0.1:9", "--users", "1", "--duration", "1s",
        "--actions", PACK, "--workers", workers, "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "unknown action 'GET /api/v4/users/me/teamz' (closest: 'GET /api/v4/users/me/teams')" in line
    assert "unknown action 'log in'" in line
    # a route the pack has nothing like goes through the generic action, as documented
    assert "files" not in line.split("the pack")[0] and "system/ping'" not in line.split("the pack")[0]
    assert not out.exists()


def test_check_actions_rules():
    async def noop(ctx):
        return None

    pack = ActionPack("p", {"GET /rooms/{room}": Action(noop), "sync": Action(noop)})
    check_actions(pack, ["GET /rooms/{room}", "sync", "GET /health"], source="model m")
    with pytest.raises(ConfigError) as caught:
        check_actions(pack, ["GET /rooms/{rom}", "synk"], source="model m")
    assert caught.value.problems[:2] == [
        "model m: unknown action 'GET /rooms/{rom}' (closest: 'GET /rooms/{room}')",
        "model m: unknown action 'synk' (closest: 'sync')",
    ]
    check_actions(ActionPack("none", {}), ["anything"], source="model m")  # no pack: all generic


def test_fill_path_escapes_each_parameter_as_one_segment():
    path = fill_path("/rooms/{room}/send/{txn}", room="!abc#1:example.org", txn="a/b c?d%")
    assert path == "/rooms/%21abc%231%3Aexample.org/send/a%2Fb%20c%3Fd%25"
    assert path.template == "/rooms/{room}/send/{txn}"
    assert fill_path("/users/{id}", id="ünï-._~") == "/users/%C3%BCn%C3%AF-._~"
    with pytest.raises(ConfigError, match=r"needs a value for \{txn\}.*has no \{tx\}"):
        fill_path("/rooms/{room}/send/{txn}", room="r", tx="1")


def test_the_generic_action_escapes_ids_from_answers():
    store = MemStore()
    store.remember("room_id", "!r#1:example.org")
    route = parse_action("GET /rooms/{room_id}/messages")
    assert route is not None
    assert route.fill(store, np.random.default_rng(0), []) == "/rooms/%21r%231%3Aexample.org/messages"
