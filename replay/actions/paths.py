"""Paths from route templates: every parameter value is percent-escaped as one path segment.

The rule (RFC 3986): a value keeps the unreserved characters ``A–Z a–z 0–9 - . _ ~`` and every other
byte of its UTF-8 form becomes ``%XX`` — ``/``, ``?``, ``#``, ``%``, space, and also ``!``, ``:``, ``@``,
``$``, ``&``, ``+`` … (``!room:example.org`` → ``%21room%3Aexample.org``). A value never adds a path
segment, a query or a fragment, and the server reads back exactly the value (``#`` unescaped would cut
the path at a fragment the server never sees). The template's own text goes out as written; the
transports send a path as given and never escape it again.

    >>> fill_path("/rooms/{room}/send/{txn}", room="!r#1:example.org", txn="t 1")
    '/rooms/%21r%231%3Aexample.org/send/t%201'
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from urllib.parse import quote

from tracereplay.errors import ConfigError

PARAM = re.compile(r"\{([^{}/]+)\}")


class FilledPath(str):
    """A concrete path that remembers its template: ``ctx.request`` records the template as the route."""

    __slots__ = ("template",)
    template: str

    def __new__(cls, path: str, template: str) -> FilledPath:
        made = super().__new__(cls, path)
        made.template = template
        return made


#: Escaped ids, by id: users fill their paths from the same few ids over and over (hot path). Bounded: emptied
#: when full.
_ESCAPED: dict[str, str] = {}
_ESCAPED_MAX = 8192


def escape_segment(value: object) -> str:
    """``value`` (``str()`` of it) as one escaped path segment (the rule above)."""
    text = value if type(value) is str else str(value)
    escaped = _ESCAPED.get(text)
    if escaped is None:
        escaped = quote(text, safe="")
        if len(_ESCAPED) >= _ESCAPED_MAX:
            _ESCAPED.clear()
        _ESCAPED[text] = escaped
    return escaped


@functools.cache  # a run fills a few dozen templates, each many times
def template_parts(template: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``template`` cut at its parameters: (the n + 1 literal pieces, the n parameter names in order)."""
    pieces = PARAM.split(template)  # literal, name, literal, name, …, literal
    return tuple(pieces[0::2]), tuple(pieces[1::2])


def fill_path(template: str, values: Mapping[str, object] | None = None, /, **params: object) -> FilledPath:
    """``template`` with each ``{name}`` replaced by its escaped value; a missing or unused name is an
    error (a typo in a pack fails loudly once, not as requests to the wrong path)."""
    given = {**values, **params} if values and params else (values or params)
    literals, names = template_parts(template)
    if len(given) != len(set(names)) or any(n not in given for n in names):
        missing = [n for n in names if n not in given]
        unused = [n for n in given if n not in names]
        problems = [f"path {template!r} needs a value for {{{n}}}" for n in missing]
        problems += [f"path {template!r} has no {{{n}}}" for n in unused]
        raise ConfigError(problems)
    return FilledPath(join_parts(literals, names, given), template)


def join_parts(literals: tuple[str, ...], names: tuple[str, ...], values: Mapping[str, object]) -> str:
    """The path of a template's :func:`template_parts` with ``values`` (every name present) escaped in."""
    out = [literals[0]]
    for name, literal in zip(names, literals[1:], strict=True):
        out.append(escape_segment(values[name]))
        out.append(literal)
    return "".join(out)
