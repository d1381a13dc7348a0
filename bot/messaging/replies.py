"""Render domain prompts in the contact's language and queue them: transcript + outbox.

With a `Sealer`, upload tokens in the text are sealed before either row is written
(`bot.documents.links.seal_links`); the dispatcher and the family's web chat open them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import Channel
from bot.documents.links import seal_links
from bot.i18n.render import RenderedPrompt, Renderer
from intake.prompts import Prompt
from storage import repositories as repo
from storage.files import Sealer
from storage.tables import Contact, Message


class ReplyWriter:
    """Turns prompts into message rows and outbox rows in the caller's transaction."""

    def __init__(
        self, renderer: Renderer, channels: Mapping[str, Channel] | None = None,
        sealer: Sealer | None = None,
    ) -> None:
        self.renderer = renderer
        self.channels = channels or {}
        self.sealer = sealer

    async def _stored(self, session: AsyncSession, contact: Contact, text: str) -> str:
        """The text as the database keeps it: upload tokens sealed for this contact."""
        if self.sealer is None or "/upload/" not in text:
            return text
        if contact.id is None:
            await session.flush()
        return seal_links(text, self.sealer, contact.id)

    async def queue(
        self, session: AsyncSession, contact: Contact, prompts: Iterable[Prompt], lang: str,
        now: datetime, *, case_id: int | None = None, extra: dict[str, object] | None = None,
    ) -> list[Message]:
        """Write each prompt as an outgoing message and its delivery row."""
        written: list[Message] = []
        channel = self.channels.get(contact.channel)
        rendered_all = [self.renderer.prompt(prompt, lang) for prompt in prompts]
        if channel is not None and getattr(channel, "merge_replies", False):
            rendered_all = merge_turn(rendered_all, channel.max_text_length)
        for rendered in rendered_all:
            options = [{"key": o.key, "label": o.label} for o in rendered.options]
            text = await self._stored(session, contact, rendered.text)
            message = await repo.queue_reply(
                session, contact, author="bot", text=text, case_id=case_id, options=options,
                multiple=rendered.multiple, now=now,
                payload={"text": text, "options": options, "multiple": rendered.multiple,
                         "locale": lang, "extra": extra or {}},
            )
            written.append(message)
        return written

    async def queue_text(
        self, session: AsyncSession, contact: Contact, text: str, lang: str, now: datetime, *,
        author: str, case_id: int | None = None, coordinator_id: int | None = None,
    ) -> Message:
        """Queue an already written text (a coordinator's reply)."""
        text = await self._stored(session, contact, text)
        return await repo.queue_reply(
            session, contact, author=author, text=text, case_id=case_id,
            coordinator_id=coordinator_id, now=now,
            payload={"text": text, "options": [], "multiple": False, "locale": lang},
        )


def merge_turn(rendered: list[RenderedPrompt], max_length: int) -> list[RenderedPrompt]:
    """One turn's prompts as few messages as possible: messaging apps notify per message,
    and a chat's rate limit makes five short messages slow. A prompt with options closes a
    message (its buttons belong under it)."""
    merged: list[RenderedPrompt] = []
    pending: list[str] = []
    for prompt in rendered:
        candidate = [*pending, prompt.text]
        if pending and len("\n\n".join(candidate)) > max_length:
            merged.append(RenderedPrompt("\n\n".join(pending)))
            candidate = [prompt.text]
        if prompt.options:
            merged.append(RenderedPrompt("\n\n".join(candidate), prompt.options, prompt.multiple))
            pending = []
        else:
            pending = candidate
    if pending:
        merged.append(RenderedPrompt("\n\n".join(pending)))
    return merged
