"""CLI verbs of this stage. Registered by :mod:`tracereplay.cli`."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    """Add this module's verbs to ``cli``."""
