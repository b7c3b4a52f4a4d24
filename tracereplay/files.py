"""Writing files so that a reader never sees half of one: the one ``atomic_path`` every stage uses.

Every output of tracereplay (event tables, model files, run directories, report pages) is written to a
temporary sibling and renamed into place, so a crash or a full disk leaves either the old file or the new
one, never a truncated file that looks complete. ``os.replace`` is atomic on POSIX within one filesystem,
which a sibling always is.
"""

from __future__ import annotations

import os
from pathlib import Path


class atomic_path:
    """Context manager yielding a temporary sibling path that is renamed to ``target`` on success.

    On failure the temporary file is removed and ``target`` is untouched, so a partly written output is
    never left behind as if complete.
    """

    def __init__(self, target: str | Path) -> None:
        self.target = Path(target)
        self.tmp = self.target.with_name(f".{self.target.name}.{os.getpid()}.partial")

    def __enter__(self) -> Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            os.replace(self.tmp, self.target)
        else:
            self.tmp.unlink(missing_ok=True)
