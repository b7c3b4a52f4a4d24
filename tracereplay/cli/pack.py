"""``tracereplay pack new``: scaffold an action pack. Registered by :mod:`tracereplay.cli`."""

from __future__ import annotations

from pathlib import Path

import click

from tracereplay.files import atomic_path


def register(cli: click.Group) -> None:
    """Add ``pack`` (and ``pack new``) to ``cli``."""
    cli.add_command(pack)


@click.group()
def pack() -> None:
    """Action packs: scaffold one for a model's or a trace's actions."""


@pack.command("new")
@click.argument("source", metavar="EVENTS_OR_MODEL")
@click.option("--har", type=click.Path(dir_okay=False), metavar="FILE",
              help="A HAR recording: each function sends its action's first recorded body, query, headers.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The pack file to write (exactly this path).")  # fmt: skip
def pack_new(source: str, har: str | None, output: Path) -> None:
    """Write a working action pack skeleton: one function per action of EVENTS_OR_MODEL.

    Route parameters are filled from the user's store, escaped; ids of JSON answers are remembered for
    later actions. With --har, example bodies, queries and headers (secrets left out) come from the
    recording. The file imports and runs as written; edit it, then check it with `tracereplay try`.

    \b
    Examples:
      tracereplay pack new model.json -o my_pack.py
      tracereplay pack new events.parquet --har session.har -o my_pack.py
      tracereplay try my_pack.py --target http://127.0.0.1:8065
    """
    # here, not at the top: reading a model or an event table imports numpy and pandas
    from tracereplay.replay.scaffold import scaffold_pack

    actions, paths = _actions_of(source)
    examples = None
    if har is not None:
        from tracereplay.ingest.readers.har import example_requests

        examples = example_requests(har)
    text = scaffold_pack(actions, source=Path(source).name, examples=examples, paths=paths)
    with atomic_path(output) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    recorded = f", {sum(a in examples for a in set(actions))} with a recorded example" if examples else ""
    click.echo(f"wrote {output}: {len(set(actions))} actions{recorded}")


def _actions_of(source: str) -> tuple[list[str], dict[str, list[str]]]:
    """The actions of a model or event table, and the concrete paths recorded for each (a sample)."""
    from tracereplay.errors import InputError

    path = Path(source)
    if not path.is_file():
        raise InputError(path, "no such file")
    if path.suffix in (".json", ".toml"):
        from tracereplay.replay.sources import load_model_file

        model = load_model_file(path)
        actions = list(model.actions)
        return actions, {a: list(model.path_examples(a)) for a in actions}
    from tracereplay.ingest.events import read_events

    table = read_events(path)
    actions = [str(a) for a in table["action"].dropna().unique()]
    distinct = table.dropna(subset=["action", "path"]).drop_duplicates(["action", "path"])
    kept = distinct.groupby("action", observed=True).head(PATHS_KEPT)
    paths: dict[str, list[str]] = {}
    for action, concrete in zip(kept["action"], kept["path"], strict=True):
        paths.setdefault(str(action), []).append(str(concrete))
    return actions, paths


#: Recorded paths read per action of an event table (the scaffold keeps the values of up to five).
PATHS_KEPT = 20
