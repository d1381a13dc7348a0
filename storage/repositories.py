"""Repository functions: the only place that writes SQL for the bot's hot paths."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from intake.case import CaseStatus, transition
from intake.checklist import ReceivedDocument, received_from
from storage.tables import (
    Case,
    CaseHistory,
    Contact,
    ConversationRow,
    Document,
    InboundEvent,
    Message,
    OutboxItem,
    Timer,
)

REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"


def _for_update(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"


async def get_or_create_contact(
    session: AsyncSession,
    channel: str,
    external_id: str,
    *,
    display_name: str | None = None,
    locale_hint: str | None = None,
) -> Contact:
    """The contact for this channel identity, created on first contact (race-safe)."""
    query = select(Contact).where(Contact.channel == channel, Contact.external_id == external_id)
    contact = (await session.execute(query)).scalar_one_or_none()
    if contact is not None:
        if display_name and contact.display_name != display_name:
            contact.display_name = display_name
        return contact
    contact = Contact(
        channel=channel, external_id=external_id, display_name=display_name,
        locale_hint=locale_hint,
    )
    try:
        async with session.begin_nested():
            session.add(contact)
    except IntegrityError:
        contact = (await session.execute(query)).scalar_one()
    return contact


async def store_inbound(
    session: AsyncSession, contact: Contact, channel: str, provider_key: str,
    payload: dict[str, Any], now: datetime,
) -> tuple[InboundEvent, bool]:
    """Record a provider event once; a repeated delivery returns the stored one, not new."""
    values = {"channel": channel, "provider_key": provider_key, "contact_id": contact.id,
              "payload": payload, "received_at": now, "attempts": 0}
    # INSERT … ON CONFLICT DO NOTHING: one statement, no savepoint, on both databases.
    dialect_insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    inserted = await session.scalar(
        dialect_insert(InboundEvent).values(**values)
        .on_conflict_do_nothing(index_elements=["channel", "provider_key"])
        .returning(InboundEvent.id)
    )
    query = select(InboundEvent).where(
        InboundEvent.channel == channel, InboundEvent.provider_key == provider_key
    )
    event = (await session.execute(query)).scalar_one()
    if inserted is None:
        return event, False
    contact.last_inbound_at = now
    return event, True


async def lock_contact(session: AsyncSession, contact_id: int) -> Contact | None:
    """Load a contact holding its row lock (PostgreSQL) so its events run one at a time."""
    query = select(Contact).where(Contact.id == contact_id)
    if _for_update(session):
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def next_pending_event(session: AsyncSession, contact_id: int) -> InboundEvent | None:
    """The oldest unprocessed event of a contact."""
    query = (
        select(InboundEvent)
        .where(InboundEvent.contact_id == contact_id, InboundEvent.processed_at.is_(None))
        .order_by(InboundEvent.id)
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def contacts_with_pending_events(session: AsyncSession, limit: int = 100) -> list[int]:
    """Contacts that have unprocessed events (recovery after a crash or restart)."""
    query = (
        select(InboundEvent.contact_id)
        .where(InboundEvent.processed_at.is_(None))
        .group_by(InboundEvent.contact_id)
        .order_by(InboundEvent.contact_id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def load_conversation(session: AsyncSession, contact_id: int) -> ConversationRow | None:
    """The stored engine state of a contact."""
    return await session.get(ConversationRow, contact_id)


def add_message(
    session: AsyncSession, contact: Contact, *, direction: str, author: str, text: str,
    case_id: int | None = None, options: list[dict[str, str]] | None = None,
    multiple: bool = False, attachments: int = 0, coordinator_id: int | None = None,
    now: datetime,
) -> Message:
    """Append a message to the transcript."""
    message = Message(
        contact_id=contact.id, case_id=case_id, direction=direction, author=author, text=text,
        options=options or [], multiple=multiple, attachments=attachments,
        coordinator_id=coordinator_id, created_at=now,
    )
    session.add(message)
    if contact.last_activity_at is None or contact.last_activity_at < now:
        contact.last_activity_at = now
    return message


def add_outbox(
    session: AsyncSession, contact: Contact, message: Message, payload: dict[str, Any],
    now: datetime,
) -> OutboxItem:
    """Queue a message for delivery, in the caller's transaction."""
    item = OutboxItem(
        contact_id=contact.id, message_id=message.id, channel=contact.channel,
        payload=payload, next_attempt_at=now, created_at=now,
    )
    session.add(item)
    return item


async def claim_due_outbox(
    session: AsyncSession, now: datetime, limit: int = 50
) -> list[OutboxItem]:
    """Claim due rows, only the first undelivered one of each contact (per-chat order)."""
    earlier = aliased(OutboxItem)
    blocked = exists().where(
        and_(
            earlier.contact_id == OutboxItem.contact_id,
            earlier.id < OutboxItem.id,
            earlier.status.in_(("pending", "sending")),
        )
    )
    query = (
        select(OutboxItem)
        .where(OutboxItem.status == "pending", OutboxItem.next_attempt_at <= now, ~blocked)
        .order_by(OutboxItem.id)
        .limit(limit)
    )
    if _for_update(session):
        query = query.with_for_update(skip_locked=True, of=OutboxItem)
    items = list((await session.execute(query)).scalars())
    for item in items:
        item.status = "sending"
        item.claimed_at = now
        item.attempts += 1
    return items


async def release_stale_claims(session: AsyncSession, older_than: datetime) -> int:
    """Rows left 'sending' by a crashed worker go back to the queue (at-least-once)."""
    result = await session.execute(
        update(OutboxItem)
        .where(OutboxItem.status == "sending", OutboxItem.claimed_at < older_than)
        .values(status="pending")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def new_reference() -> str:
    """A short case reference families can read out on the phone."""
    return "SO-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))


async def open_case(
    session: AsyncSession, contact: Contact, language: str, now: datetime
) -> Case:
    """Create a case in intake for a contact who just consented."""
    while True:
        reference = new_reference()
        taken = await session.scalar(select(Case.id).where(Case.reference == reference))
        if taken is None:
            break
    case = Case(
        reference=reference, contact_id=contact.id, status=CaseStatus.INTAKE_IN_PROGRESS,
        language=language, answers={}, consent_version=contact.consent_version,
        consent_at=contact.consent_at, created_at=now, updated_at=now,
    )
    session.add(case)
    await session.flush()
    session.add(CaseHistory(case_id=case.id, from_status=None, to_status=case.status,
                            actor="family", at=now))
    return case


def change_status(
    session: AsyncSession, case: Case, target: CaseStatus, actor: str, now: datetime
) -> None:
    """The one way a case changes status: through the domain's transition table."""
    new = transition(CaseStatus(case.status), target)
    session.add(CaseHistory(case_id=case.id, from_status=case.status, to_status=new,
                            actor=actor, at=now))
    case.status = new
    case.updated_at = now


async def cancel_timers(session: AsyncSession, case_id: int, now: datetime,
                        kinds: tuple[str, ...] | None = None) -> None:
    """Cancel the open timers of a case (all, or of some kinds)."""
    query = update(Timer).where(
        Timer.case_id == case_id, Timer.fired_at.is_(None), Timer.cancelled_at.is_(None)
    )
    if kinds is not None:
        query = query.where(Timer.kind.in_(kinds))
    await session.execute(query.values(cancelled_at=now))


async def delete_case_documents(session: AsyncSession, case_id: int) -> list[str]:
    """Remove a case's document rows; returns their storage keys for the file store."""
    rows = list((await session.execute(
        select(Document).where(Document.case_id == case_id))).scalars())
    for row in rows:
        await session.delete(row)
    return [row.storage_key for row in rows]


async def received_documents(
    session: AsyncSession, case_id: int, *, imaging: bool = True
) -> list[ReceivedDocument]:
    """What a case's documents satisfy, for the checklist; DICOM ones with their series' verdict.

    Only DICOM documents need their inspection (the verdict is judged over every instance of
    the case); the others are one row per distinct kind. `imaging=False` skips the verdict
    (DICOM images then satisfy nothing), for a quick look at the other items.
    """
    query = select(Document.kind, Document.is_dicom, Document.valid).where(
        Document.case_id == case_id)
    if imaging:
        query = query.where(Document.is_dicom.is_(False))
    rows: list[tuple[str, bool, bool, dict[str, Any]]] = [
        (kind, bool(is_dicom), bool(valid), {})
        for kind, is_dicom, valid in (await session.execute(query.distinct())).all()]
    if imaging:
        dicom = (await session.execute(
            select(Document.kind, Document.valid, Document.inspection)
            .where(Document.case_id == case_id, Document.is_dicom.is_(True)))).all()
        rows += [(kind, True, bool(valid), info or {}) for kind, valid, info in dicom]
    return received_from(rows)
