"""``--max-rps``: a pacing limiter, the safety cap on requests per second of one worker.

Requests wait for their slot; their intended start does not move, so throttling shows in the corrected
latency instead of being hidden.
"""

from __future__ import annotations

import asyncio
import time


class RateLimiter:
    """Spaces requests at least ``1 / rate`` seconds apart (catching up at most 50 ms of unused capacity)."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._next = time.monotonic()
        self._burst = 0.05  # seconds of unused capacity that may be caught up at once

    async def wait(self) -> None:
        now = time.monotonic()
        slot = max(self._next, now - self._burst)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)
