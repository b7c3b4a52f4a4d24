"""Controllers choose concrete paths from what the user knows: the state-dependent half of a step.

A controller reads its user's store (read-only, ``UserStore``) when it decides the next step; for an HTTP
action with path parameters (``"GET /api/v4/channels/{channel_id}/posts"``) that decision includes *which*
channel: :class:`PathChooser` fills the parameters from the store's values (those remembered together, for
several parameters), else from example paths seen for the action (the model's ``path_examples``, a trace's
recorded path), else gives None and the user records the action as not sendable. The ``User`` then sends
the step's path as it is; it decides nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tracereplay.replay.actions.generic import HttpRoute, parse_action
from tracereplay.replay.store import UserStore

#: Example paths for an action (``model.path_examples``), possibly empty.
Examples = Callable[[str], list[str]]


class PathChooser:
    """Fills an action's route from a user's store; one per worker, shared by its controllers.

    Routes are parsed once per name and example lists kept per action, so a step costs a lookup or two.
    """

    def __init__(self, examples: Examples | None = None) -> None:
        self._examples_of = examples
        self._examples: dict[str, list[str]] = {}

    def path(
        self, action: str, store: UserStore, rng: np.random.Generator, recorded: str | None = None
    ) -> str | None:
        """The path to send for ``action``: its route filled from ``store``, else ``recorded`` (a trace's
        own path), else one of the action's examples; None for an action that is not ``"METHOD /route"`` or
        whose parameters nothing can fill."""
        route = self.route(action)
        if route is None:
            return None
        return route.fill(store, rng, [recorded] if recorded else self.examples(action))

    def route(self, action: str) -> HttpRoute | None:
        return parse_action(action)  # parsed once per name (cached)

    def examples(self, action: str) -> list[str]:
        try:
            return self._examples[action]
        except KeyError:
            found = list(self._examples_of(action)) if self._examples_of else []
            self._examples[action] = found
            return found
