"""Upload links are capabilities: a long random token, stored only as its SHA-256.

Whoever holds the token may add files to one case until the link expires or is revoked; the
`upload_links` table keeps only its hash, and a lookup goes by the hash, so comparing secrets
never depends on how many leading characters match.

The link is also part of the replies that carry it (the transcript in `messages`, the
delivery row in `outbox`). There the token is sealed (`seal_links`, AES-GCM under a key
derived from the file store's master key, bound to the contact) before anything is written,
and opened only on the way to the family (`open_links`: the outbox dispatcher, the family's
own web chat transcript). A sealed token does not have a token's shape, so it opens no page,
and the inbox's masking hides it like a token. A database dump alone hands out no upload
right.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar, cast

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from intake.case import CaseStatus
from intake.deadlines import SlaEvent, cancelled_kinds, sla_deadlines, upload_link_expires_at
from storage import repositories as repo
from storage.db import Database
from storage.files import FileCorrupted, Sealer
from storage.tables import Case, Message, OutboxItem, Timer, UploadLink
from storage.unit_of_work import UnitOfWork

Row = TypeVar("Row")

TOKEN_BYTES = 32
# token_urlsafe(32) gives 43 characters; anything else is refused before touching the database.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


# In a reply's text: a live token (43 characters) or its sealed form ("s" + 95 characters:
# nonce, 43 sealed bytes, tag in unpadded base64url).
_LIVE_IN_TEXT = re.compile(r"(/upload/)([A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])")
_SEALED_IN_TEXT = re.compile(r"(/upload/)s([A-Za-z0-9_-]{95})(?![A-Za-z0-9_-])")
MASK = "\u2026"


def _context(contact_id: int) -> bytes:
    return f"upload-link:{contact_id}".encode()


def seal_links(text: str, sealer: Sealer, contact_id: int) -> str:
    """The text to store: every upload token in it sealed for this contact."""

    def seal(match: re.Match[str]) -> str:
        sealed = sealer.seal(match[2].encode("ascii"), _context(contact_id))
        return match[1] + "s" + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    return _LIVE_IN_TEXT.sub(seal, text)


def open_links(text: str, sealer: Sealer, contact_id: int) -> str:
    """The text as the family reads it: sealed tokens opened (masked if they do not open)."""

    def open_(match: re.Match[str]) -> str:
        try:
            sealed = base64.urlsafe_b64decode(match[2] + "=")
            token = sealer.open(sealed, _context(contact_id)).decode("ascii")
        except (binascii.Error, ValueError, FileCorrupted):
            return match[1] + MASK
        return match[1] + token

    return _SEALED_IN_TEXT.sub(open_, text)


async def seal_links_at_rest(db: Database, sealer: Sealer, now: datetime) -> int:
    """Start-up: seal the tokens of replies written before sealing existed; idempotent.

    Links live 14 days, so only younger replies are read. Returns how many were sealed.
    """
    async with UnitOfWork(db) as uow:
        count = await seal_stored_links(uow.session, sealer, now - timedelta(days=15))
        if count:
            await uow.commit()
    return count


async def seal_stored_links(session: AsyncSession, sealer: Sealer, since: datetime) -> int:
    """Seal the live tokens of outgoing replies written since `since`, in the caller's
    transaction; returns how many messages changed."""
    messages = (await session.execute(
        select(Message).where(Message.direction == "out", Message.created_at >= since,
                              Message.text.contains("/upload/"))
    )).scalars()
    sealed: dict[int, int] = {}
    for message in messages:
        text = seal_links(message.text, sealer, message.contact_id)
        if text != message.text:
            message.text = text
            sealed[message.id] = message.contact_id
    if sealed:
        items = (await session.execute(
            select(OutboxItem).where(OutboxItem.message_id.in_(sealed)))).scalars()
        for item in items:
            text = str(item.payload.get("text", ""))
            item.payload = {**item.payload, "text": seal_links(text, sealer, item.contact_id)}
    return len(sealed)


class LinkProblem(StrEnum):
    """Why a token opens nothing."""

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


async def find_by_token(session: AsyncSession, model: type[Row], token: str) -> Row | None:
    """The row of a capability link (upload, opinion, calendar, letter) whose stored hash the
    token matches; None for a malformed or unknown token."""
    if not TOKEN_SHAPE.fullmatch(token):
        return None
    column = model.token_hash  # type: ignore[attr-defined]
    return (await session.execute(
        select(model).where(column == token_hash(token)))).scalar_one_or_none()


async def resolve_link(session: AsyncSession, model: type[Row], token: str,
                       now: datetime) -> Row | LinkProblem:
    """The row a capability link opens, or why it opens nothing (unknown, revoked, expired)."""
    link: Any = await find_by_token(session, model, token)
    if link is None:
        return LinkProblem.UNKNOWN
    if getattr(link, "revoked_at", None) is not None:
        return LinkProblem.REVOKED
    if link.expires_at <= now:
        return LinkProblem.EXPIRED
    return cast(Row, link)


async def resolve(session: AsyncSession, token: str, now: datetime) -> UploadLink | LinkProblem:
    """The upload link a token opens, or why it opens nothing."""
    return await resolve_link(session, UploadLink, token, now)


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
