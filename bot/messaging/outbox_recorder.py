"""Recording deliveries the moment their provider call returns.

A send that returned but is not yet committed as sent is sent again after a crash. The
recorder keeps that window short: it commits every result that completed while the previous
commit ran (a group commit that never waits for a slower send), and it claims the next due
rows in the same transaction.

Under load the dispatcher's event loop is busy with conversations, and each database round
trip of a recorder running in it waits for a whole turn of that loop; a recording then takes
hundreds of milliseconds, during which every completed send is at risk. On PostgreSQL the
recorder therefore runs in a thread of its own, with its own event loop and connections, so
it answers within milliseconds whatever the main loop is doing. SQLite keeps it in the
main loop: its writers are serialised by the in-process write lock of `storage.db`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from typing import TYPE_CHECKING, Protocol

from bot.channels.base import ChannelError, SendResult
from storage.db import Database
from storage.tables import Contact, OutboxItem

if TYPE_CHECKING:
    from bot.messaging.outbox import OutboxDispatcher

log = logging.getLogger(__name__)

Batch = list[tuple[OutboxItem, SendResult | ChannelError]]
Claimed = tuple[list[OutboxItem], dict[int, Contact]]

RETRY_SECONDS = 0.5


class Recorder(Protocol):
    """Takes completed sends; records them and hands the batch back to the dispatcher."""

    async def start(self) -> None: ...

    def submit(self, item: OutboxItem, result: SendResult | ChannelError) -> None: ...

    async def close(self) -> None: ...


class _Recording:
    """The loop shared by both recorders: take what completed, record it, hand it back."""

    def __init__(self, dispatcher: OutboxDispatcher) -> None:
        self.dispatcher = dispatcher
        self.queue: deque[tuple[OutboxItem, SendResult | ChannelError]] = deque()
        self.closing = False

    def take(self) -> Batch:
        batch: Batch = []
        while self.queue:
            batch.append(self.queue.popleft())
        return batch

    async def record(self, db: Database, batch: Batch) -> Claimed | None:
        """The claimed rows, or None when the batch is to be tried again."""
        try:
            return await self.dispatcher.record_batch(
                db, batch, claim=self.dispatcher.claim_room(len(batch)))
        except asyncio.CancelledError:
            self.queue.extendleft(reversed(batch))
            raise
        except Exception:
            # Kept for the next attempt; should the process die first, the rows stay
            # 'sending' and the stale-claim release sends them again (at least once).
            log.exception("outbox record failed")
            self.queue.extendleft(reversed(batch))
            await asyncio.sleep(RETRY_SECONDS)
            return None


class LoopRecorder(_Recording):
    """In the dispatcher's own event loop (SQLite, and the default)."""

    def __init__(self, dispatcher: OutboxDispatcher) -> None:
        super().__init__(dispatcher)
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._serve(), name="outbox-recorder")

    def submit(self, item: OutboxItem, result: SendResult | ChannelError) -> None:
        self.queue.append((item, result))
        self._arrived.set()

    async def _serve(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            batch = self.take()
            if not batch:
                continue
            claimed = await self.record(self.dispatcher.db, batch)
            if claimed is None:
                self._arrived.set()
                continue
            self.dispatcher.recorded(batch, claimed)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class ThreadRecorder(_Recording):
    """In a thread with its own event loop and database connections (PostgreSQL)."""

    def __init__(self, dispatcher: OutboxDispatcher) -> None:
        super().__init__(dispatcher)
        self._main: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-recorder", daemon=True)

    async def start(self) -> None:
        self._main = asyncio.get_running_loop()
        self._thread.start()
        await asyncio.to_thread(self._ready.wait, 10)

    def submit(self, item: OutboxItem, result: SendResult | ChannelError) -> None:
        self.queue.append((item, result))
        self._poke()

    def _poke(self) -> None:
        if self._loop is not None and self._arrived is not None:
            with contextlib.suppress(RuntimeError):  # its loop already ended
                self._loop.call_soon_threadsafe(self._arrived.set)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._arrived = asyncio.Event()
        db = Database(self.dispatcher.db.url)
        self._ready.set()
        try:
            while True:
                await self._arrived.wait()
                self._arrived.clear()
                batch = self.take()
                if not batch:
                    if self.closing:
                        return
                    continue
                claimed = await self.record(db, batch)
                if claimed is None:
                    if self.closing:
                        return  # the rows stay 'sending': the stale-claim release has them
                    self._arrived.set()
                    continue
                assert self._main is not None
                try:
                    self._main.call_soon_threadsafe(self.dispatcher.recorded, batch, claimed)
                except RuntimeError:  # the main loop is gone: the process is ending
                    return
        finally:
            await db.dispose()

    async def close(self) -> None:
        """Record what is queued, then end the thread."""
        self.closing = True
        self._poke()
        await asyncio.to_thread(self._thread.join, 15)
