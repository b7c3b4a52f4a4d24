"""Path templating: ``/users/123/posts/9f1c…`` → ``/users/{id}/posts/{hex}``.

Applied where a span has no ``http.route``, so that concrete ids never become separate actions.
Works on the distinct paths only (there are far fewer of them than rows).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import numpy as np

# Order matters: the most specific shapes first.
_SEGMENT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), "{uuid}"),
    (re.compile(r"^[^@/\s]+@[^@/\s]+\.[A-Za-z]{2,}$"), "{email}"),
    (re.compile(r"^-?\d+$"), "{id}"),
    (re.compile(r"^(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}$"), "{hex}"),
    # long opaque tokens: 16+ characters of base64/url-safe alphabet mixing letters and digits
    (re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_\-.~+=]{16,}$"), "{token}"),
)


@lru_cache(maxsize=1 << 16)  # segments repeat across paths ("api", "v4", "users"…)
def template_segment(segment: str) -> str:
    """A path segment, or its placeholder when it looks like an id or a token."""
    for pattern, placeholder in _SEGMENT_RULES:
        if pattern.match(segment):
            return placeholder
    return segment


def template_path(path: str) -> str:
    """``/users/123`` → ``/users/{id}``; the query string is dropped."""
    bare = path.split("?", 1)[0].split("#", 1)[0]
    return "/".join(template_segment(s) if s else s for s in bare.split("/"))


def template_paths(paths: np.ndarray | Iterable[str | None]) -> np.ndarray:
    """Template an array of paths (None stays None), computing each distinct path once."""
    from tracereplay.ingest.raw import Coded

    return Coded.from_objects(np.asarray(list(paths) if not isinstance(paths, np.ndarray) else paths,
                                         dtype=object)).map(template_path).to_objects()
