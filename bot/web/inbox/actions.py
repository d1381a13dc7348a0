"""What coordinators do from the inbox, each in one transaction with its audit entry.

Anything that touches a conversation takes the same per-contact lock as the inbound processor
(the in-process lock, plus the contact's row lock on PostgreSQL), so a coordinator taking over
and a family message arriving at the same moment cannot overwrite each other's state.
Status changes go through `repositories.change_status`, the only way a status changes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import Channel
from bot.clock import Clock
from bot.handlers.case_replies import CaseReplies
from bot.journey.quotes import quote_answer
from bot.messaging.replies import ReplyWriter
from intake.case import CaseStatus, InvalidTransition
from intake.conversation import Conversation, current_prompts
from intake.deadlines import Audience, SlaEvent, SlaKind, cancelled_kinds, sla_deadlines
from intake.quotes import review_may_start
from intake.routing import RouteKind
from storage import repositories as repo
from storage.db import Database
from storage.tables import AuditEntry, Case, Contact, ConversationRow, Document, Timer
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

DEFAULT_MAX_TEXT = 1600

# Status changes that start or end deadlines (SlaEvent), as the SLA clock defines them.
STATUS_EVENTS: Mapping[CaseStatus, SlaEvent] = {
    CaseStatus.FILE_COMPLETE: SlaEvent.FILE_COMPLETE,
    CaseStatus.OPINION_DELIVERED: SlaEvent.OPINION_DELIVERED,
    CaseStatus.CLOSED: SlaEvent.CASE_ENDED,
    CaseStatus.WITHDRAWN: SlaEvent.CASE_ENDED,
}


class ActionError(Exception):
    """An action that cannot be done; `code` names the message the coordinator sees."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Target:
    """The conversation an action is about, loaded and locked."""

    contact: Contact
    row: ConversationRow | None
    case: Case | None


class InboxActions:
    """The inbox's write side; `on_committed` wakes the outbox dispatcher."""

    def __init__(
        self, db: Database, writer: ReplyWriter, channels: Mapping[str, Channel], clock: Clock,
        on_committed: Callable[[], None] = lambda: None, *, quote_required: bool = True,
    ) -> None:
        self.db = db
        self.quote_required = quote_required
        self.writer = writer
        self.channels = channels
        self.clock = clock
        self.on_committed = on_committed
        self.case_replies = CaseReplies()

    @asynccontextmanager
    async def _conversation(self, contact_id: int) -> AsyncIterator[tuple[UnitOfWork, Target]]:
        async with self.db.contact_lock(contact_id), UnitOfWork(self.db) as uow:
            contact = await repo.lock_contact(uow.session, contact_id)
            if contact is None:
                raise ActionError("not_found")
            row = await uow.session.get(ConversationRow, contact_id)
            case = await _current_case(uow.session, contact_id, row)
            yield uow, Target(contact, row, case)

    async def opened(self, coordinator_id: int, contact_id: int) -> int | None:
        """A coordinator opens the conversation: audited, and its messages count as read.

        Returns how many messages were unread (None: no such contact). Call it before reading
        the transcript, so that nothing marked read here goes unshown.
        """
        async with UnitOfWork(self.db) as uow:
            contact = await repo.lock_contact(uow.session, contact_id)
            if contact is None:
                return None
            unread = contact.unread
            case = await _current_case(uow.session, contact_id, None)
            contact.unread = 0
            audit(uow.session, coordinator_id, "view", self.clock(), contact_id=contact_id,
                  case_id=case.id if case else None)
            await uow.commit()
        return unread

    async def reply(self, coordinator_id: int, contact_id: int, text: str) -> int:
        """Queue a coordinator's message to the family's own channel; returns its id."""
        text = text.strip()
        if not text:
            raise ActionError("empty_reply")
        now = self.clock()
        async with self._conversation(contact_id) as (uow, target):
            contact, case = target.contact, target.case
            channel = self.channels.get(contact.channel)
            if len(text) > getattr(channel, "max_text_length", DEFAULT_MAX_TEXT):
                raise ActionError("too_long")
            if case is not None and case.status == CaseStatus.ERASED:
                raise ActionError("erased")
            lang = contact.locale or contact.locale_hint or (case.language if case else "en")
            message = await self.writer.queue_text(
                uow.session, contact, text, lang, now, author="coordinator",
                case_id=case.id if case else None, coordinator_id=coordinator_id,
            )
            contact.unread = 0
            if case is not None:
                await _resolve(uow.session, case.id, cancelled_kinds(SlaEvent.CASE_ACKNOWLEDGED),
                               now)
            audit(uow.session, coordinator_id, "reply", now, contact_id=contact_id,
                  case_id=case.id if case else None, message_id=message.id)
            await uow.commit()
        self.on_committed()
        log.info("inbox reply queued", extra={"contact_id": contact_id,
                                              "coordinator_id": coordinator_id})
        return message.id

    async def assign(self, coordinator_id: int, contact_id: int, *, to_me: bool) -> None:
        """Take the case (an acknowledgement of it) or let it go."""
        now = self.clock()
        async with self._conversation(contact_id) as (uow, target):
            case = target.case
            if case is None:
                raise ActionError("no_case")
            case.assigned_to = coordinator_id if to_me else None
            case.updated_at = now
            if to_me:
                await _resolve(uow.session, case.id, cancelled_kinds(SlaEvent.CASE_ACKNOWLEDGED),
                               now)
            audit(uow.session, coordinator_id, "assign" if to_me else "unassign", now,
                  contact_id=contact_id, case_id=case.id,
                  assigned_to=coordinator_id if to_me else None)
            await uow.commit()

    async def change_status(
        self, coordinator_id: int, contact_id: int, target_status: str, *,
        expected: str | None, tell_family: bool,
    ) -> None:
        """Move the case along the status machine, start or end its deadlines, tell the family."""
        try:
            goal = CaseStatus(target_status)
        except ValueError:
            raise ActionError("invalid_transition") from None
        if goal is CaseStatus.ERASED:
            raise ActionError("invalid_transition")
        now = self.clock()
        async with self._conversation(contact_id) as (uow, target):
            session, case, contact = uow.session, target.case, target.contact
            if case is None:
                raise ActionError("no_case")
            await session.refresh(case, with_for_update=not self.db.is_sqlite)
            if expected is not None and case.status != expected:
                raise ActionError("stale_status")
            before = case.status
            if not review_may_start(goal, await quote_answer(session, case.id),
                                    required=self.quote_required,
                                    paid_elsewhere=case.paid_elsewhere_at is not None):
                raise ActionError("quote_not_accepted")
            try:
                repo.change_status(session, case, goal, f"coordinator:{coordinator_id}", now)
            except InvalidTransition:
                raise ActionError("invalid_transition") from None
            await self._deadlines(session, case, goal, now)
            if tell_family and contact.blocked_at is None:
                await self.writer.queue(
                    session, contact, [self.case_replies.status(case)],
                    contact.locale or case.language, now, case_id=case.id,
                )
            audit(session, coordinator_id, "status", now, contact_id=contact_id,
                  case_id=case.id, **{"from": before, "to": goal.value})
            await uow.commit()
        self.on_committed()

    async def _deadlines(
        self, session: AsyncSession, case: Case, goal: CaseStatus, now: datetime
    ) -> None:
        event = STATUS_EVENTS.get(goal)
        if goal is CaseStatus.FILE_COMPLETE:
            case.file_complete_at = now
        if goal in (CaseStatus.CLOSED, CaseStatus.WITHDRAWN):
            case.closed_at = now
        if event is None:
            return
        await _resolve(session, case.id, cancelled_kinds(event), now)
        tumour_board = (case.routing or {}).get("kind") == RouteKind.TUMOUR_BOARD.value
        for deadline in sla_deadlines(event, now, urgent=case.urgent,
                                      tumour_board=tumour_board, now=now):
            session.add(Timer(case_id=case.id, contact_id=case.contact_id,
                              kind=deadline.kind.value, audience=deadline.audience.value,
                              due_at=deadline.due_at, created_at=now))

    async def take_over(self, coordinator_id: int, contact_id: int) -> None:
        """A person answers from now on: the bot stays silent until handed back."""
        now = self.clock()
        async with self._conversation(contact_id) as (uow, target):
            if target.row is None:
                raise ActionError("no_conversation")
            target.row.state = {**target.row.state, "handoff": True}
            target.row.updated_at = now
            target.contact.needs_human = True
            audit(uow.session, coordinator_id, "take_over", now, contact_id=contact_id,
                  case_id=target.case.id if target.case else None)
            await uow.commit()

    async def hand_back(self, coordinator_id: int, contact_id: int) -> int:
        """The bot resumes and asks its current question again; returns how many it sent."""
        now = self.clock()
        async with self._conversation(contact_id) as (uow, target):
            row, contact = target.row, target.contact
            if row is None:
                raise ActionError("no_conversation")
            state = {**row.state, "handoff": False}
            row.state = state
            row.updated_at = now
            contact.needs_human = False
            conversation = Conversation.from_json(state)
            prompts = current_prompts(conversation)
            if prompts and contact.blocked_at is None:
                await self.writer.queue(
                    uow.session, contact, prompts, contact.locale or conversation.locale, now,
                    case_id=row.case_id,
                )
            audit(uow.session, coordinator_id, "hand_back", now, contact_id=contact_id,
                  case_id=target.case.id if target.case else None)
            await uow.commit()
        self.on_committed()
        return len(prompts)

    async def mark_handled(self, coordinator_id: int, contact_id: int) -> None:
        """Clear the "needs a person" flag (a failed delivery seen to) without a handoff."""
        now = self.clock()
        async with self._conversation(contact_id) as (uow, target):
            if target.row is not None and target.row.state.get("handoff"):
                raise ActionError("still_handed_off")
            target.contact.needs_human = False
            audit(uow.session, coordinator_id, "handled", now, contact_id=contact_id,
                  case_id=target.case.id if target.case else None)
            await uow.commit()

    async def download(self, coordinator_id: int, document_id: int) -> Document | None:
        """Record a download before any byte leaves; returns the document's row."""
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            document = await uow.session.get(Document, document_id)
            if document is None:
                return None
            case = await uow.session.get(Case, document.case_id)
            audit(uow.session, coordinator_id, "download", now, case_id=document.case_id,
                  contact_id=case.contact_id if case else None, document_id=document_id)
            await uow.commit()
        return document

    async def signed_in(self, coordinator_id: int, *, out: bool = False) -> None:
        """Sign-ins and sign-outs are audited too."""
        async with UnitOfWork(self.db) as uow:
            audit(uow.session, coordinator_id, "logout" if out else "login", self.clock())
            await uow.commit()


def audit(
    session: AsyncSession, coordinator_id: int | None, action: str, now: datetime, *,
    case_id: int | None = None, contact_id: int | None = None, **ids: Any,
) -> None:
    """Write an audit entry; `ids` must be ids or status keys, never clinical text."""
    session.add(AuditEntry(coordinator_id=coordinator_id, action=action, case_id=case_id,
                           contact_id=contact_id, detail=ids, at=now))


async def _current_case(
    session: AsyncSession, contact_id: int, row: ConversationRow | None
) -> Case | None:
    """The conversation's own case, else the contact's latest (as the list shows it)."""
    if row is None:
        row = await session.get(ConversationRow, contact_id)
    case_id = row.case_id if row is not None else None
    if case_id is None:
        case_id = await session.scalar(
            select(func.max(Case.id)).where(Case.contact_id == contact_id)
        )
    return await session.get(Case, case_id) if case_id is not None else None


async def _resolve(
    session: AsyncSession, case_id: int, kinds: frozenset[SlaKind], now: datetime
) -> None:
    """Cancel pending timers of these kinds and mark fired coordinator alerts resolved."""
    if not kinds:
        return
    await session.execute(
        update(Timer)
        .where(Timer.case_id == case_id, Timer.kind.in_([k.value for k in kinds]),
               Timer.cancelled_at.is_(None),
               or_(Timer.fired_at.is_(None), Timer.audience == Audience.COORDINATOR.value))
        .values(cancelled_at=now)
    )
