"""Odd input from the providers' webhooks and in the inbox's addresses: NUL and lone
surrogates are dropped from what the family wrote (a provider would only retry a refusal),
the rest is refused with a 4xx; nothing crashes, on either database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession
from sqlalchemy import select

from bot.settings import Settings
from storage.db import Database
from storage.tables import Contact, InboundEvent, Message
from tests.e2e.test_inbox import InboxBrowser, add_login, seed_case
from tests.e2e.test_whatsapp import INBOUND, STATUS, ShiftedClock, World
from tests.e2e.test_whatsapp import start as start_whatsapp
from tests.fakes.telegram_api import SECRET, TOKEN, FakeTelegram, post_update
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, status_params
from tests.security.conftest import Start, count


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    """The app with WhatsApp on, against the fake Twilio API."""
    async with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        world = await start_whatsapp(settings, fake, ShiftedClock())
        try:
            yield world
        finally:
            await world.server.close()
            await world.db.dispose()


async def family_texts(db: Database) -> list[str]:
    """What the family's messages say, as stored."""
    async with db.sessions() as session:
        rows = await session.execute(select(Message.text).where(Message.direction == "in"))
        return [text or "" for text in rows.scalars()]


async def test_a_whatsapp_message_with_nul_is_stored_without_it_and_answered(
    world: World,
) -> None:
    replies = await world.write("Hello\x00 there", profile_name="Ami\x00ra")
    assert replies
    assert await family_texts(world.db) == ["Hello there"]
    contact = (await world.rows(Contact))[0]
    assert "\x00" not in (contact.display_name or "")
    assert "\\u0000" not in str((await world.rows(InboundEvent))[0].payload)


@pytest.mark.parametrize(("body", "content_type"), [
    (b"MessageSid=SM1&From=whatsapp%3A%2B1&Body=hi", "application/x-www-form-urlencoded; "
     "charset=bogus"),
    (b"MessageSid=SM1&From=whatsapp%3A%2B1&Body=%FF%FE", "application/x-www-form-urlencoded"),
    (b"MessageSid=SM1&From=whatsapp%3A%2B1&Body=\xff", "application/x-www-form-urlencoded"),
])
async def test_an_undecodable_whatsapp_form_is_refused_and_stores_nothing(
    world: World, body: bytes, content_type: str
) -> None:
    async with ClientSession() as http:
        response = await http.post(world.url + INBOUND, data=body, headers={
            "Content-Type": content_type, "X-Twilio-Signature": "c2lnbmF0dXJl"})
        assert 400 <= response.status < 500 and response.status != 403
    assert await world.rows(InboundEvent) == []
    assert world.fake.attempts == 0


@pytest.mark.parametrize("outbox", ["99999999999999999999999", "9223372036854775808", "%D9%A1",
                                    "%00"])
async def test_a_status_callback_with_an_odd_outbox_id_is_acknowledged(
    world: World, outbox: str
) -> None:
    status, _ = await world.post(f"{STATUS}?outbox={outbox}",
                                 status_params("SM" + "0" * 32, "delivered"))
    assert status == 200


async def test_a_telegram_message_with_nul_and_a_lone_surrogate_is_cleaned_and_answered(
    start: Start, db: Database
) -> None:
    fake = FakeTelegram()
    await fake.start()
    try:
        base = await start(telegram_bot_token=TOKEN, telegram_webhook_secret=SECRET,
                           telegram_api_base_url=fake.api_base_url)
        update = fake.text_update(5550001, "Hello\x00 there \ud800!")
        async with ClientSession() as http:
            assert await post_update(http, f"{base}/webhooks/telegram", update) == 200
        async with asyncio.timeout(15):
            while not [s for s in fake.sent if s.chat_id == 5550001]:
                await asyncio.sleep(0.05)
    finally:
        await fake.close()
    assert await family_texts(db) == ["Hello there \ufffd!"]
    assert await count(db, InboundEvent, InboundEvent.processed_at.is_(None)) == 0


@pytest.mark.parametrize(("path", "status"), [
    ("/inbox/c/9223372036854775808", 404),
    ("/inbox/c/99999999999999999999999", 404),
    ("/inbox/c/-1", 404),
    ("/inbox/c/%00", 404),
    ("/inbox/documents/9223372036854775808", 404),
    ("/inbox/audit?before=9223372036854775808", 404),
    ("/inbox/audit?before=-3", 404),
    ("/inbox?show=%00&sort=%ED%A0%80", 302),
    ("/inbox?lang=%00", 200),
    ("/inbox?lang=%ED%A0%80", 200),
])
async def test_odd_inbox_addresses_are_not_found_or_sent_home(
    start: Start, settings: Settings, path: str, status: int
) -> None:
    base = await start()
    login = await add_login(settings.database_url)
    await seed_case(settings.database_url)
    browser = await InboxBrowser.open(base)
    try:
        response, _ = await browser.sign_in(login.email)
        assert response.status == 200
        answer, _ = await browser.get(path, allow_redirects=False)
        assert answer.status == status
    finally:
        await browser.close()


async def test_a_coordinator_reply_with_nul_is_refused_and_not_sent(
    start: Start, settings: Settings, db: Database
) -> None:
    base = await start()
    login = await add_login(settings.database_url)
    contact_id, _ = await seed_case(settings.database_url)
    browser = await InboxBrowser.open(base)
    try:
        await browser.sign_in(login.email)
        await browser.get(f"/inbox/c/{contact_id}")
        response, _ = await browser.post(f"/inbox/c/{contact_id}/reply",
                                         {"text": "Dear family\x00, thank you."})
        assert response.status == 400
    finally:
        await browser.close()
    assert await count(db, Message, Message.direction == "out") == 0


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b"email=a%00b%40team.example&password=x", "application/x-www-form-urlencoded", 400),
    (b"email=anna%40team.example&password=x", "application/x-www-form-urlencoded; "
     "charset=bogus", 415),
    (b"email=anna%40team.example&password=\xff", "application/x-www-form-urlencoded", 400),
])
async def test_an_odd_sign_in_form_is_refused(
    start: Start, body: bytes, content_type: str, status: int
) -> None:
    base = await start()
    async with ClientSession() as http:
        response = await http.post(f"{base}/inbox/login", data=body,
                                   headers={"Content-Type": content_type})
        assert response.status == status
