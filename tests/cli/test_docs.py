"""docs/cli.md and the README stay in step with the verbs and options the stages register.

Rewrite docs/cli.md from the commands after changing a verb:  .venv/bin/python tests/cli/test_docs.py
"""

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


# ------------------------------------------------------------------------ regenerating docs/cli.md
ORDER = ["demo", "ingest", "fit", "model show", "model edit", "simulate", "compare", "run", "replay",
         "report"]
EXITS = {
    "demo": "0 ok · 1 error (e.g. the target did not start) · 2 usage · "
            "130 interrupted (the report of what ran is still printed)",
    "ingest": "0 ok · 1 error (missing, empty, corrupt or unrecognised dump) · 2 usage",
    "fit": "0 ok · 1 error (unreadable event table, nothing to fit) · 2 usage",
    "model show": "0 ok · 1 error (missing or damaged model file) · 2 usage",
    "model edit": "0 ok · 1 error (damaged model, invalid edit) · 2 usage",
    "simulate": "0 ok · 1 error · 2 usage",
    "compare": "0 every thresholded metric passes · 1 error · 2 usage · 3 a metric failed its threshold",
    "run": "0 ok (the run ended: duration, done) · 1 error (bad model, config or target) · 2 usage · "
           "130 interrupted (the run directory is still complete)",
    "replay": "0 ok · 1 error · 2 usage · 130 interrupted",
    "report": "0 ok · 1 error (unreadable run) · 2 usage (e.g. a malformed --threshold) · "
              "3 a threshold failed · 4 a regression flagged with --fail-on-regression (3 wins if both)",
}
CONVENTIONS = """\
# The `tracereplay` command

One verb a stage; every verb answers `--help` with examples. Kept in step with the code by
`tests/cli/test_docs.py` (every verb and option registered must appear here); after changing a verb,
rewrite this page with `.venv/bin/python tests/cli/test_docs.py`.

```
dumps ──► ingest ──► events.parquet ──► fit ──► model.json ──► run / replay ──► RUN_DIR/ ──► report
```

## Conventions (every verb)

- **Exit status**: 0 ok · 1 error: one line on stderr, `tracereplay: error: <file>: <place>: <what>`,
  no traceback · 2 usage (unknown option, bad value, a required option left out): one line too,
  `tracereplay: error: tracereplay VERB: <what>` · 3 a threshold failed (`report`, `compare`) · 4 a
  regression flagged (`report --fail-on-regression`) · 130 interrupted (Ctrl-C).
- **Durations** read as `500ms`, `15s`, `2m`, `1h30m` (a bare number is seconds).
- **`-o`** writes exactly the path given, whatever its extension, atomically: a failed command leaves
  any previous file at that path untouched.
- **`--json`** prints one machine-readable document on stdout instead of tables.
- Load goes wherever `--target` points: point it at staging or at the demo target on 127.0.0.1.
- `tracereplay --version`; `tracereplay VERB --help`.
"""


def _examples(text: str) -> list[str]:
    """The command lines of a help text's examples paragraph (continuation lines indented)."""
    if "xample" not in text:
        return []
    block: list[str] = []
    for line in text[text.index("xample"):].split("\n")[1:]:
        s = line.strip()
        if s == "\b":
            continue
        if not s and block and not block[-1].endswith("\\"):
            break
        if s:
            block.append(("    " + s) if block and block[-1].endswith("\\") else s)
    return block


def _options_table(command: click.Command, ctx: click.Context) -> list[str]:
    rows = ["| option | meaning |", "|---|---|"]
    for p in command.params:
        if not isinstance(p, click.Option):
            continue
        opts = ", ".join(f"`{o}`" for o in p.opts + p.secondary_opts)
        if not p.is_flag and not p.count:
            opts += " " + p.make_metavar(ctx).replace("|", "\\|")
        meaning = (p.help or "").replace("\n", " ").replace("|", "\\|")
        if p.show_default and p.default is not None and not p.is_flag:
            meaning += f" (default: {p.default})"
        rows.append(f"| {opts} | {meaning} |")
    return rows


def render_cli_doc() -> str:
    """docs/cli.md from the registered commands."""
    known = commands()
    out = [CONVENTIONS]
    for path in ORDER + sorted(p for p in known if p not in ORDER):
        command = known[path]
        ctx = click.Context(command, info_name=f"tracereplay {path}")
        text = command.help or ""
        out.append(f"## `tracereplay {path}`\n")
        out.append(text.split("\n\n")[0].replace("\n", " ").strip() + "\n")
        out.append(f"```\ntracereplay {path} {' '.join(command.collect_usage_pieces(ctx))}\n```\n")
        if examples := _examples(text):
            out.append("```sh\n" + "\n".join(examples) + "\n```\n")
        out.extend(_options_table(command, ctx))
        out.append("")
        out.append(f"Exit status: {EXITS.get(path, '0 ok · 1 error · 2 usage')}.\n")
    return "\n".join(out)


if __name__ == "__main__":
    (REPO / "docs" / "cli.md").write_text(render_cli_doc())
    print(f"wrote {REPO / 'docs' / 'cli.md'}")
