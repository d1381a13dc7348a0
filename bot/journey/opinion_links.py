"""Opinion links are capabilities, like upload links (bot/documents/links.py): a 256-bit token
stored only as its SHA-256, scoped to one opinion and one audience (the family or the treating
doctor, so the inbox can tell who opened it), expiring after 30 days, revocable."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.documents.links import LinkProblem, resolve_link, token_hash
from storage.tables import (
    Case,
    Email,
    Opinion,
    OpinionLink,
    Quote,
    RecordsLetter,
    VideoConsultation,
)

LINK_LIFETIME = timedelta(days=30)


class Audience(StrEnum):
    """Who an opinion link was made for."""

    FAMILY = "family"
    DOCTOR = "doctor"


def opinion_url(base_url: str, token: str) -> str:
    """The link sent to the family or the doctor."""
    return f"{base_url.rstrip('/')}/opinion/{token}"


async def current_opinion(session: AsyncSession, case_id: int) -> Opinion | None:
    """The case's opinion in force (a corrected version replaces the earlier one)."""
    return (await session.execute(
        select(Opinion).where(Opinion.case_id == case_id, Opinion.replaced_at.is_(None))
        .order_by(Opinion.id.desc()).limit(1))).scalar_one_or_none()


async def revoke_links(
    session: AsyncSession, case_id: int, now: datetime, audience: Audience | None = None
) -> None:
    """Revoke the live opinion links of a case (of one audience, or all)."""
    query = update(OpinionLink).where(OpinionLink.case_id == case_id,
                                      OpinionLink.revoked_at.is_(None))
    if audience is not None:
        query = query.where(OpinionLink.audience == audience.value)
    await session.execute(query.values(revoked_at=now))


async def issue_link(
    session: AsyncSession, opinion: Opinion, audience: Audience, now: datetime
) -> str:
    """A new link to this opinion for this audience (the audience's older ones revoked)."""
    await revoke_links(session, opinion.case_id, now, audience)
    token = secrets.token_urlsafe(32)
    session.add(OpinionLink(opinion_id=opinion.id, case_id=opinion.case_id,
                            audience=audience.value, token_hash=token_hash(token),
                            expires_at=now + LINK_LIFETIME, downloads=0, created_at=now))
    await session.flush()
    return token


async def resolve(session: AsyncSession, token: str, now: datetime) -> OpinionLink | LinkProblem:
    """The opinion link a token opens, or why it opens nothing."""
    return await resolve_link(session, OpinionLink, token, now)


async def reissue_family_link(
    session: AsyncSession, case: Case, base_url: str, now: datetime
) -> str | None:
    """The family asked for a new link after its opinion was delivered: the opinion's."""
    opinion = await current_opinion(session, case.id)
    if opinion is None:
        return None
    return opinion_url(base_url, await issue_link(session, opinion, Audience.FAMILY, now))


async def forget_case_journey(session: AsyncSession, case: Case) -> list[str]:
    """Erase a case's second half: opinions (their links go with them), doctor e-mails,
    quotes, video consultations, records letters, the doctor's address. Returns the
    opinions' file-store keys to delete after the commit."""
    opinions = list((await session.execute(
        select(Opinion).where(Opinion.case_id == case.id))).scalars())
    for opinion in opinions:
        await session.delete(opinion)
    await session.execute(delete(OpinionLink).where(OpinionLink.case_id == case.id))
    await session.execute(delete(Email).where(Email.case_id == case.id))
    await session.execute(delete(Quote).where(Quote.case_id == case.id))
    await session.execute(delete(VideoConsultation).where(VideoConsultation.case_id == case.id))
    await session.execute(delete(RecordsLetter).where(RecordsLetter.case_id == case.id))
    case.physician_email = None
    return [opinion.storage_key for opinion in opinions]
