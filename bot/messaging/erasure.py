"""Erasing one case: the family's right to erasure and the retention purge share it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.documents.inspection import purge_case_uploads
from bot.documents.links import revoke
from bot.journey.opinion_links import forget_case_journey
from intake.case import CaseStatus
from storage import repositories as repo
from storage.tables import Case, Message


async def erase_case(
    session: AsyncSession, case: Case, actor: str, now: datetime
) -> list[str]:
    """Empty a case and mark it erased: answers, routing, transcript, uploads, documents,
    live links, opinions, doctor e-mails, quotes and pending timers. Returns the file-store
    keys to delete once the transaction has committed (files go only when the rows that name
    them are gone)."""
    keys = await purge_case_uploads(session, case.id)
    keys += await forget_case_journey(session, case)
    await repo.delete_case_documents(session, case.id)
    await revoke(session, case.id, now)
    await repo.cancel_timers(session, case.id, now)
    await session.execute(delete(Message).where(Message.case_id == case.id))
    if case.status != CaseStatus.ERASED:
        repo.change_status(session, case, CaseStatus.ERASED, actor, now)
    case.answers = {}
    case.routing = None
    case.closed_at = case.closed_at or now
    return keys
