"""Repository functions: the only place that writes SQL for the bot's hot paths."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from intake.case import CaseStatus, transition
from intake.checklist import ReceivedDocument, received_from
from intake.deadlines import SlaKind
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


_LOCK_CONTACT = select(Contact).where(Contact.id == bindparam("contact_id"))
_PENDING_EVENTS = (
    select(InboundEvent)
    .where(InboundEvent.contact_id == bindparam("contact_id"),
           InboundEvent.processed_at.is_(None))
    .order_by(InboundEvent.id)
    .limit(2)
)
_CONVERSATION = (
    select(ConversationRow, Case)
    .outerjoin(Case, Case.id == ConversationRow.case_id)
    .where(ConversationRow.contact_id == bindparam("contact_id"))
)


async def lock_contact(session: AsyncSession, contact_id: int) -> Contact | None:
    """Load a contact holding its row lock (PostgreSQL) so its events run one at a time."""
    query = _LOCK_CONTACT.with_for_update() if _for_update(session) else _LOCK_CONTACT
    return (await session.execute(query, {"contact_id": contact_id})).scalar_one_or_none()


async def next_pending_event(
    session: AsyncSession, contact_id: int
) -> tuple[InboundEvent | None, bool]:
    """The oldest unprocessed event of a contact, and whether another one waits after it."""
    events = list((await session.execute(
        _PENDING_EVENTS, {"contact_id": contact_id})).scalars())
    return (events[0] if events else None), len(events) > 1


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


async def load_conversation(
    session: AsyncSession, contact_id: int
) -> tuple[ConversationRow | None, Case | None]:
    """The stored engine state of a contact and the case it is filling, in one round trip."""
    row = (await session.execute(_CONVERSATION, {"contact_id": contact_id})).first()
    return (None, None) if row is None else (row[0], row[1])


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


_INSERT_MESSAGE = insert(Message).returning(Message)
_INSERT_OUTBOX = insert(OutboxItem.__table__)


async def queue_reply(
    session: AsyncSession, contact: Contact, *, author: str, text: str,
    case_id: int | None = None, options: list[dict[str, str]] | None = None,
    multiple: bool = False, coordinator_id: int | None = None, payload: dict[str, Any],
    now: datetime,
) -> Message:
    """An outgoing transcript line and its delivery row: two prepared INSERTs, no flush of
    the unit of work (the reply writer's hot path)."""
    if contact.id is None:
        await session.flush()
    message = (await session.scalars(_INSERT_MESSAGE, [{
        "contact_id": contact.id, "case_id": case_id, "direction": "out", "author": author,
        "text": text, "options": options or [], "multiple": multiple, "attachments": 0,
        "coordinator_id": coordinator_id, "created_at": now,
    }])).one()
    await session.execute(_INSERT_OUTBOX, {
        "contact_id": contact.id, "message_id": message.id, "channel": contact.channel,
        "payload": payload, "status": "pending", "attempts": 0, "next_attempt_at": now,
        "created_at": now,
    })
    if contact.last_activity_at is None or contact.last_activity_at < now:
        contact.last_activity_at = now  # the inbox list's order
    return message


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
    due = (
        select(OutboxItem.id)
        .where(OutboxItem.status == "pending", OutboxItem.next_attempt_at <= now, ~blocked)
        .order_by(OutboxItem.id)
        .limit(limit)
    )
    if _for_update(session):
        due = due.with_for_update(skip_locked=True, of=OutboxItem)
    # Select and mark in one statement: one round trip, and no flush of loaded rows.
    claim = (
        update(OutboxItem)
        .where(OutboxItem.id.in_(due.scalar_subquery()))
        .values(status="sending", claimed_at=now, attempts=OutboxItem.attempts + 1)
        .returning(OutboxItem)
        .execution_options(synchronize_session=False)
    )
    return sorted((await session.scalars(claim)).all(), key=lambda item: item.id)


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


async def follow_up_ends_at(session: AsyncSession, case_id: int) -> datetime | None:
    """When the case's follow-up period ends (its pending end timer), if it is open."""
    return (await session.execute(
        select(Timer.due_at).where(
            Timer.case_id == case_id, Timer.kind == SlaKind.FOLLOW_UP_ENDS.value,
            Timer.fired_at.is_(None), Timer.cancelled_at.is_(None))
        .order_by(Timer.due_at.desc()).limit(1))).scalar_one_or_none()


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
