"""The generic HTTP action: ``"METHOD /route/{param}"`` becomes a request to the target.

Path parameters are filled from the user's store (ids it created or received, by parameter name), else from
concrete paths seen for that action in the model or trace (``path_examples``): :meth:`HttpRoute.fill`,
which the user's controller calls when it chooses the step (``replay/controllers/paths.py``). When neither
knows a value the action cannot be sent and is recorded as a ``protocol`` error.

After the answer, ids in a JSON body are remembered for later actions (:func:`harvest`): ``"*_id"`` keys
under their own name, and ``"id"`` under the resource the route names (``/channels/...`` → ``channel_id``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracereplay.replay.actions.paths import join_parts, template_parts
from tracereplay.replay.store import MutableUserStore, UserStore

_PARAM = re.compile(r"\{([^{}/]+)\}")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
#: At most this many objects of one response are looked at for ids (keeps big list answers cheap).
HARVEST_LIMIT = 64


@dataclass(frozen=True, slots=True)
class HttpRoute:
    """An action name parsed as an HTTP route."""

    method: str
    route: str
    params: tuple[str, ...]
    resource: str | None  # the parameter name an object's "id" stands for in this route's answers

    def fill(self, store: UserStore, rng: np.random.Generator, examples: list[str]) -> str | None:
        """A concrete path for this route, or None when a parameter has no known value."""
        if not self.params:
            return self.route
        values: dict[str, str] = {}
        # the most specific parameter (the last) first, then the values it was seen with
        for name in reversed(self.params):
            value = values.get(name) or store.pick(name, rng)
            if value is None:
                break
            values[name] = value
            for other, linked in store.related(name, value).items():
                values.setdefault(other, linked)
        else:
            # ids from answers go out escaped (``!``, ``#``, ``/`` …); every parameter has its value, so
            # fill_path's check of the names is not needed on this hot path
            literals, names = template_parts(self.route)
            return join_parts(literals, names, values)
        if examples:
            return examples[int(rng.integers(len(examples)))]
        return None


@functools.cache  # a run has a few dozen action names, parsed once each for every user and controller
def parse_action(action: str) -> HttpRoute | None:
    """``"GET /api/v4/users/{user_id}"`` → its method, route and parameters; None if not HTTP."""
    method, _, route = action.partition(" ")
    if method not in _METHODS or not route.startswith("/"):
        return None
    params = tuple(_PARAM.findall(route))
    return HttpRoute(method, route, params, _resource_of(route))


def _resource_of(route: str) -> str | None:
    """The last plural static segment, singular + ``_id``: ``/teams/{team_id}/channels`` → ``channel_id``."""
    for segment in reversed(route.split("?")[0].strip("/").split("/")):
        if segment.startswith("{") or len(segment) < 3:
            continue
        if segment.endswith("ies"):
            return segment[:-3] + "y_id"
        if segment.endswith("s") and not segment.endswith("ss"):
            return segment[:-1] + "_id"
    return None


def harvest(body: Any, resource: str | None, store: MutableUserStore) -> None:
    """Remember ids found in a decoded JSON answer (see module docstring)."""
    seen = 0
    stack = [body]
    while stack and seen < HARVEST_LIMIT:
        item = stack.pop()
        if isinstance(item, dict):
            seen += 1
            # one pass over the object (a request's answer, on the hot path): "*_id" values are remembered
            # as met, the object's own "id" last, with them as its related values
            foreign: dict[str, str] = {}
            own = None
            for key, value in item.items():
                if isinstance(value, str):
                    if not value:
                        continue
                    if key.endswith("_id"):
                        foreign[key] = value
                        store.remember(key, value)
                    elif key == "id":
                        own = value
                    elif key == "token":
                        store.set_token(value)
                elif isinstance(value, dict | list):
                    stack.append(value)
            if own is not None and resource:
                store.remember(resource, own, foreign)
        elif isinstance(item, list):
            stack.extend(item[:HARVEST_LIMIT])
