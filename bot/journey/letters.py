"""Records-request letters: prepared on the family's request, served behind a capability link.

Like the video consultation's calendar file, the letter sits behind its own 256-bit token,
stored only as its SHA-256, expiring after 30 days. Telegram and the web chat deliver it as
a document (Telegram's servers fetch the PDF from that link); WhatsApp gets the link in the
text. Preparing and each download are audited on the case; the row keeps what the letter
was made with, and the PDF is drawn again from the case's answers when the link is opened.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.documents.links import LinkProblem, resolve_link, token_hash
from bot.journey.context import audit
from intake.prompts import Prompt, Text
from intake.records_letter import legal_basis, letter_details
from storage.tables import Case, RecordsLetter

LETTER_LIFETIME = timedelta(days=30)


@dataclass(frozen=True)
class PreparedLetter:
    """A letter just recorded: its row and the link that serves it."""

    letter: RecordsLetter
    url: str
    filename: str


def letter_url(base_url: str, token: str) -> str:
    """The capability link of one letter."""
    return f"{base_url.rstrip('/')}/letter/{token}.pdf"


def letter_filename(case: Case) -> str:
    """What the file is called when saved: the case's reference, no name of the patient."""
    return f"records-request-{case.reference}.pdf"


async def prepare_letter(session: AsyncSession, case: Case, language: str, hospital: str,
                         base_url: str, now: datetime) -> PreparedLetter | None:
    """Record a letter for this case (None when the patient's details are missing)."""
    if letter_details(case.answers or {}) is None:
        return None
    country = (case.answers or {}).get("patient_country")
    basis = legal_basis(country if isinstance(country, str) else None)
    token = secrets.token_urlsafe(32)
    letter = RecordsLetter(case_id=case.id, language=language, hospital=hospital,
                           legal_basis=basis.value, token_hash=token_hash(token), downloads=0,
                           expires_at=now + LETTER_LIFETIME, created_at=now)
    session.add(letter)
    await session.flush()
    audit(session, None, "letter_prepared", now, case_id=case.id, contact_id=case.contact_id,
          letter_id=letter.id, language=language, legal_basis=basis.value)
    return PreparedLetter(letter, letter_url(base_url, token), letter_filename(case))


def letter_prompt(prepared: PreparedLetter, with_link: bool) -> Prompt:
    """The message that carries the letter: a caption for a document, or the link itself."""
    days = LETTER_LIFETIME.days
    if with_link:
        return Prompt(Text.counted(
            "Here is the letter asking the hospital for a copy of the records and of the scans "
            "(DICOM). Print it, sign it and hand it in or send it to the hospital. The link "
            "works for {count} day:\n{link}",
            "Here is the letter asking the hospital for a copy of the records and of the scans "
            "(DICOM). Print it, sign it and hand it in or send it to the hospital. The link "
            "works for {count} days:\n{link}", days, link=prepared.url))
    return Prompt.say(
        "Here is the letter asking the hospital for a copy of the records and of the scans "
        "(DICOM). Print it, sign it and hand it in or send it to the hospital.")


async def letter_for_token(session: AsyncSession, token: str,
                           now: datetime) -> RecordsLetter | LinkProblem:
    """The letter a link opens, or why it opens nothing."""
    return await resolve_link(session, RecordsLetter, token, now)


@dataclass(frozen=True)
class LetterInputs:
    """What the PDF is drawn from, read under the download's transaction."""

    language: str
    patient_name: str
    birth_date: date
    hospital: str
    created: datetime
    legal_basis: str
    reference: str


async def open_letter(session: AsyncSession, token: str,
                      now: datetime) -> LetterInputs | LinkProblem:
    """Count and audit one download; the inputs of the PDF (None for an erased case)."""
    letter = await letter_for_token(session, token, now)
    if isinstance(letter, LinkProblem):
        return letter
    case = await session.get(Case, letter.case_id)
    details = letter_details(case.answers or {}) if case is not None else None
    if case is None or details is None or case.status == "erased":
        return LinkProblem.REVOKED
    letter.downloads += 1
    audit(session, None, "letter_downloaded", now, case_id=case.id,
          contact_id=case.contact_id, letter_id=letter.id)
    name, born = details
    return LetterInputs(letter.language, name, date.fromisoformat(born), letter.hospital,
                        letter.created_at, letter.legal_basis, case.reference)
