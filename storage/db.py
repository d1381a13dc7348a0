"""The database handle: engine, session factory and dialect-specific behaviour."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.write_lock import WriteLock


class Database:
    """One engine per process; PostgreSQL gets row locks, SQLite an in-process lock."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        options: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"timeout": 30}
        else:
            # No pre-ping: it costs a round trip per checkout on the hot path; a dropped
            # connection fails one unit of work, which every caller already retries.
            options.update(pool_size=10, max_overflow=10, pool_recycle=1800)
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._contact_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        # SQLite allows one writer: serialising writers here avoids "database is locked".
        self.write_lock = WriteLock() if self.is_sqlite else None

    def contact_lock(self, contact_id: int) -> asyncio.Lock:
        """Per-contact ordering inside this process (the SQLite fallback for row locks)."""
        return self._contact_locks[contact_id]

    async def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


__all__ = ["AsyncSession", "Database"]
