"""Saved replies: the team's own messages for the common moments, written in every language.

Each reply holds a title and a body per language. A coordinator picks it by its title in the
inbox's language; it is sent in the family's language with its placeholders filled. Only a
reply complete in all six languages may be sent; retired replies stay for the record.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.i18n.render import Renderer, isolate
from bot.journey.context import JourneyError, audit, family_language, locked_case
from bot.messaging.replies import ReplyWriter
from intake.case import CaseStatus
from intake.checklist import checklist_for, missing_items
from intake.vocabulary import LANGUAGES
from storage import repositories as repo
from storage.db import Database
from storage.tables import Case, SavedReply
from storage.unit_of_work import UnitOfWork

PLACEHOLDERS = ("reference", "patient", "missing", "today")
MAX_TITLE = 120
MAX_BODY = 1500


def fields_of(text: str) -> set[str] | None:
    """The `{name}` placeholders of a text; None when its braces do not parse."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return None


def check_texts(form: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Read `title_<lang>` and `body_<lang>` fields; refuse unknown placeholders or sizes.
    Languages may be left empty while a reply is being written (it cannot be sent yet)."""
    texts: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        title = " ".join(form.get(f"title_{lang}", "").split())
        body = form.get(f"body_{lang}", "").replace("\r\n", "\n").strip()
        if len(title) > MAX_TITLE or len(body) > MAX_BODY:
            raise JourneyError("reply_too_long")
        found = fields_of(body)
        if found is None or not found <= set(PLACEHOLDERS) or "{" in title:
            raise JourneyError("reply_placeholder")
        if title or body:
            texts[lang] = {"title": title, "body": body}
    if not texts:
        raise JourneyError("reply_empty")
    return texts


def is_complete(texts: Mapping[str, Mapping[str, str]]) -> bool:
    """Sendable: a title and a body in each of the six languages."""
    return all(texts.get(lang, {}).get("title") and texts.get(lang, {}).get("body")
               for lang in LANGUAGES)


def title_in(reply: SavedReply, lang: str) -> str:
    """The reply's title in the coordinator's language, else the first one written."""
    texts = reply.texts or {}
    for code in (lang, "en", *LANGUAGES):
        title = texts.get(code, {}).get("title")
        if title:
            return str(title)
    return f"#{reply.id}"


async def library(session: AsyncSession, *, with_retired: bool = False) -> list[SavedReply]:
    """The saved replies, oldest first."""
    query = select(SavedReply).order_by(SavedReply.id)
    if not with_retired:
        query = query.where(SavedReply.retired_at.is_(None))
    return list((await session.execute(query)).scalars())


class SavedReplies:
    """Manages the library and sends a reply through the family's channel."""

    def __init__(self, db: Database, writer: ReplyWriter, renderer: Renderer, clock: Clock,
                 timezone: str, on_committed: Callable[[], None]) -> None:
        self.db = db
        self.writer = writer
        self.renderer = renderer
        self.clock = clock
        self.tz = ZoneInfo(timezone)
        self.on_committed = on_committed

    async def save(self, coordinator_id: int, reply_id: int | None,
                   form: Mapping[str, str]) -> int:
        """Create a reply or change one (audited); returns its id."""
        texts = check_texts(form)
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            if reply_id is None:
                reply = SavedReply(texts=texts, created_by=coordinator_id, created_at=now,
                                   updated_at=now)
                uow.session.add(reply)
            else:
                found = await uow.session.get(SavedReply, reply_id)
                if found is None or found.retired_at is not None:
                    raise JourneyError("not_found")
                reply = found
                reply.texts, reply.updated_at = texts, now
            await uow.session.flush()
            audit(uow.session, coordinator_id, "saved_reply_saved", now, reply_id=reply.id)
            await uow.commit()
        return reply.id

    async def retire(self, coordinator_id: int, reply_id: int) -> None:
        """Take a reply out of the picker (kept for the record)."""
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            reply = await uow.session.get(SavedReply, reply_id)
            if reply is None:
                raise JourneyError("not_found")
            reply.retired_at = reply.retired_at or now
            audit(uow.session, coordinator_id, "saved_reply_retired", now, reply_id=reply.id)
            await uow.commit()

    async def send(self, coordinator_id: int, contact_id: int, reply_id: int) -> int:
        """Send a saved reply in the family's language, placeholders filled; the message id."""
        now = self.clock()
        async with locked_case(self.db, contact_id) as found:
            session, case, contact = found.uow.session, found.case, found.contact
            reply = await session.get(SavedReply, reply_id)
            if reply is None or reply.retired_at is not None:
                raise JourneyError("not_found")
            if not is_complete(reply.texts):
                raise JourneyError("reply_incomplete")
            if case.status == CaseStatus.ERASED or contact.blocked_at is not None:
                raise JourneyError("erased" if case.status == CaseStatus.ERASED else "blocked")
            lang = self.renderer.catalogs.resolve(family_language(contact, case))
            text = await self.fill(session, reply.texts[lang]["body"], case, lang, now)
            message = await self.writer.queue_text(
                session, contact, text, lang, now, author="coordinator", case_id=case.id,
                coordinator_id=coordinator_id)
            contact.unread = 0
            audit(session, coordinator_id, "saved_reply_sent", now, case_id=case.id,
                  contact_id=contact_id, reply_id=reply.id, message_id=message.id)
            await found.uow.commit()
        self.on_committed()
        return message.id

    async def fill(self, session: AsyncSession, body: str, case: Case, lang: str,
                   now: datetime) -> str:
        """The body with `{reference}`, `{patient}`, `{missing}` and `{today}` filled in."""
        answers = case.answers or {}
        missing = missing_items(checklist_for(answers),
                                await repo.received_documents(session, case.id), answers,
                                required_only=True)
        values = {
            "reference": isolate(case.reference, lang),
            "patient": str(answers.get("patient_name") or ""),
            "missing": "\n".join(f"\u2022 {self.renderer.text(item.label, lang)}"
                                 for item in missing),
            "today": format_date(now.astimezone(self.tz).date(), format="long", locale=lang),
        }
        return body.format(**values)
