"""Makes simulated users: identity, own random generator, store, and their controller.

Each user's store comes from the action pack's ``new_store(user_key)`` (``ActionPack.new_store``; an empty
``MemStore`` unless the pack brings its own), so the ``User`` depends on the ``MutableUserStore`` Protocol
only.

The users of a worker share one ``numpy.random.Generator``, seeded from the run's seed and the worker's
number (a generator per user costs 50–100 µs to create — more than a request — and at thousands of
arrivals a second that is the difference between keeping the schedule and falling behind).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np

from tracereplay.replay.controllers.base import UserController
from tracereplay.replay.events import RequestHook
from tracereplay.replay.limiter import RateLimiter
from tracereplay.replay.transports.base import Transport
from tracereplay.replay.user import ActionTable, User
from tracereplay.replay.websocket import WebSockets

#: Builds a user's controller from its key and generator.
ControllerFactory = Callable[[str, np.random.Generator], UserController]


class UserFactory:
    """Numbered users for one worker: ``w<worker>-u<n>``."""

    def __init__(
        self,
        *,
        controllers: ControllerFactory,
        transport: Transport,
        hook: RequestHook,
        table: ActionTable,
        worker: int = 0,
        seed: int | None = None,
        limiter: RateLimiter | None = None,
        sockets: WebSockets | None = None,
    ) -> None:
        self.controllers = controllers
        self.transport = transport
        self.hook = hook
        self.table = table
        self.worker = worker
        self.limiter = limiter
        self.sockets = sockets
        self.rng = np.random.default_rng([entropy(seed), worker])
        self.made = 0

    def new_user(
        self, key: str | None = None, *, controller: bool = True
    ) -> tuple[User, UserController | None]:
        """A fresh user with a fresh store (and its controller, unless the caller brings its own)."""
        number = self.made
        self.made += 1
        key = key or f"w{self.worker}-u{number}"
        rng = self.rng
        user = User(
            key,
            store=self.table.pack.new_store(key),
            transport=self.transport,
            hook=self.hook,
            table=self.table,
            rng=rng,
            limiter=self.limiter,
            sockets=self.sockets,
        )
        return user, self.controllers(key, rng) if controller else None


def entropy(seed: int | None) -> int:
    """The run's seed as the root of every worker's generators (a fresh one when None)."""
    return cast(int, np.random.SeedSequence(seed).entropy)  # an int for an int or None seed
