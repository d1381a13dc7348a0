"""SQLite's one-writer lock, with a fast lane for work that must not queue behind the rest."""

from __future__ import annotations

import asyncio
from collections import deque


class WriteLock:
    """An asyncio lock whose urgent waiters go before the others.

    Recording a delivery that already reached the family is urgent: until it is committed, a
    crash sends it again. Behind a queue of conversation turns, each holding the lock for a
    whole turn, it would wait hundreds of milliseconds under load.
    """

    def __init__(self) -> None:
        self._locked = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        """Whether some unit of work holds the lock."""
        return self._locked

    async def acquire(self, urgent: bool = False) -> bool:
        """Wait for the lock; urgent callers are served first, each lane in order."""
        if not self._locked and not self._urgent and not self._normal:
            self._locked = True
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane = self._urgent if urgent else self._normal
        lane.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed over just as we were cancelled: pass it on
            else:
                lane.remove(waiter)
            raise
        return True

    def release(self) -> None:
        """Hand the lock to the next waiter (urgent first), or free it."""
        for lane in (self._urgent, self._normal):
            while lane:
                waiter = lane.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the lock stays held: it changes hands
                    return
        self._locked = False
