"""Server-side inbox sessions: a sign-out, an idle pause or a password change ends them.

The cookie holds a random 256-bit token; the `inbox_sessions` table holds only its SHA-256,
so a database reader cannot sign in with what it finds there. A session ends when the
coordinator signs out (here or everywhere), after `INBOX_IDLE_MINUTES` without activity,
`INBOX_SESSION_HOURS` after sign-in, or when the account's password is changed or the account
deactivated. `last_seen_at` is written at most once a minute, so a busy inbox does not write on
every page.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.tables import Coordinator, InboxSession
from storage.unit_of_work import UnitOfWork

TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 100
TOUCH_EVERY = timedelta(minutes=1)


class EndReason(StrEnum):
    """Why a session ended (stored in `inbox_sessions.end_reason`)."""

    LOGOUT = "logout"
    LOGOUT_ALL = "logout_all"
    IDLE = "idle"
    EXPIRED = "expired"
    PASSWORD = "password"
    DEACTIVATED = "deactivated"


@dataclass(frozen=True)
class Session:
    """A live session: whose it is, and the cookie token it was found by."""

    coordinator_id: int
    token: str
    created_at: datetime


def token_hash(token: str) -> str:
    """What the database stores instead of the session token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def end_all(
    session: AsyncSession, coordinator_id: int, now: datetime, reason: EndReason
) -> int:
    """End every live session of a coordinator in the caller's transaction; how many."""
    result = await session.execute(
        update(InboxSession)
        .where(InboxSession.coordinator_id == coordinator_id, InboxSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason.value)
    )
    return int(getattr(result, "rowcount", 0) or 0)


class SessionStore:
    """Starts, checks and ends inbox sessions in the database (shared by every worker)."""

    def __init__(self, database: Database, *, idle: timedelta, lifetime: timedelta) -> None:
        self.database = database
        self.idle = idle
        self.lifetime = lifetime

    async def start(self, coordinator_id: int, now: datetime) -> str:
        """A new session for a coordinator who just signed in; returns the cookie token."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        async with UnitOfWork(self.database) as uow:
            uow.session.add(InboxSession(
                id_hash=token_hash(token), coordinator_id=coordinator_id, created_at=now,
                last_seen_at=now,
            ))
            await uow.commit()
        return token

    async def check(
        self, token: str | None, now: datetime, *, activity: bool = True
    ) -> tuple[Session, Coordinator] | None:
        """The live session and active account behind a cookie, or None.

        A session found idle, too old or of a deactivated account is ended on the spot.
        `activity=False` (the list's background refresh) does not count as the coordinator
        being there, so an open tab alone never keeps a session alive.
        """
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        digest = token_hash(token)
        async with UnitOfWork(self.database, write=False) as uow:
            found = (await uow.session.execute(
                select(InboxSession, Coordinator)
                .join(Coordinator, Coordinator.id == InboxSession.coordinator_id)
                .where(InboxSession.id_hash == digest)
            )).one_or_none()
        if found is None:
            return None
        row, coordinator = found
        if row.ended_at is not None:
            return None
        reason = None
        if not coordinator.active:
            reason = EndReason.DEACTIVATED
        elif now - row.created_at >= self.lifetime:
            reason = EndReason.EXPIRED
        elif now - row.last_seen_at >= self.idle:
            reason = EndReason.IDLE
        if reason is not None:
            await self._end(digest, now, reason)
            return None
        if activity and now - row.last_seen_at >= TOUCH_EVERY:
            await self._touch(digest, now)
        return Session(coordinator.id, token, row.created_at), coordinator

    async def end(self, token: str, now: datetime, reason: EndReason = EndReason.LOGOUT) -> None:
        """End one session (signing out in this browser)."""
        await self._end(token_hash(token), now, reason)

    async def end_all(self, coordinator_id: int, now: datetime, reason: EndReason) -> int:
        """End every live session of a coordinator (sign out everywhere); how many."""
        async with UnitOfWork(self.database) as uow:
            count = await end_all(uow.session, coordinator_id, now, reason)
            await uow.commit()
        return count

    async def _end(self, digest: str, now: datetime, reason: EndReason) -> None:
        async with UnitOfWork(self.database) as uow:
            await uow.session.execute(
                update(InboxSession)
                .where(InboxSession.id_hash == digest, InboxSession.ended_at.is_(None))
                .values(ended_at=now, end_reason=reason.value)
            )
            await uow.commit()

    async def _touch(self, digest: str, now: datetime) -> None:
        async with UnitOfWork(self.database) as uow:
            await uow.session.execute(
                update(InboxSession)
                .where(InboxSession.id_hash == digest, InboxSession.ended_at.is_(None),
                       InboxSession.last_seen_at < now)
                .values(last_seen_at=now)
            )
            await uow.commit()
