"""Human durations: ``500ms``, ``15s``, ``2m``, ``1h30m``, ``1.5s``; a bare number means seconds."""

from __future__ import annotations

import re

from tracereplay.errors import ConfigError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str | float | int) -> float:
    """Return the duration in seconds.

    >>> parse_duration("1h30m")
    5400.0
    """
    if isinstance(text, int | float):
        return _non_negative(float(text), str(text))
    cleaned = text.strip().lower().replace(" ", "")
    try:
        return _non_negative(float(cleaned), text)
    except ValueError:
        pass
    parts = _PART.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise ConfigError(f"cannot read duration {text!r} (use e.g. 500ms, 15s, 2m, 1h30m)")
    return _non_negative(sum(float(n) * _UNITS[u] for n, u in parts), text)


def _non_negative(seconds: float, text: str) -> float:
    if seconds < 0:
        raise ConfigError(f"duration {text!r} is negative")
    return seconds


def format_duration(seconds: float) -> str:
    """The inverse of :func:`parse_duration` for display: ``90`` → ``1m30s``."""
    if 0 < seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    text = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s or not (h or m) else "")
    return text
