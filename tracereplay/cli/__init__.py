"""The ``tracereplay`` command: one verb a stage.

Each stage's verbs live in their own module and are registered here explicitly (no import side effects).
Every user-facing failure is a :class:`tracereplay.errors.TracereplayError`, printed here as one line on
stderr with exit status 1; usage errors exit 2 (click's rule); a failed report threshold exits 3; a
regression flagged by ``report --baseline … --fail-on-regression`` exits 4.
"""

from __future__ import annotations

import sys
import warnings

import click

from tracereplay.cli import capacity, demo, ingest, model, pack, report, run, serve
from tracereplay.errors import TracereplayError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_THRESHOLD, EXIT_REGRESSION = 0, 1, 2, 3, 4


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="tracereplay")
def cli() -> None:
    """Replay production-like traffic from trace and analytics dumps.

    \b
    dumps → ingest → events.parquet → fit → model → run → RUN_DIR → report
    Start with:  tracereplay demo
    """


for _module in (demo, ingest, model, run, pack, report, serve, capacity):
    _module.register(cli)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Library warnings (e.g. a slow fallback) as one line, like our errors, not Python's two-line form."""
    click.echo(f"tracereplay: warning: {message}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps our errors to one clear line and exit status 1, never a traceback."""
    warnings.showwarning = _one_line_warning
    try:
        cli.main(args=argv, prog_name="tracereplay", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("tracereplay: interrupted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        # one line, as every other error: the verb and what is wrong; `--help` has the usage
        verb = exc.ctx.command_path if exc.ctx is not None else "tracereplay"
        click.echo(f"tracereplay: error: {verb}: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except TracereplayError as exc:
        click.echo(f"tracereplay: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        click.echo("tracereplay: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(EXIT_OK)
