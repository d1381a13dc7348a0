"""An async unit of work: everything in it commits together, or nothing does."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database


class UnitOfWork:
    """Rolls back unless `commit()` was called; on SQLite it also holds the writer lock."""

    session: AsyncSession

    def __init__(self, db: Database, *, write: bool = True, urgent: bool = False) -> None:
        self.db = db
        self._write = write
        self._urgent = urgent  # SQLite: ahead of the other writers waiting (`WriteLock`)
        self._committed = False
        self._locked = False

    async def __aenter__(self) -> UnitOfWork:
        if self._write and self.db.write_lock is not None:
            await self.db.write_lock.acquire(urgent=self._urgent)
            self._locked = True
        self.session = self.db.sessions()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None:
                await self.session.rollback()
            # close() ends any open transaction without committing it, and, unlike
            # rollback(), leaves loaded objects readable for the caller.
            await self.session.close()
        finally:
            if self._locked and self.db.write_lock is not None:
                self.db.write_lock.release()

    async def commit(self) -> None:
        """Make the work durable."""
        await self.session.commit()
        self._committed = True
