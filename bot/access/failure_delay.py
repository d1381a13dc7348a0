"""Failures slow down further attempts, by a capped exponential delay that every worker sees.

Used for the inbox sign-in: a few free failures per counter within a window, then each further
failure makes the next attempt wait `base`, doubling up to `cap`. The cap keeps it a slow-down,
never a lock-out: once the delay after the last failure has passed, one more attempt is always
looked at. The counts live in the database (`bot.access.throttle.Throttle`), so a guesser cannot
spread attempts over several workers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from bot.access.throttle import Throttle


class FailureDelay:
    """Delays per named counter; a mapping of counter name to free failures is one attempt."""

    def __init__(
        self, throttle: Throttle, *, window: timedelta = timedelta(minutes=15),
        base: timedelta = timedelta(seconds=30), cap: timedelta = timedelta(minutes=5),
    ) -> None:
        self.throttle = throttle
        self.window = window
        self.base = base
        self.cap = cap

    def delay(self, failures: int, free: int) -> timedelta:
        """How long after the last failure the next attempt waits."""
        excess = failures - free
        if excess < 0:
            return timedelta(0)
        return min(self.base * (1 << min(excess, 16)), self.cap)

    async def wait(self, counters: Mapping[str, int], now: datetime) -> float:
        """Seconds before another attempt is looked at; 0 when free to try."""
        wait = 0.0
        for name, free in counters.items():
            counter = await self.throttle.read(name, self.window, now)
            if counter is None or counter.count < free:
                continue
            until = counter.last_hit + self.delay(counter.count, free)
            wait = max(wait, (until - now).total_seconds())
        return wait

    async def failed(self, counters: Mapping[str, int], now: datetime) -> None:
        """Count a failed attempt against every counter."""
        for name in counters:
            await self.throttle.hit(name, self.window, now)

    async def clear(self, name: str) -> None:
        """Forget one counter's failures (a correct password clears its account's)."""
        await self.throttle.clear(name)
