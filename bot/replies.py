"""Render domain prompts in the contact's language and queue them: transcript + outbox."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n.render import Renderer
from intake.prompts import Prompt
from storage import repositories as repo
from storage.tables import Contact, Message


class ReplyWriter:
    """Turns prompts into message rows and outbox rows in the caller's transaction."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer

    async def queue(
        self, session: AsyncSession, contact: Contact, prompts: Iterable[Prompt], lang: str,
        now: datetime, *, case_id: int | None = None,
    ) -> list[Message]:
        """Write each prompt as an outgoing message and its delivery row."""
        written: list[Message] = []
        for prompt in prompts:
            rendered = self.renderer.prompt(prompt, lang)
            options = [{"key": o.key, "label": o.label} for o in rendered.options]
            message = repo.add_message(
                session, contact, direction="out", author="bot", text=rendered.text,
                case_id=case_id, options=options, multiple=rendered.multiple, now=now,
            )
            await session.flush()
            repo.add_outbox(
                session, contact, message,
                {"text": rendered.text, "options": options, "multiple": rendered.multiple,
                 "locale": lang},
                now,
            )
            written.append(message)
        return written

    async def queue_text(
        self, session: AsyncSession, contact: Contact, text: str, lang: str, now: datetime, *,
        author: str, case_id: int | None = None, coordinator_id: int | None = None,
    ) -> Message:
        """Queue an already written text (a coordinator's reply)."""
        message = repo.add_message(
            session, contact, direction="out", author=author, text=text, case_id=case_id,
            coordinator_id=coordinator_id, now=now,
        )
        await session.flush()
        repo.add_outbox(session, contact, message,
                        {"text": text, "options": [], "multiple": False, "locale": lang}, now)
        return message
