"""The user-facing failures of tracereplay, one small tree.

    TracereplayError            anything the CLI reports as one line and exit status 1
    ├── InputError              a file we were asked to read is missing, empty, corrupt or of the wrong format
    ├── ConfigError             invalid options, settings or model edits (every problem at once)
    ├── ModelFileError          a model file that cannot be loaded (wrong version, damaged)
    └── TargetError             the target service cannot be used at all (e.g. not a 127.0.0.0/8 address where
                                that is required, or unreachable before the run starts)

Errors inside a run (a refused connection, a timeout, a 5xx) are *recorded*, never raised: they are results.
"""

from __future__ import annotations

from pathlib import Path


class TracereplayError(Exception):
    """Base of every error the CLI turns into one clear line."""


class InputError(TracereplayError):
    """A file cannot be read as asked. Names the file and, where known, the place in it."""

    def __init__(self, path: str | Path, message: str, *, where: str | None = None) -> None:
        self.path = str(path)
        self.where = where
        self.message = message
        place = f"{self.path}: {where}" if where else self.path
        super().__init__(f"{place}: {message}")


class ConfigError(TracereplayError):
    """Invalid settings. ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class ModelFileError(InputError):
    """A model file that cannot be loaded."""


class TargetError(TracereplayError):
    """The target cannot be used for this run."""
