"""Click parameter types every verb shares: one way to read a duration, one way to read a fraction."""

from __future__ import annotations

from typing import Any

import click

from tracereplay.durations import parse_duration
from tracereplay.errors import ConfigError


class Duration(click.ParamType):
    """``500ms``, ``15s``, ``2m``, ``1h30m`` or a bare number of seconds → seconds (float).

    ``minimum`` (seconds) rejects values below it, e.g. a report bucket under 1 ms."""

    name = "duration"

    def __init__(self, minimum: float = 0.0) -> None:
        self.minimum = minimum

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float | int) and not isinstance(value, bool):
            seconds = float(value)
        else:
            try:
                seconds = parse_duration(value)
            except ConfigError as exc:
                self.fail(str(exc), param, ctx)
        if seconds < self.minimum:
            self.fail(f"{value!r} is too small (at least {self.minimum:g}s)", param, ctx)
        return seconds


class Fraction(click.ParamType):
    """``10%`` or ``0.1`` → a fraction in (0, 1]."""

    name = "fraction"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "FRACTION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            number = value
        else:
            text = str(value).strip()
            try:
                number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
            except ValueError:
                self.fail(f"{value!r} is not a fraction like 10% or 0.1", param, ctx)
        if not 0 < number <= 1:
            self.fail(f"{value!r} must be more than 0% and at most 100%", param, ctx)
        return number


DURATION = Duration()
FRACTION = Fraction()
