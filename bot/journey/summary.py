"""What the inbox shows about a case's second half: flat rows, read in one session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.journey.doctor import doctor_address, shares_with_doctor
from storage.tables import (
    Case,
    Email,
    Opinion,
    OpinionLink,
    Quote,
    RecordsLetter,
    VideoConsultation,
)


@dataclass(frozen=True)
class QuoteLine:
    """One quote sent, with the family's answer."""

    id: int
    service: str
    amount: Decimal
    currency: str
    within_range: bool
    reason: str
    answer: str | None
    answered_at: datetime | None
    superseded: bool
    sent_at: datetime


@dataclass(frozen=True)
class LinkLine:
    """One opinion link: for whom, whether and when it was opened."""

    audience: str
    created_at: datetime
    expires_at: datetime
    revoked: bool
    downloads: int
    first_opened_at: datetime | None
    last_opened_at: datetime | None


@dataclass(frozen=True)
class OpinionLine:
    """One opinion stored, with its links."""

    id: int
    size: int
    created_at: datetime
    replaced: bool
    links: tuple[LinkLine, ...]


@dataclass(frozen=True)
class MailLine:
    """One e-mail to the doctor and where its delivery stands."""

    id: int
    to_address: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class VideoLine:
    """One booking of the video consultation (a move cancels the earlier one)."""

    starts_at: datetime
    minutes: int
    timezone: str
    join_url: str
    cancelled: bool


@dataclass(frozen=True)
class LetterLine:
    """One records-request letter the family had prepared."""

    language: str
    hospital: str
    legal_basis: str
    downloads: int
    created_at: datetime


@dataclass(frozen=True)
class Journey:
    """The case's quote, opinions, doctor mails and what the team may do next."""

    case_id: int
    quotes: tuple[QuoteLine, ...]
    opinions: tuple[OpinionLine, ...]
    mails: tuple[MailLine, ...]
    doctor_agreed: bool
    doctor_address: str | None
    videos: tuple[VideoLine, ...] = ()
    letters: tuple[LetterLine, ...] = ()

    @property
    def video(self) -> VideoLine | None:
        """The booked consultation."""
        return next((v for v in reversed(self.videos) if not v.cancelled), None)

    @property
    def quote(self) -> QuoteLine | None:
        """The quote in force."""
        return next((q for q in reversed(self.quotes) if not q.superseded), None)


async def journey(session: AsyncSession, case: Case) -> Journey:
    """Everything the journey page shows about one case."""
    quotes = (await session.execute(
        select(Quote).where(Quote.case_id == case.id).order_by(Quote.id))).scalars()
    opinions = list((await session.execute(
        select(Opinion).where(Opinion.case_id == case.id).order_by(Opinion.id))).scalars())
    links = list((await session.execute(
        select(OpinionLink).where(OpinionLink.case_id == case.id)
        .order_by(OpinionLink.id))).scalars())
    mails = (await session.execute(
        select(Email).where(Email.case_id == case.id).order_by(Email.id))).scalars()
    videos = (await session.execute(
        select(VideoConsultation).where(VideoConsultation.case_id == case.id)
        .order_by(VideoConsultation.id))).scalars()
    letters = (await session.execute(
        select(RecordsLetter).where(RecordsLetter.case_id == case.id)
        .order_by(RecordsLetter.id))).scalars()
    return Journey(
        case_id=case.id,
        quotes=tuple(QuoteLine(q.id, q.service, Decimal(q.amount_cents) / 100, q.currency,
                               q.within_range, q.reason, q.answer, q.answered_at,
                               q.superseded_at is not None, q.created_at) for q in quotes),
        opinions=tuple(OpinionLine(
            o.id, o.size, o.created_at, o.replaced_at is not None,
            tuple(LinkLine(k.audience, k.created_at, k.expires_at, k.revoked_at is not None,
                           k.downloads, k.first_opened_at, k.last_opened_at)
                  for k in links if k.opinion_id == o.id)) for o in opinions),
        mails=tuple(MailLine(m.id, m.to_address, m.status, m.attempts, m.last_error,
                             m.created_at, m.sent_at) for m in mails),
        doctor_agreed=shares_with_doctor(case),
        doctor_address=doctor_address(case),
        videos=tuple(VideoLine(v.starts_at, v.minutes, v.timezone, v.join_url,
                               v.cancelled_at is not None) for v in videos),
        letters=tuple(LetterLine(x.language, x.hospital, x.legal_basis, x.downloads,
                                 x.created_at) for x in letters),
    )
