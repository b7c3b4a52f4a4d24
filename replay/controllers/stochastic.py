"""``StochasticController``: samples a user's class, sessions, actions and waits from a behaviour model.

The model is consumed through :class:`SessionSource`, the small protocol below (what
``tracereplay.model.BehaviourModel`` provides); nothing else of the model stage is imported.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np

from tracereplay.replay.controllers.base import Step
from tracereplay.replay.controllers.paths import PathChooser
from tracereplay.replay.store import UserStore


@runtime_checkable
class SessionSource(Protocol):
    """What the replay runtime needs from a behaviour model."""

    @property
    def actions(self) -> list[str]: ...

    def sample_user(self, rng: np.random.Generator) -> tuple[int, int]:
        """(class index, number of sessions) of a new user."""
        ...

    def sample_session(self, class_index: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
        """(actions, think times in seconds between them — one fewer than actions)."""
        ...

    def sample_session_gap(
        self, class_index: int, rng: np.random.Generator, after: float | None = None
    ) -> float:
        """Seconds between two sessions of one user; ``after`` (epoch s) is when the earlier one ended.

        ``after`` is optional to implement: a source without it gets gaps drawn without a time."""
        ...

    def arrival_rate(self, when: datetime) -> float:
        """Sessions per second fitted for that time of day (/week)."""
        ...

    @property
    def mean_arrival_rate(self) -> float: ...

    def path_examples(self, action: str) -> list[str]:
        """Concrete paths seen for ``action`` (may be empty)."""
        ...


class StochasticController:
    """A user drawn from the model: ``sessions`` sessions (``None``: as the model samples), then done.

    ``start_s`` (epoch seconds) places the user on the model's timeline: each session then ends its
    think times after it began, and the gap to the next is drawn for that moment
    (``sample_session_gap(..., after=)``), the rule ``simulate`` uses, so later sessions keep the
    model's hours of day. Server time is not known here and not counted (it is small beside gaps).
    """

    def __init__(
        self,
        source: SessionSource,
        rng: np.random.Generator,
        *,
        user_key: str = "u",
        sessions: int | None = None,
        start_s: float | None = None,
        max_gap_s: float | None = None,
        paths: PathChooser | None = None,
    ) -> None:
        self.source = source
        self.rng = rng
        self.paths = paths or PathChooser(source.path_examples)
        self.user_key = user_key
        self.class_index, sampled = source.sample_user(rng)
        self.sessions = max(1, int(sessions if sessions is not None else sampled))
        self._session = -1
        self._actions: list[str] = []
        self._think: list[float] = []  # Python floats: read once per step
        self._position = 0
        self._timeline_s = start_s  # model time of the current session's start
        self._last_think_s = 0.0
        self.max_gap_s = max_gap_s  # the cap on a gap between sessions (closed runs keep users busy)

    def next_step(self, store: UserStore) -> Step | None:
        if self._position < len(self._actions):
            i = self._position
            self._position += 1
            action = self._actions[i]
            path = self.paths.path(action, store, self.rng)
            return Step(action, wait_s=self._think[i - 1], path=path)
        return self._next_session(store)

    def _next_session(self, store: UserStore) -> Step | None:
        while self._session + 1 < self.sessions:
            self._session += 1
            actions, think = self.source.sample_session(self.class_index, self.rng)
            if not actions:
                continue
            # Python floats: read once per step, summed without numpy (µs per call on a few values)
            self._actions, self._think, self._position = list(actions), np.asarray(think, float).tolist(), 1
            gap = self._gap() if self._session else 0.0
            self._last_think_s = math.fsum(self._think)
            return Step(
                actions[0],
                wait_s=float(gap),
                session=f"{self.user_key}-s{self._session}",
                path=self.paths.path(actions[0], store, self.rng),
            )
        return None

    def _gap(self) -> float:
        if self._timeline_s is None:
            return self._capped(self.source.sample_session_gap(self.class_index, self.rng))
        end = self._timeline_s + self._last_think_s
        gap = self._capped(self.source.sample_session_gap(self.class_index, self.rng, after=end))
        self._timeline_s = end + gap
        return gap

    def _capped(self, gap: float) -> float:
        return gap if self.max_gap_s is None else min(gap, self.max_gap_s)
