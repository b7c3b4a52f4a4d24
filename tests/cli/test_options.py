"""``run``/``replay`` options come from RunConfig's fields; durations read one way on every verb."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import click
import pytest

from tracereplay.cli import cli
from tracereplay.cli.params import DURATION, FRACTION
from tracereplay.cli.run import OVERRIDES
from tracereplay.replay.config import RunConfig


@pytest.mark.parametrize("verb", ["run", "replay"])
def test_every_offered_setting_is_an_option_with_the_configs_default(verb) -> None:
    command = cli.commands[verb]
    options = {p.name: p for p in command.params if isinstance(p, click.Option)}
    # what the verb's function receives when only the required arguments are given
    params = command.make_context(verb, ["spec", "--target", "http://127.0.0.1:9", "-o", "out"]).params
    offered = [f for f in dataclasses.fields(RunConfig) if verb in f.metadata["commands"]]
    assert offered and {f.name for f in offered} <= set(options)
    for setting in offered:
        option = options[setting.name]
        assert option.help == OVERRIDES[verb].get(setting.name, {}).get("help", setting.metadata["help"])
        if setting.name in OVERRIDES[verb]:
            continue  # the verb declares its own (required, or "one per core")
        wanted = getattr(setting.default, "value", setting.default)
        assert params[setting.name] == wanted, setting.name


def test_api_only_settings_are_not_options() -> None:
    names = {p.name for p in cli.commands["run"].params}
    assert "uvloop" not in names


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("15s", 15.0), ("2m", 120.0), ("1h30m", 5400.0), ("2.5", 2.5)]
)
def test_the_duration_type_reads_the_documented_forms(text, seconds) -> None:
    assert DURATION.convert(text, None, None) == seconds


def test_the_fraction_type_reads_percent_and_decimal() -> None:
    assert (
        FRACTION.convert("10%", None, None) == pytest.approx(0.1) and FRACTION.convert("1", None, None) == 1
    )


@pytest.mark.parametrize(
    "args",
    [
        ["run", "m.json", "--target", "http://127.0.0.1:9", "-o", "x", "--users", "1", "--duration", "soon"],
        ["replay", "e.parquet", "--target", "http://127.0.0.1:9", "-o", "x", "--max-gap", "-3s"],
        ["report", "somewhere", "--bucket", "0.1ms"],
        ["fit", "e.parquet", "-o", "m.json", "--session-gap", "half an hour"],
        ["demo", "--duration", "1x"],
    ],
)
def test_a_bad_duration_is_a_usage_error_on_every_verb(args) -> None:
    done = subprocess.run([sys.executable, "-m", "tracereplay", *args], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Invalid value" in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        (["run", "m.json", "--target", "http://127.0.0.1:9", "--users", "1"], "'-o' / '--out'"),
        (["run", "m.json", "-o", "x", "--users", "1"], "'--target'"),
        (["replay", "e.parquet", "--target", "http://127.0.0.1:9"], "'-o' / '--out'"),
    ],
)
def test_a_required_option_left_out_is_one_line_and_nothing_runs(args, missing, tmp_path) -> None:
    # Click 8.3 took an explicit default=None as a value: `run` without -o started and crashed on a None
    # run directory, with a traceback
    done = subprocess.run(
        [sys.executable, "-m", "tracereplay", *args], capture_output=True, text=True, cwd=tmp_path
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"tracereplay: error: tracereplay {args[0]}: Missing option {missing}")
    assert list(tmp_path.iterdir()) == []
