"""``SimpleController``: a fixed loop of actions, read from a small TOML (or JSON) file.

```toml
# login.toml — every user signs in, reads, posts, and loops
think = "1s"                       # default pause between actions
session_gap = "5s"                 # pause between loops (each loop is one session)
loops = 0                          # loops per user; 0 = until the run ends
actions = [
  "POST /api/v4/users/login",
  { action = "GET /api/v4/users/me/teams", think = "300ms" },
  "GET /api/v4/channels/{channel_id}/posts",
]
```
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tracereplay.durations import parse_duration
from tracereplay.errors import ConfigError, InputError
from tracereplay.replay.controllers.base import Step
from tracereplay.replay.controllers.paths import PathChooser
from tracereplay.replay.store import UserStore


@dataclass(frozen=True, kw_only=True)
class Script:
    """A fixed loop: ``(action, think seconds before it)`` pairs, the gap between loops, how many loops."""

    steps: tuple[tuple[str, float], ...]
    session_gap_s: float = 0.0
    loops: int = 0

    @property
    def actions(self) -> list[str]:
        return list(dict.fromkeys(action for action, _ in self.steps))

    @classmethod
    def from_actions(
        cls, actions: Sequence[str], *, think_s: float = 0.0, session_gap_s: float = 0.0, loops: int = 0
    ) -> Script:
        return cls(steps=tuple((a, think_s) for a in actions), session_gap_s=session_gap_s, loops=loops)


def load_script(path: str | Path) -> Script:
    """Read a script file; every problem is reported at once (``ConfigError``) or as ``InputError``."""
    source = Path(path)
    if not source.is_file():
        raise InputError(source, "no such file")
    try:
        text = source.read_text(encoding="utf-8")
        raw = json.loads(text) if source.suffix == ".json" else tomllib.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(source, f"not a valid script ({str(exc).splitlines()[0]})") from None
    problems: list[str] = []
    default_think = _duration(raw.get("think", 0), "think", problems)
    gap = _duration(raw.get("session_gap", 0), "session_gap", problems)
    loops = raw.get("loops", 0)
    if not isinstance(loops, int) or loops < 0:
        problems.append("loops must be a whole number ≥ 0")
        loops = 0
    steps: list[tuple[str, float]] = []
    entries = raw.get("actions")
    if not isinstance(entries, list) or not entries:
        problems.append("actions must be a non-empty list")
        entries = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            steps.append((entry, default_think))
        elif isinstance(entry, dict) and isinstance(entry.get("action"), str):
            steps.append(
                (
                    entry["action"],
                    _duration(entry.get("think", default_think), f"actions[{i}].think", problems),
                )
            )
        else:
            problems.append(f"actions[{i}] must be an action name or {{action = ..., think = ...}}")
    if problems:
        raise ConfigError([f"{source}: {p}" for p in problems])
    return Script(steps=tuple(steps), session_gap_s=gap, loops=loops)


def _duration(value: object, name: str, problems: list[str]) -> float:
    try:
        return parse_duration(value)  # type: ignore[arg-type]
    except (ConfigError, TypeError, AttributeError):
        problems.append(f"{name}: cannot read duration {value!r}")
        return 0.0


class SimpleController:
    """Plays a :class:`Script` in order, loop after loop (each loop a new session); route parameters are
    filled from the user's store (``paths``, with ``rng``)."""

    def __init__(
        self,
        script: Script,
        *,
        user_key: str = "u",
        rng: np.random.Generator | None = None,
        paths: PathChooser | None = None,
    ) -> None:
        self.script = script
        self.user_key = user_key
        self.rng = rng if rng is not None else np.random.default_rng()
        self.paths = paths or PathChooser()
        self._index = 0
        self._loop = 0

    def next_step(self, store: UserStore) -> Step | None:
        steps = self.script.steps
        if self._index == len(steps):
            self._index = 0
            self._loop += 1
        if self.script.loops and self._loop >= self.script.loops:
            return None
        action, think = steps[self._index]
        first = self._index == 0
        self._index += 1
        path = self.paths.path(action, store, self.rng)
        if first:
            wait = self.script.session_gap_s if self._loop else 0.0
            return Step(action, wait_s=wait, session=f"{self.user_key}-s{self._loop}", path=path)
        return Step(action, wait_s=think, path=path)
