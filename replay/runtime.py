"""Turns a controller's steps into waits and actions for one user, and keeps the crowd of running users.

The intended start of each action comes from the schedule: the previous action's end plus the (scaled)
think time, or the recorded offset in trace replay, or the arrival time for a session's first action. If the
event loop wakes late, or a cap delays the start, the difference shows in ``latency_corrected_ms``.

Stopping is graceful: users in think time are cancelled at once, users inside an action finish it (the
request in flight completes and is recorded) and then stop.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

from tracereplay.replay.controllers.base import UserController
from tracereplay.replay.user import Halted, User

_now = time.monotonic


class UserState(enum.Enum):
    STARTING = "starting"
    THINKING = "thinking"
    ACTING = "acting"
    DONE = "done"


@dataclass(frozen=True, kw_only=True, slots=True)
class Pacing:
    """How steps become times: ``think_scale`` multiplies every wait (0 runs flat out)."""

    think_scale: float = 1.0


class UserRunner:
    """Runs one user with its controller until the controller is done or the runner is stopped."""

    __slots__ = ("controller", "on_done", "on_session", "origin", "state", "stopping", "task", "user")

    def __init__(
        self,
        user: User,
        controller: UserController,
        *,
        origin: float,
        on_done: Callable[[UserRunner], None] | None = None,
        on_session: Callable[[], None] | None = None,
    ) -> None:
        self.user = user
        self.controller = controller
        self.origin = origin  # monotonic time of the user's intended start
        self.on_done = on_done
        self.on_session = on_session  # called as each session's first action starts
        self.state = UserState.STARTING
        self.stopping = False
        self.task: asyncio.Task | None = None

    def start(self, pacing: Pacing) -> asyncio.Task:
        self.task = asyncio.get_running_loop().create_task(self._run(pacing))
        # a done-callback, not the coroutine's `finally`: a task cancelled before its first step (a user
        # removed right after it was added) never runs its body, and would stay counted as active
        self.task.add_done_callback(self._finished)
        return self.task

    def _finished(self, _task: asyncio.Task) -> None:
        self.state = UserState.DONE
        self.user.close_websockets()  # a user's connections end with it
        if self.on_done is not None:
            self.on_done(self)

    def stop(self) -> None:
        """Ask the user to stop: at once when waiting, after the action in flight otherwise."""
        self.stopping = True
        self.user.halted = True
        if self.task is not None and self.state in (UserState.THINKING, UserState.STARTING):
            self.task.cancel()

    async def _run(self, pacing: Pacing) -> None:
        user, controller, scale = self.user, self.controller, pacing.think_scale
        try:
            delay = self.origin - _now()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.stopping:
                return
            self.state = UserState.ACTING
            await user.start()
            last_end = self.origin
            first = True
            while not self.stopping:
                step = controller.next_step(user.store)
                if step is None:
                    return
                if step.session is not None:
                    user.session = step.session
                if step.at_s is not None:
                    intended = self.origin + step.at_s
                elif first:
                    intended = self.origin + step.wait_s * scale
                else:
                    intended = last_end + step.wait_s * scale
                first = False
                delay = intended - _now()
                if delay > 0:
                    self.state = UserState.THINKING
                    await asyncio.sleep(delay)
                    if self.stopping:
                        return
                self.state = UserState.ACTING
                if step.session is not None and self.on_session is not None:
                    self.on_session()  # counted as it starts: a session stopped in its gap never began
                if not await user.perform(step.action, intended, step.path):
                    await asyncio.sleep(0)  # nothing was sent, so nothing awaited: let the others run
                last_end = _now()
        except Halted:
            pass  # stopped while waiting for a --max-rps slot: nothing was sent
        except asyncio.CancelledError:
            if self.state is UserState.ACTING:
                raise  # cancelled in flight: a hard stop, let it propagate
        finally:
            self.state = UserState.DONE


class Crowd:
    """The users running in one worker: start, stop some, stop all, count.

    ``started`` counts users launched; ``sessions_started`` sessions whose first action began — the one
    meaning of "sessions started" in every workload (a closed user loops several, an open arrival is one).
    """

    def __init__(self, pacing: Pacing) -> None:
        self.pacing = pacing
        self.runners: set[UserRunner] = set()
        self.started = 0
        self.sessions_started = 0
        self._on_exit: list[Callable[[UserRunner | None], None]] = []

    def on_exit(self, callback: Callable[[UserRunner | None], None]) -> None:
        """Call ``callback(runner)`` whenever a user finishes (done, removed or stopped)."""
        self._on_exit.append(callback)

    @property
    def active(self) -> int:
        return len(self.runners)

    def launch(self, user: User, controller: UserController, origin: float) -> UserRunner:
        runner = UserRunner(
            user, controller, origin=origin, on_done=self._finished, on_session=self._session_started
        )
        self.runners.add(runner)
        self.started += 1
        runner.start(self.pacing)
        return runner

    def remove(self, n: int) -> int:
        """Stop ``n`` users (the newest first); return how many were asked to stop."""
        candidates = [r for r in self.runners if not r.stopping]
        candidates.sort(key=lambda r: r.origin, reverse=True)
        for runner in candidates[:n]:
            runner.stop()
        return min(n, len(candidates))

    async def stop_all(self, grace_s: float) -> None:
        """Stop every user; wait up to ``grace_s`` for actions in flight, then cancel what is left."""
        for runner in list(self.runners):
            runner.stop()
        tasks = [r.task for r in self.runners if r.task is not None and not r.task.done()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)

    def notify_idle(self) -> None:
        """Tell the exit callbacks that nobody is running (``runner`` is None): e.g. an empty trace."""
        for callback in self._on_exit:
            callback(None)

    def _session_started(self) -> None:
        self.sessions_started += 1

    def _finished(self, runner: UserRunner) -> None:
        self.runners.discard(runner)
        for callback in self._on_exit:
            callback(runner)
