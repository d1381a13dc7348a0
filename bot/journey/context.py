"""What every step of the case's second half shares: the locked conversation, its language."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import repositories as repo
from storage.db import Database
from storage.tables import AuditEntry, Case, Contact, ConversationRow
from storage.unit_of_work import UnitOfWork


class JourneyError(Exception):
    """A step that cannot be done; `code` names the message the coordinator sees."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Locked:
    """A conversation loaded under the contact's lock, with its current case."""

    uow: UnitOfWork
    contact: Contact
    row: ConversationRow | None
    case: Case


@asynccontextmanager
async def locked_case(db: Database, contact_id: int) -> AsyncIterator[Locked]:
    """The same per-contact lock as the inbound processor, so a family's answer arriving at
    the same moment cannot overwrite the conversation state written here."""
    async with db.contact_lock(contact_id), UnitOfWork(db) as uow:
        contact = await repo.lock_contact(uow.session, contact_id)
        if contact is None:
            raise JourneyError("not_found")
        row = await uow.session.get(ConversationRow, contact_id)
        case_id = row.case_id if row is not None else None
        if case_id is None:
            case_id = await uow.session.scalar(
                select(func.max(Case.id)).where(Case.contact_id == contact_id))
        case = await uow.session.get(Case, case_id) if case_id is not None else None
        if case is None:
            raise JourneyError("no_case")
        yield Locked(uow, contact, row, case)


def family_language(contact: Contact, case: Case) -> str:
    """The language the family speaks with us now (it may have switched since the intake)."""
    return contact.locale or case.language


def audit(
    session: AsyncSession, coordinator_id: int | None, action: str, now: datetime, *,
    case_id: int | None = None, contact_id: int | None = None, **ids: Any,
) -> None:
    """An audit entry as the inbox writes them (ids only); the family's own steps carry no
    coordinator. The inbox's helper is not imported: the handlers must not load the inbox."""
    session.add(AuditEntry(coordinator_id=coordinator_id, action=action, case_id=case_id,
                           contact_id=contact_id, detail=ids, at=now))
