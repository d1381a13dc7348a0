"""The intake handler: runs the conversation engine and applies its events to storage."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import Inbound
from bot.documents.links import issue_link_for_case
from bot.handlers.case_replies import CaseReplies
from bot.i18n.detect import detect_language_async
from bot.i18n.render import Renderer
from bot.journey.letters import letter_prompt, prepare_letter
from bot.journey.opinions import AFTER_OPINION, opinion_link_prompt, reissue_family_link
from bot.journey.quotes import record_answer
from bot.messaging.erasure import erase_case
from bot.messaging.replies import ReplyWriter
from intake import events as ev
from intake.case import CaseStatus
from intake.commands import match_command, match_language_name
from intake.conversation import (
    Context,
    Conversation,
    Outcome,
    Phase,
    UserInput,
    current_prompts,
    handle,
    start,
)
from intake.deadlines import SlaEvent, sla_deadlines
from intake.prompts import Prompt
from intake.records_letter import letter_details
from intake.routing import RouteKind, route
from storage import repositories as repo
from storage.tables import (
    Case,
    Contact,
    ConversationRow,
    InboundEvent,
    Message,
    OutboxItem,
    Timer,
)

IN_INTAKE = (Phase.QUESTIONS, Phase.REVIEW, Phase.EDIT_PICK)
ERASED_PAYLOAD = {"erased": True}


class IntakeHandler:
    """One inbound event in, state and replies out, in the caller's transaction."""

    def __init__(
        self, renderer: Renderer, writer: ReplyWriter, timezone: str, base_url: str = ""
    ) -> None:
        self.renderer = renderer
        self.writer = writer
        self.tz = ZoneInfo(timezone)
        self.base_url = base_url
        self.case_replies = CaseReplies()

    async def handle(
        self, session: AsyncSession, contact: Contact, event: InboundEvent, inbound: Inbound,
        now: datetime,
    ) -> list[str]:
        """Apply one family message: engine, events, replies. Returns the file-store keys
        to delete once the transaction has committed (an erasure)."""
        erased: list[str] = []
        row, case = await repo.load_conversation(session, contact.id)
        ctx = Context(today=now.astimezone(self.tz).date(), translate=self.renderer.text,
                      follow_up_until=await self._follow_up_until(session, case))
        message = UserInput(
            text=inbound.text, choice=inbound.choice, choices=inbound.choices,
            files=len(inbound.attachments),
        )
        if row is None:
            row = ConversationRow(contact_id=contact.id, state={}, updated_at=now)
            session.add(row)
            outcome = start(await self._first_language(contact, inbound))
            if _answers_language_question(inbound):
                outcome = handle(outcome.conversation, message, ctx)
        elif inbound.start and not inbound.text:
            state = Conversation.from_json(row.state)
            outcome = Outcome(state)
            outcome.prompts.extend(current_prompts(state))
        else:
            outcome = handle(Conversation.from_json(row.state), message, ctx)

        state = outcome.conversation
        prompts = list(outcome.prompts)
        for event_ in outcome.events:
            case = await self._apply(session, contact, row, case, event, event_, prompts,
                                     state, now, erased)
        if state.consent_version and state.phase in IN_INTAKE and (
            case is None or case.status != CaseStatus.INTAKE_IN_PROGRESS
        ):
            case = await repo.open_case(session, contact, state.locale, now)
            row.case_id = case.id
        if case is not None and case.status == CaseStatus.INTAKE_IN_PROGRESS:
            case.answers = dict(state.answers)
            case.language = state.locale
            case.updated_at = now
        row.state = state.to_json()
        row.updated_at = now
        contact.locale = state.language
        await self.writer.queue(
            session, contact, prompts, state.locale, now,
            case_id=case.id if case is not None else None,
        )
        return erased

    async def _follow_up_until(self, session: AsyncSession, case: Case | None) -> date | None:
        """The last day (Brussels) of the case's open follow-up period, if there is one."""
        if case is None or case.status not in AFTER_OPINION:
            return None
        ends = await repo.follow_up_ends_at(session, case.id)
        return ends.astimezone(self.tz).date() if ends is not None else None

    async def _first_language(self, contact: Contact, inbound: Inbound) -> str | None:
        """Explicit choice, then the client's language setting, then the text itself; a
        WhatsApp number's country is a weaker hint than the words the family wrote."""
        detected = await detect_language_async(inbound.text) if inbound.text else None
        if contact.locale:
            return contact.locale
        if contact.channel == "whatsapp":
            return detected or contact.locale_hint
        return contact.locale_hint or detected

    async def _apply(
        self, session: AsyncSession, contact: Contact, row: ConversationRow, case: Case | None,
        event: InboundEvent, happened: ev.Event, prompts: list[Prompt], state: Conversation,
        now: datetime, erased: list[str],
    ) -> Case | None:
        if isinstance(happened, ev.ConsentGiven):
            contact.consent_version = happened.version
            contact.consent_at = now
        elif isinstance(happened, ev.ConsentRefused):
            await _forget_contact(session, contact, event)
            return None
        elif isinstance(happened, ev.IntakeCompleted) and case is not None:
            await self._submit(session, case, dict(happened.answers), prompts, state, now)
        elif isinstance(happened, ev.ErasureConfirmed):
            erased += await _erase_contact(session, contact, event, now)
            row.case_id = None
            return None
        elif isinstance(happened, ev.HandoffRequested):
            contact.needs_human = True
            contact.unread += 1
        elif isinstance(happened, ev.MessageForCoordinator):
            contact.unread += 1
            if case is not None and case.status in AFTER_OPINION:
                # A question about the opinion (the follow-up period): flagged until a
                # coordinator marks it handled.
                contact.needs_human = True
        elif isinstance(happened, ev.NewLinkRequested) and case is not None:
            opinion_link = await reissue_family_link(session, case, self.base_url, now)
            if opinion_link is not None:
                prompts.append(opinion_link_prompt(opinion_link))
            else:
                link = await issue_link_for_case(session, case, self.base_url, now)
                prompts.append(self.case_replies.new_link(link, state.locale))
        elif isinstance(happened, ev.QuoteAnswered) and case is not None:
            await record_answer(session, contact, case, happened.accepted, now)
        elif isinstance(happened, ev.RemindersStopped):
            contact.reminders_off = True
        elif isinstance(happened, ev.StatusRequested) and case is not None and (
            case.status != CaseStatus.INTAKE_IN_PROGRESS
        ):
            prompts.insert(0, self.case_replies.status(case))
        elif isinstance(happened, ev.LetterRequested) and case is not None:
            await self._letter(session, contact, case, happened, state, now)
        elif isinstance(happened, ev.PricesRequested):
            prompts.insert(0, self.case_replies.prices(self.renderer, state.locale))
        return case

    async def _letter(
        self, session: AsyncSession, contact: Contact, case: Case, asked: ev.LetterRequested,
        state: Conversation, now: datetime,
    ) -> None:
        """Record the letter and send it: a document where the channel sends files, else
        the link. Queued before the turn's other replies, which return to the questions."""
        details = letter_details(case.answers or {})
        if details is None:
            return
        # The PDF library and its fonts (~20 MiB) load with the first letter, not in every
        # process at start-up.
        from bot.journey.letter_pdf import uncovered

        if uncovered(details[0] + asked.hospital):
            await self.writer.queue(session, contact, [Prompt.say(
                "We cannot prepare the letter: some characters of the patient's name or of "
                "the hospital's name cannot be printed in it. A coordinator can help you "
                "write the letter.")], state.locale, now, case_id=case.id)
            return
        prepared = await prepare_letter(session, case, asked.language, asked.hospital,
                                        self.base_url, now)
        if prepared is None:
            return
        channel = self.writer.channels.get(contact.channel)
        as_document = bool(getattr(channel, "sends_documents", False))
        extra: dict[str, object] = (
            {"document": {"url": prepared.url, "filename": prepared.filename}}
            if as_document else {})
        await self.writer.queue(session, contact, [letter_prompt(prepared, not as_document)],
                                state.locale, now, case_id=case.id, extra=extra)

    async def _submit(
        self, session: AsyncSession, case: Case, answers: dict[str, object],
        prompts: list[Prompt], state: Conversation, now: datetime,
    ) -> None:
        today = now.astimezone(self.tz).date()
        routing = route(answers, today)
        case.answers = answers
        case.submitted_at = now
        case.urgent = routing.urgent
        case.routing = {
            "kind": routing.kind.value,
            "specialties": [s.value for s in routing.specialties],
            "paediatric": routing.paediatric,
            "urgent": routing.urgent,
        }
        repo.change_status(session, case, CaseStatus.AWAITING_DOCUMENTS, "family", now)
        for deadline in sla_deadlines(
            SlaEvent.CASE_SUBMITTED, now, urgent=routing.urgent,
            tumour_board=routing.kind is RouteKind.TUMOUR_BOARD, now=now,
        ):
            session.add(Timer(case_id=case.id, contact_id=case.contact_id,
                              kind=deadline.kind.value, audience=deadline.audience.value,
                              due_at=deadline.due_at, created_at=now))
        link = await issue_link_for_case(session, case, self.base_url, now)
        prompts.extend(self.case_replies.submitted(case, routing, answers, self.renderer,
                                                   state.locale, link))


def _answers_language_question(inbound: Inbound) -> bool:
    if inbound.choice is not None:
        return True
    text = (inbound.text or "").strip()
    return bool(text) and match_command(text) is None and match_language_name(text) is not None


async def _forget_contact(session: AsyncSession, contact: Contact, event: InboundEvent) -> None:
    """Consent refused: keep nothing but the fact that the identity wrote to us."""
    await session.execute(delete(Message).where(Message.contact_id == contact.id))
    await session.execute(
        update(InboundEvent).where(InboundEvent.contact_id == contact.id)
        .values(payload=ERASED_PAYLOAD, message_id=None)
    )
    event.payload = ERASED_PAYLOAD
    contact.display_name = None
    contact.consent_version = None
    contact.consent_at = None


async def _erase_contact(
    session: AsyncSession, contact: Contact, event: InboundEvent, now: datetime
) -> list[str]:
    """The family's right to erasure: cases emptied and marked erased, transcript and files
    deleted. Returns the store keys to delete after the commit."""
    keys: list[str] = []
    cases = list((await session.execute(
        select(Case).where(Case.contact_id == contact.id))).scalars())
    for case in cases:
        keys += await erase_case(session, case, "family", now)
    await session.execute(delete(OutboxItem).where(OutboxItem.contact_id == contact.id))
    await _forget_contact(session, contact, event)
    contact.needs_human = False
    contact.unread = 0
    return keys
