"""Path templating: ``/users/123/posts/9f1c…`` → ``/users/{id}/posts/{hex}``.

Applied where a span has no ``http.route``, so that concrete ids never become separate actions.
Works on the distinct paths only (there are far fewer of them than rows).

Real sites name pages with words, numbers and dashes (``mission-sts-69.html``, ``logstash-monitorama-2013``,
``kibana4.png``): those are pages, kept as they are. A segment is an id only as a whole (a number, a UUID, a
hex id, an e-mail address), optionally with a file extension (``12345.jpg`` → ``{id}.jpg``), or a hash
between dots in a bundler's file name (``main.3f2a9c1b.chunk.js`` → ``main.{hex}.chunk.js``); it is an opaque
token when one of its dash/underscore/dot-separated pieces looks random: 12+ characters with letters and at
least two separate runs of digits (``eyJhbGciOiJIUzI1NiJ9``), or 20+ characters mixing letters and digits.
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
)
#: the characters of URL-safe tokens (base64url, base62, JWT parts)
_TOKEN_ALPHABET = re.compile(r"^[A-Za-z0-9_\-.~+=]{12,}$")
_PIECES = re.compile(r"[-_.~+=]")
_DIGIT_RUNS = re.compile(r"\d+")
#: a file extension kept beside a templated stem: ``{id}.jpg``
_EXTENSION = re.compile(r"^(.+?)(\.[A-Za-z][A-Za-z0-9]{0,4})$")
TOKEN = "{token}"
EMAIL = "{email}"
#: placeholders a dotted piece of a file name may take (only hashes: a number there is a version, 1.2.3)
_HASHED = {"{hex}": "{hex}", TOKEN: TOKEN, "{uuid}": "{uuid}"}


@lru_cache(maxsize=1 << 16)  # segments repeat across paths ("api", "v4", "users"…)
def template_segment(segment: str) -> str:
    """A path segment, or its placeholder when it looks like an id or a token (an extension is kept)."""
    named = _EXTENSION.match(segment)
    if named is not None and "." not in named.group(1):  # named by an id, it keeps its type: {id}.html
        stem = _placeholder(named.group(1))
        if stem is not None and stem != EMAIL:
            return stem + named.group(2)
    for pattern, placeholder in _SEGMENT_RULES:
        if pattern.match(segment):
            return placeholder
    if "." in segment:  # bundler names: main.3f2a9c1b.chunk.js → main.{hex}.chunk.js (a hash per deploy)
        pieces = segment.split(".")
        hashed = [_hashed(piece) if len(piece) >= 8 else piece for piece in pieces]
        if hashed != pieces:
            return ".".join(hashed)
    return TOKEN if _is_token(segment) else segment


def _hashed(piece: str) -> str:
    """A piece of a dotted name as its placeholder when it is a hash ({hex}, {token}, {uuid}), else itself."""
    placeholder = _placeholder(piece)
    return _HASHED.get(placeholder, piece) if placeholder is not None else piece


def _placeholder(segment: str) -> str | None:
    for pattern, placeholder in _SEGMENT_RULES:
        if pattern.match(segment):
            return placeholder
    return TOKEN if _is_token(segment) else None


def _is_token(segment: str) -> bool:
    return bool(_TOKEN_ALPHABET.match(segment)) and any(map(_opaque, _PIECES.split(segment)))


def _opaque(piece: str) -> bool:
    """A random-looking piece: words and names have one run of digits at most (``kibana4``, ``sts69``)."""
    if len(piece) < 12 or piece.isdigit() or not any(c.isalpha() for c in piece):
        return False
    runs = len(_DIGIT_RUNS.findall(piece))
    return runs >= 2 or (len(piece) >= 20 and runs >= 1)


def is_secret(placeholder: str) -> bool:
    """Whether a templated segment stands for a secret (a token or an e-mail address), extension or not."""
    return placeholder.startswith((TOKEN, EMAIL))


def template_path(path: str) -> str:
    """``/users/123`` → ``/users/{id}``; the query string is dropped."""
    bare = path.split("?", 1)[0].split("#", 1)[0]
    return "/".join(template_segment(s) if s else s for s in bare.split("/"))


def template_paths(paths: np.ndarray | Iterable[str | None]) -> np.ndarray:
    """Template an array of paths (None stays None), computing each distinct path once."""
    from tracereplay.ingest.raw import Coded

    return Coded.from_objects(np.asarray(list(paths) if not isinstance(paths, np.ndarray) else paths,
                                         dtype=object)).map(template_path).to_objects()
