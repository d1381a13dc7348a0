"""The confirmed quote: sent from the inbox, answered by the family on its own channel."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.i18n.render import Renderer, isolate
from bot.journey.context import JourneyError, audit, family_language, locked_case
from bot.messaging.replies import ReplyWriter
from intake.case import CaseStatus
from intake.prompts import Prompt, Text
from intake.quotes import QUOTE_OPTIONS, QuoteAnswer, QuoteRefused, check_terms
from storage.db import Database
from storage.tables import Case, Contact, Quote

log = logging.getLogger(__name__)

# A price is confirmed before the review starts: while documents arrive or once complete.
QUOTABLE = frozenset({CaseStatus.AWAITING_DOCUMENTS, CaseStatus.FILE_COMPLETE})


async def current_quote(session: AsyncSession, case_id: int) -> Quote | None:
    """The case's latest quote that a newer one has not replaced."""
    return (await session.execute(
        select(Quote).where(Quote.case_id == case_id, Quote.superseded_at.is_(None))
        .order_by(Quote.id.desc()).limit(1))).scalar_one_or_none()


async def quote_answer(session: AsyncSession, case_id: int) -> QuoteAnswer | None:
    """How the family answered the current quote (None: no quote, or no answer yet)."""
    quote = await current_quote(session, case_id)
    return QuoteAnswer(quote.answer) if quote is not None and quote.answer else None


def amount_of(quote: Quote) -> Decimal:
    """The quoted amount in currency units."""
    return Decimal(quote.amount_cents) / 100


async def record_answer(
    session: AsyncSession, contact: Contact, case: Case, accepted: bool, now: datetime
) -> None:
    """The family's answer, on the current quote; coordinators see it as unread news."""
    quote = await current_quote(session, case.id)
    if quote is None or quote.answer is not None:
        return
    quote.answer = (QuoteAnswer.ACCEPTED if accepted else QuoteAnswer.DECLINED).value
    quote.answered_at = now
    case.updated_at = now
    contact.unread += 1
    audit(session, None, "quote_answered", now, case_id=case.id, contact_id=contact.id,
          quote_id=quote.id, answer=quote.answer)


class QuoteDesk:
    """Sends quotes: one transaction writes the quote, the message with its options, the
    conversation's "waiting for an answer" flag and the audit entry."""

    def __init__(self, db: Database, writer: ReplyWriter, renderer: Renderer, clock: Clock,
                 on_committed: Callable[[], None]) -> None:
        self.db = db
        self.writer = writer
        self.renderer = renderer
        self.clock = clock
        self.on_committed = on_committed

    async def paid_elsewhere(self, coordinator_id: int, contact_id: int, paid: bool) -> None:
        """Mark the case as paid elsewhere (no quote needed for the review), or undo it."""
        now = self.clock()
        async with locked_case(self.db, contact_id) as found:
            found.case.paid_elsewhere_at = now if paid else None
            found.case.updated_at = now
            audit(found.uow.session, coordinator_id, "paid_elsewhere", now,
                  case_id=found.case.id, contact_id=contact_id, paid=paid)
            await found.uow.commit()

    async def send(
        self, coordinator_id: int, contact_id: int, service: str, amount: str, reason: str
    ) -> int:
        """Send a quote to the family (replacing an unanswered or declined one); its id."""
        try:
            terms = check_terms(service, amount, reason)
        except QuoteRefused as refused:
            raise JourneyError(refused.code) from None
        now = self.clock()
        async with locked_case(self.db, contact_id) as found:
            session, case, contact, row = found.uow.session, found.case, found.contact, found.row
            if CaseStatus(case.status) not in QUOTABLE or row is None:
                raise JourneyError("quote_not_now")
            if contact.blocked_at is not None:
                raise JourneyError("blocked")
            previous = await current_quote(session, case.id)
            if previous is not None and previous.answer == QuoteAnswer.ACCEPTED:
                raise JourneyError("quote_already_accepted")
            if previous is not None:
                previous.superseded_at = now
            lang = family_language(contact, case)
            quote = Quote(case_id=case.id, service=terms.service.value,
                          amount_cents=int(terms.amount * 100), currency=terms.currency,
                          within_range=terms.within_range, reason=terms.reason,
                          coordinator_id=coordinator_id, created_at=now)
            session.add(quote)
            await session.flush()
            price = self.renderer.money(terms.amount, terms.currency, lang)
            reference = isolate(case.reference, lang)
            if terms.within_range:
                text = Text.of(
                    "Your coordinator confirms the price of your request {reference}:\n"
                    "{service}: {price}.\nNo work starts before you accept. Do you accept "
                    "this quote?", reference=reference, service=terms.published.label,
                    price=price)
            else:
                text = Text.of(
                    "Your coordinator confirms the price of your request {reference}:\n"
                    "{service}: {price}.\nThis differs from the published range ({range}); "
                    "your coordinator will gladly explain why. No work starts before you "
                    "accept. Do you accept this quote?", reference=reference,
                    service=terms.published.label, price=price,
                    range=self.renderer.price_range(terms.published.low, terms.published.high,
                                                    terms.currency, lang))
            messages = await self.writer.queue(session, contact, [Prompt(text, QUOTE_OPTIONS)],
                                               lang, now, case_id=case.id)
            quote.message_id = messages[-1].id
            row.state = {**row.state, "quote_pending": True}
            row.updated_at = now
            case.updated_at = now
            audit(session, coordinator_id, "quote_sent", now, case_id=case.id,
                  contact_id=contact_id, quote_id=quote.id)
            await found.uow.commit()
        self.on_committed()
        log.info("quote sent", extra={"case_id": case.id, "quote_id": quote.id})
        return quote.id
