"""Counters shared by every worker, in the database: how often something happened lately.

Used for failed upload tokens and sign-ins per client address, new conversations and messages
per address, and ZIP expansion per case and day. A counter is a fixed window: the first hit
after the window has passed starts a new one. One statement (`INSERT … ON CONFLICT DO UPDATE …
RETURNING`) counts and reads, so concurrent workers never lose a hit. Names are hashed before
they reach the database (they hold client and e-mail addresses).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from bot.clock import Clock
from storage.db import Database
from storage.tables import ThrottleCounter
from storage.unit_of_work import UnitOfWork


def key_hash(name: str) -> str:
    """What the database stores instead of the counter's name."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Counter:
    """A counter's value in its current window and when it was last hit."""

    count: int
    window_start: datetime
    last_hit: datetime


class Throttle:
    """Fixed-window counters in the `throttle_counters` table."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def hit(
        self, name: str, window: timedelta, now: datetime, amount: int = 1
    ) -> int:
        """Add `amount` to the counter and return its value in the current window."""
        table = ThrottleCounter.__table__
        dialect = sqlite if self.database.is_sqlite else postgresql
        values = {
            "key_hash": key_hash(name), "window_start": now, "count": amount, "updated_at": now,
        }
        statement = dialect.insert(table).values(**values)
        expired = table.c.window_start <= now - window
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.key_hash],
            set_={
                "count": case((expired, amount), else_=table.c.count + amount),
                "window_start": case((expired, now), else_=table.c.window_start),
                "updated_at": now,
            },
        ).returning(table.c.count)
        async with UnitOfWork(self.database) as uow:
            count = (await uow.session.execute(statement)).scalar_one()
            await uow.commit()
        return int(count)

    async def peek(self, name: str, window: timedelta, now: datetime) -> int:
        """The counter's value in the current window, without counting."""
        async with UnitOfWork(self.database, write=False) as uow:
            row = (
                await uow.session.execute(
                    select(ThrottleCounter.count, ThrottleCounter.window_start).where(
                        ThrottleCounter.key_hash == key_hash(name)
                    )
                )
            ).first()
        if row is None or row.window_start <= now - window:
            return 0
        return int(row.count)

    async def read(self, name: str, window: timedelta, now: datetime) -> Counter | None:
        """The counter with its times (delays grow from the last hit), None when idle."""
        async with UnitOfWork(self.database, write=False) as uow:
            row = (
                await uow.session.execute(
                    select(ThrottleCounter).where(ThrottleCounter.key_hash == key_hash(name))
                )
            ).scalar_one_or_none()
        if row is None or row.window_start <= now - window:
            return None
        return Counter(int(row.count), row.window_start, row.updated_at)

    async def clear(self, name: str) -> None:
        """Forget a counter (a correct password clears its account's failures)."""
        async with UnitOfWork(self.database) as uow:
            await uow.session.execute(
                delete(ThrottleCounter).where(ThrottleCounter.key_hash == key_hash(name))
            )
            await uow.commit()

    async def forget_older_than(self, cutoff: datetime) -> int:
        """Drop counters untouched since `cutoff` (a daily job keeps the table small)."""
        async with UnitOfWork(self.database) as uow:
            result = await uow.session.execute(
                delete(ThrottleCounter).where(ThrottleCounter.updated_at < cutoff)
            )
            await uow.commit()
        return int(getattr(result, "rowcount", 0) or 0)


# Longer than any window a counter is used with (the longest is a day), so no live count is lost.
COUNTER_RETENTION = timedelta(days=2)


async def forget_old_counters(database: Database, clock: Clock) -> int:
    """The daily job: drop counters nobody has hit for two days."""
    return await Throttle(database).forget_older_than(clock() - COUNTER_RETENTION)
