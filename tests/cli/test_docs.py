"""docs/cli.md and the README stay in step with the verbs and options the stages register."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click

from tracereplay.cli import cli

REPO = Path(__file__).resolve().parents[2]
CLI_DOC = (REPO / "docs" / "cli.md").read_text()
README = (REPO / "README.md").read_text()


def commands() -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}

    def walk(group: click.Group, prefix: str) -> None:
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                walk(command, f"{prefix}{name} ")
            else:
                found[f"{prefix}{name}"] = command

    walk(cli, "")
    return found


def test_cli_doc_has_every_verb_and_option():
    missing = []
    for path, command in commands().items():
        start = CLI_DOC.find(f"## `tracereplay {path}`")
        if start < 0:
            missing.append(f"section for `tracereplay {path}`")
            continue
        end = CLI_DOC.find("\n## ", start + 1)
        section = CLI_DOC[start:end if end > 0 else None]
        for param in command.params:
            if isinstance(param, click.Option):
                missing += [f"{path} {opt}" for opt in param.opts if f"`{opt}`" not in section]
    assert not missing, "docs/cli.md lacks: " + ", ".join(missing)


def test_cli_doc_names_every_exit_status():
    for status in ("0 ok", "1 error", "2 usage", "3 a threshold failed"):
        assert status in CLI_DOC


def test_readme_opens_with_the_two_commands():
    lines = [line for line in README.splitlines() if line.strip()]
    assert lines[:5] == ["# tracereplay", "```sh", "make demo", "make test", "```"]


def tour_commands() -> list[list[str]]:
    """Every ``tracereplay …`` command line in the README's shell blocks (continuations joined)."""
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    text = "\n".join(blocks).replace("\\\n", " ")
    lines = [line.split("#", 1)[0].strip().rstrip("&").strip() for line in text.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("tracereplay ")]


def test_readme_tour_uses_real_verbs_and_options():
    known = commands()
    tour = tour_commands()
    assert len(tour) >= 8
    for argv in tour:
        words = argv[1:]
        path = words[0] if words[0] in known else " ".join(words[:2])
        assert path in known, f"README uses an unknown verb: {' '.join(argv)}"
        options = {opt for p in known[path].params if isinstance(p, click.Option) for opt in p.opts}
        for word in words:
            if word.startswith("-"):
                assert word in options, f"README: `tracereplay {path}` has no option {word}"
