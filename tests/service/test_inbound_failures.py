"""An event the handler cannot process is retried, then kept and told, never dropped."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.handlers.intake import IntakeHandler
from bot.settings import Settings
from storage.db import Database
from storage.tables import Contact, InboundEvent
from tests.e2e.chat_client import ChatFamily, texts
from tests.e2e.test_webchat_intake import start_server


async def test_a_message_that_keeps_failing_is_kept_and_the_family_is_told(
    settings: Settings, monkeypatch: Any
) -> None:
    server, base = await start_server(settings)
    family = await ChatFamily.open(base)
    original = IntakeHandler.handle

    async def failing(self: IntakeHandler, session: Any, contact: Any, event: Any,
                      inbound: Any, now: Any) -> None:
        if inbound.text == "boom":
            raise RuntimeError("handler bug")
        await original(self, session, contact, event, inbound, now)

    monkeypatch.setattr(IntakeHandler, "handle", failing)
    try:
        await family.replies()
        replies = await family.say("boom")
        assert "could not process your last message" in texts(replies), family.transcript
        replies = await family.tap("en")
        assert "Before we start" in texts(replies)
    finally:
        await family.close()
        await server.close()
    database = Database(settings.database_url)
    try:
        async with database.sessions() as session:
            events = list((await session.execute(
                select(InboundEvent).order_by(InboundEvent.id))).scalars())
            failed = [e for e in events if e.error]
            assert len(failed) == 1 and failed[0].attempts == 5
            assert failed[0].processed_at is not None
            assert failed[0].payload["text"] == "boom"
            contact = (await session.execute(select(Contact))).scalar_one()
            assert contact.needs_human
    finally:
        await database.dispose()
