"""The written opinion: stored encrypted, announced on the family's channel, every download
audited. A corrected opinion replaces the previous one and revokes its links; "new link" in
the chat re-issues the family's link."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.documents.links import LinkProblem
from bot.i18n.render import isolate
from bot.journey.context import JourneyError, audit, family_language, locked_case
from bot.journey.doctor import DoctorMail
from bot.journey.opinion_links import (
    Audience,
    current_opinion,
    issue_link,
    opinion_url,
    reissue_family_link,
    resolve,
    revoke_links,
)
from bot.messaging.replies import ReplyWriter
from intake.case import CaseStatus
from intake.deadlines import SlaEvent, cancelled_kinds, sla_deadlines
from intake.prompts import Prompt, Text
from intake.routing import RouteKind
from storage import repositories as repo
from storage.db import Database
from storage.files import StoredFile
from storage.tables import Case, Opinion, OpinionLink, Timer
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

FIRST_DELIVERY = frozenset({CaseStatus.IN_REVIEW_SPECIALIST, CaseStatus.IN_REVIEW_TUMOUR_BOARD})
AFTER_OPINION = frozenset({CaseStatus.OPINION_DELIVERED, CaseStatus.VIDEO_CONSULTATION,
                           CaseStatus.FOLLOW_UP})
CORRECTION = AFTER_OPINION
MAX_NOTE = 1000


def opinion_link_prompt(url: str) -> Prompt:
    """The family's new opinion link (the previous one no longer works)."""
    return Prompt(Text.of(
        "Here is your new personal link to the written opinion (valid for 30 days; the "
        "previous one no longer works):\n{link}", link=url))


async def start_deadlines(session: AsyncSession, case: Case, event: SlaEvent,
                          now: datetime) -> None:
    """Cancel the timers an event ends and add the ones it starts (as the inbox does)."""
    await repo.cancel_timers(session, case.id, now,
                             tuple(kind.value for kind in cancelled_kinds(event)))
    board = (case.routing or {}).get("kind") == RouteKind.TUMOUR_BOARD.value
    for deadline in sla_deadlines(event, now, urgent=case.urgent, tumour_board=board, now=now):
        session.add(Timer(case_id=case.id, contact_id=case.contact_id,
                          kind=deadline.kind.value, audience=deadline.audience.value,
                          due_at=deadline.due_at, created_at=now))


class OpinionDesk:
    """Delivers opinions and lets the family (or the doctor) download them."""

    def __init__(self, db: Database, writer: ReplyWriter, doctor: DoctorMail, clock: Clock,
                 base_url: str, on_committed: Callable[[], None]) -> None:
        self.db = db
        self.writer = writer
        self.doctor = doctor
        self.clock = clock
        self.base_url = base_url
        self.on_committed = on_committed

    async def deliver(
        self, coordinator_id: int, contact_id: int, stored: StoredFile, note: str
    ) -> tuple[int, str]:
        """Record a stored opinion, move the case, tell the family, e-mail the doctor if the
        family agreed. Returns the opinion's id and what happened with the doctor."""
        now = self.clock()
        note = note.strip()
        if len(note) > MAX_NOTE:
            raise JourneyError("note_too_long")
        async with locked_case(self.db, contact_id) as found:
            session, case, contact = found.uow.session, found.case, found.contact
            status = CaseStatus(case.status)
            if status not in FIRST_DELIVERY | CORRECTION:
                raise JourneyError("opinion_not_now")
            previous = await current_opinion(session, case.id)
            corrected = previous is not None
            if previous is not None:
                previous.replaced_at = now
                await revoke_links(session, case.id, now)
            opinion = Opinion(case_id=case.id, storage_key=stored.key, size=stored.size,
                              sha256=stored.sha256, coordinator_id=coordinator_id,
                              created_at=now)
            session.add(opinion)
            await session.flush()
            if status in FIRST_DELIVERY:
                repo.change_status(session, case, CaseStatus.OPINION_DELIVERED,
                                   f"coordinator:{coordinator_id}", now)
                await start_deadlines(session, case, SlaEvent.OPINION_DELIVERED, now)
            url = opinion_url(self.base_url, await issue_link(session, opinion, Audience.FAMILY,
                                                              now))
            lang = family_language(contact, case)
            prompts = [self._announcement(case, url, corrected, lang)]
            if note:
                prompts.append(Prompt(Text.of("A note from your coordinator:\n{note}",
                                              note=note)))
            if contact.blocked_at is None:
                await self.writer.queue(session, contact, prompts, lang, now, case_id=case.id)
            doctor = await self.doctor.queue_opinion(session, case, opinion, coordinator_id, now)
            audit(session, coordinator_id, "opinion_sent", now, case_id=case.id,
                  contact_id=contact_id, opinion_id=opinion.id, corrected=corrected,
                  doctor=doctor)
            await found.uow.commit()
        self.on_committed()
        self.doctor.wake()
        log.info("opinion delivered", extra={"case_id": case.id, "opinion_id": opinion.id})
        return opinion.id, doctor

    def _announcement(self, case: Case, url: str, corrected: bool, lang: str) -> Prompt:
        reference = isolate(case.reference, lang)
        if corrected:
            return Prompt(Text.of(
                "A corrected version of the written opinion for your request {reference} is "
                "ready. The earlier link no longer works; here is your new personal link "
                "(valid for 30 days):\n{link}", reference=reference, link=url))
        return Prompt(Text.of(
            "The written opinion for your request {reference} is ready. Download it with "
            "your personal link (valid for 30 days; write \u201cnew link\u201d to get a new "
            "one):\n{link}", reference=reference, link=url))

    async def reissue(self, coordinator_id: int, contact_id: int) -> None:
        """A coordinator sends the family a fresh link (the old one stops working)."""
        now = self.clock()
        async with locked_case(self.db, contact_id) as found:
            session, case, contact = found.uow.session, found.case, found.contact
            url = await reissue_family_link(session, case, self.base_url, now)
            if url is None:
                raise JourneyError("no_opinion")
            await self.writer.queue(session, contact, [opinion_link_prompt(url)],
                                    family_language(contact, case), now, case_id=case.id)
            audit(session, coordinator_id, "opinion_link_reissued", now, case_id=case.id,
                  contact_id=contact_id)
            await found.uow.commit()
        self.on_committed()

    async def open_download(self, token: str) -> tuple[Opinion, OpinionLink] | LinkProblem:
        """Record a download before any byte leaves: counted on the link and audited."""
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            found = await resolve(uow.session, token, now)
            if isinstance(found, LinkProblem):
                return found
            opinion = await uow.session.get(Opinion, found.opinion_id)
            case = await uow.session.get(Case, found.case_id)
            if opinion is None or case is None or case.status == CaseStatus.ERASED:
                return LinkProblem.REVOKED
            found.first_opened_at = found.first_opened_at or now
            found.last_opened_at = now
            found.downloads += 1
            audit(uow.session, None, "opinion_download", now, case_id=case.id,
                  contact_id=case.contact_id, opinion_id=opinion.id, link_id=found.id,
                  audience=found.audience)
            await uow.commit()
        return opinion, found
