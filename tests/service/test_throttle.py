"""Shared counters: every worker sees the same counts, windows restart, names never stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.access.throttle import Throttle, key_hash
from storage.db import Database
from storage.tables import ThrottleCounter

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


async def test_hits_count_up_within_the_window_and_restart_after_it(database: Database) -> None:
    throttle = Throttle(database)

    assert await throttle.hit("upload-bad:203.0.113.7", WINDOW, T0) == 1
    assert await throttle.hit("upload-bad:203.0.113.7", WINDOW, T0 + timedelta(minutes=1)) == 2
    assert await throttle.peek("upload-bad:203.0.113.7", WINDOW, T0 + timedelta(minutes=2)) == 2
    assert await throttle.hit("upload-bad:203.0.113.7", WINDOW, T0 + timedelta(minutes=6)) == 1
    assert await throttle.peek("upload-bad:198.51.100.1", WINDOW, T0) == 0


async def test_two_processes_share_one_count(database: Database, database_url: str) -> None:
    other = Database(database_url)  # another worker's engine on the same database
    try:
        first, second = Throttle(database), Throttle(other)
        await asyncio.gather(*(
            (first if n % 2 else second).hit("chat-new:192.0.2.1", WINDOW, T0)
            for n in range(20)
        ))
        assert await first.peek("chat-new:192.0.2.1", WINDOW, T0) == 20
        assert await second.peek("chat-new:192.0.2.1", WINDOW, T0) == 20
    finally:
        await other.dispose()


async def test_amounts_add_up_and_clear_forgets(database: Database) -> None:
    throttle = Throttle(database)
    await throttle.hit("zip:case:7:2026-12-06", timedelta(days=1), T0, amount=5_000_000_000)
    total = await throttle.hit("zip:case:7:2026-12-06", timedelta(days=1), T0, amount=1)
    assert total == 5_000_000_001

    await throttle.clear("zip:case:7:2026-12-06")

    assert await throttle.peek("zip:case:7:2026-12-06", timedelta(days=1), T0) == 0


async def test_the_database_holds_only_hashes_of_the_names(database: Database) -> None:
    throttle = Throttle(database)
    await throttle.hit("login:coordinator@example.org", WINDOW, T0)

    async with database.sessions() as session:
        keys = (await session.execute(select(ThrottleCounter.key_hash))).scalars().all()

    assert keys == [key_hash("login:coordinator@example.org")]
    assert "example.org" not in keys[0]


async def test_old_counters_are_forgotten(database: Database) -> None:
    throttle = Throttle(database)
    await throttle.hit("a", WINDOW, T0)
    await throttle.hit("b", WINDOW, T0 + timedelta(days=2))

    assert await throttle.forget_older_than(T0 + timedelta(days=1)) == 1
    assert await throttle.peek("b", WINDOW, T0 + timedelta(days=2)) == 1
