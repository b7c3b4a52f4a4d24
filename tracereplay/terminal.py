"""Rich consoles for what the command line prints: a terminal keeps its width, anything else never wraps.

A CI log or a pipe has no width, and rich then assumes 80 columns and folds long lines and tables — a
per-action table with its percentiles becomes unreadable. Off a terminal every console here is as wide
as :data:`PIPE_WIDTH` and soft-wraps (a long line stays one line), so a grep of the log finds whole rows.
"""

from __future__ import annotations

from typing import IO, Any

from rich.console import Console

#: The width of a console that is not a terminal: wide enough for any table we print, so none folds.
PIPE_WIDTH = 400


def make_console(*, stderr: bool = False, file: IO[str] | None = None, **options: Any) -> Console:
    """A console on stdout (stderr with ``stderr=True``, or ``file``): a terminal's width, else no wrapping.

    A ``file`` is never a terminal: it gets no colours either (its text is read, not shown)."""
    if file is not None:
        return Console(file=file, width=PIPE_WIDTH, soft_wrap=True, color_system=None, **options)
    console = Console(stderr=stderr, **options)
    if console.is_terminal:
        return console
    return Console(stderr=stderr, width=PIPE_WIDTH, soft_wrap=True, **options)
