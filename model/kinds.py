"""Kinds of actions, the level of think-time back-off between an action's own law and its class's."""

from __future__ import annotations


def action_kind(name: str) -> str:
    """The kind of an action for think back-off: ``"METHOD .ext"`` when its route's last segment has a
    file extension (a static resource, a page file), ``"METHOD /"`` for other routes, ``""`` for an
    action that is no HTTP route (an analytics event)."""
    method, _, route = name.partition(" ")
    if not route.startswith("/"):
        return ""
    stem, dot, ext = route.rsplit("/", 1)[-1].rpartition(".")
    if dot and stem and ext.isalnum() and len(ext) <= 5:
        return f"{method} .{ext.lower()}"
    return f"{method} /"
