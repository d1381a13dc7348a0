"""Upload links are capabilities: a long random token, stored only as its SHA-256.

Whoever holds the token may add files to one case until the link expires or is revoked; the
token itself is never stored, so a database leak hands out no upload rights. A lookup goes by
the token's hash, so comparing secrets never depends on how many leading characters match.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from intake.case import CaseStatus
from intake.deadlines import SlaEvent, cancelled_kinds, sla_deadlines, upload_link_expires_at
from storage import repositories as repo
from storage.tables import Case, Timer, UploadLink

TOKEN_BYTES = 32
# token_urlsafe(32) gives 43 characters; anything else is refused before touching the database.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


class LinkProblem(StrEnum):
    """Why a token does not open an upload page."""

    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"


def token_hash(token: str) -> str:
    """The only form of a token the database ever sees."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def url(base_url: str, token: str) -> str:
    """The link to send to the family."""
    return f"{base_url.rstrip('/')}/upload/{token}"


async def revoke(session: AsyncSession, case_id: int, now: datetime) -> int:
    """Revoke every live link of a case; returns how many were live."""
    result = await session.execute(
        update(UploadLink)
        .where(UploadLink.case_id == case_id, UploadLink.revoked_at.is_(None),
               UploadLink.expires_at > now)
        .values(revoked_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def issue(
    session: AsyncSession, case_id: int, now: datetime, ttl: timedelta | None = None
) -> str:
    """Create a new link for a case (revoking the older ones) and return its token.

    Without `ttl` the link lives as long as the SLA policy says (14 Brussels calendar days),
    so it expires exactly when the "link expired" reminder fires.
    """
    await revoke(session, case_id, now)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = upload_link_expires_at(now) if ttl is None else now + ttl
    session.add(UploadLink(case_id=case_id, token_hash=token_hash(token), expires_at=expires_at,
                           created_at=now))
    await session.flush()
    return token


async def resolve(session: AsyncSession, token: str, now: datetime) -> UploadLink | LinkProblem:
    """The link a token opens, or why it opens nothing."""
    if not TOKEN_SHAPE.fullmatch(token):
        return LinkProblem.UNKNOWN
    query = select(UploadLink).where(UploadLink.token_hash == token_hash(token))
    link = (await session.execute(query)).scalar_one_or_none()
    if link is None:
        return LinkProblem.UNKNOWN
    if link.revoked_at is not None:
        return LinkProblem.REVOKED
    if link.expires_at <= now:
        return LinkProblem.EXPIRED
    return link


async def has_live_link(session: AsyncSession, case_id: int, now: datetime) -> bool:
    """Whether the family already holds a working link for this case."""
    query = select(UploadLink.id).where(
        UploadLink.case_id == case_id, UploadLink.revoked_at.is_(None),
        UploadLink.expires_at > now,
    ).limit(1)
    return (await session.execute(query)).first() is not None


async def issue_link_for_case(
    session: AsyncSession, case: Case, base_url: str, now: datetime
) -> str:
    """Issue the case's upload link with its reminders, in the caller's transaction; the URL.

    Reminders of an earlier link are cancelled; new ones (documents reminders, link expiring,
    link expired) are only set while the case is waiting for documents.
    """
    token = await issue(session, case.id, now)
    kinds = tuple(kind.value for kind in cancelled_kinds(SlaEvent.UPLOAD_LINK_ISSUED))
    await repo.cancel_timers(session, case.id, now, kinds)
    if case.status == CaseStatus.AWAITING_DOCUMENTS:
        for deadline in sla_deadlines(SlaEvent.UPLOAD_LINK_ISSUED, now, now=now):
            session.add(Timer(case_id=case.id, contact_id=case.contact_id,
                              kind=deadline.kind.value, audience=deadline.audience.value,
                              due_at=deadline.due_at, created_at=now))
    return url(base_url, token)
