"""Every verb answers ``--help`` with an example, and ``tracereplay --help`` stays light."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from tracereplay.cli import cli

# The verbs of DESIGN.md's CLI; whatever else the stages register is checked too (see all_verbs()).
DESIGN_VERBS = ["demo", "ingest", "fit", "model show", "simulate", "compare", "run", "report"]


def all_verbs() -> list[str]:
    """Every command path registered on the root group, subcommands of groups included."""
    found: list[str] = []

    def walk(group: click.Group, prefix: str) -> None:
        for name, command in sorted(group.commands.items()):
            path = f"{prefix}{name}"
            if isinstance(command, click.Group):
                walk(command, path + " ")
            else:
                found.append(path)

    walk(cli, "")
    return found


def help_texts(verbs: list[str]) -> dict[str, subprocess.CompletedProcess[str]]:
    """``tracereplay VERB --help`` for every verb, as real processes started together (2 cores, ~1 s each)."""
    procs = {
        verb: subprocess.Popen([sys.executable, "-m", "tracereplay", *verb.split(), "--help"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for verb in verbs
    }
    done = {}
    for verb, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        done[verb] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


@pytest.fixture(scope="module")
def helps() -> dict[str, subprocess.CompletedProcess[str]]:
    return help_texts(sorted(set(all_verbs()) | set(DESIGN_VERBS)))


def test_every_design_verb_is_registered():
    assert set(DESIGN_VERBS) <= set(all_verbs())


@pytest.mark.parametrize("verb", sorted(set(all_verbs()) | set(DESIGN_VERBS)))
def test_verb_help_has_an_example(helps, verb):
    done = helps[verb]
    assert done.returncode == 0, done.stderr
    assert f"Usage: tracereplay {verb}" in done.stdout
    assert "example" in done.stdout.lower(), f"`tracereplay {verb} --help` shows no example"
    # an example is a command line of this very verb
    assert any(line.strip().startswith(f"tracereplay {verb} ") for line in done.stdout.splitlines())


def test_root_help_lists_every_verb_and_imports_no_heavy_library():
    code = (
        "import sys\n"
        "from tracereplay.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('pandas', 'numpy', 'aiohttp', 'pyarrow', 'scipy', 'matplotlib')"
        " if m in sys.modules)\n"
        "print('HEAVY', ','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for name in cli.commands:
        assert name in done.stdout
    heavy = done.stdout.rsplit("HEAVY", 1)[1].strip()
    assert heavy == "", f"`tracereplay --help` imports {heavy}: keep them inside the command functions"


def test_version_and_unknown_verb():
    done = subprocess.run([sys.executable, "-m", "tracereplay", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and "0." in done.stdout
    done = subprocess.run([sys.executable, "-m", "tracereplay", "frobnicate"], capture_output=True, text=True)
    assert done.returncode == 2 and "No such command" in done.stderr
