"""The mind of a simulated user: what to do next, and when.

A ``UserController`` is pure decision: it reads the user's store (read-only) and returns the next
:class:`Step`, or ``None`` when the user is done. It never touches the network or the clock, so every
controller is tested without running anything. The runtime (``replay/runtime.py``) turns steps into waits
and actions and derives each request's intended start from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tracereplay.replay.store import UserStore


@dataclass(frozen=True, slots=True)
class Step:
    """One action to perform.

    ``wait_s`` is the pause after the previous action ended (think time, or the gap between sessions) —
    scaled by the run's ``think_scale``. ``at_s``, when set, is instead an absolute time in seconds from the
    user's start (trace replay: the recorded timing). ``session`` names a new session starting with this
    step. ``path`` is a concrete path to prefer when the store cannot fill the route's parameters.
    """

    action: str
    wait_s: float = 0.0
    at_s: float | None = None
    session: str | None = None
    path: str | None = None


class UserController(Protocol):
    """Decides a user's next step from what the user knows."""

    def next_step(self, store: UserStore) -> Step | None:
        """The next action, or None when this user has nothing more to do."""
        ...
