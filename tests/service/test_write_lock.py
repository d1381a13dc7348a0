"""SQLite's writer lock: one holder at a time, urgent waiters first, nothing lost on cancel."""

from __future__ import annotations

import asyncio

from storage.write_lock import WriteLock


async def test_an_urgent_waiter_goes_before_the_writers_already_waiting() -> None:
    lock, order = WriteLock(), []
    await lock.acquire()

    async def writer(name: str, urgent: bool) -> None:
        await lock.acquire(urgent=urgent)
        order.append(name)
        await asyncio.sleep(0)
        lock.release()

    tasks = [asyncio.create_task(writer("turn-1", False)),
             asyncio.create_task(writer("turn-2", False))]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(writer("record", True)))
    await asyncio.sleep(0)
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["record", "turn-1", "turn-2"]
    assert not lock.locked()


async def test_a_cancelled_waiter_neither_holds_nor_blocks_the_lock() -> None:
    lock = WriteLock()
    await lock.acquire()
    gone = asyncio.create_task(lock.acquire())
    later = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    lock.release()
    await asyncio.wait_for(later, 1)
    assert lock.locked()
    lock.release()
    assert not lock.locked()


async def test_a_waiter_cancelled_as_the_lock_is_handed_to_it_passes_it_on() -> None:
    lock = WriteLock()
    await lock.acquire()
    first = asyncio.create_task(lock.acquire())
    second = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    lock.release()  # handed to `first`...
    first.cancel()  # ...which is cancelled before it runs
    await asyncio.wait_for(second, 1)
    assert first.cancelled()
    lock.release()
    assert not lock.locked()
