"""Attack: read the database (a dump, a backup) and use the upload links found in it.

Before the fix, every reply carrying an upload link kept the live token in clear in
`messages.text` and `outbox.payload`, so a dump alone handed out the right to add files to
the case. Now those rows hold a sealed form that opens no page; the family still reads and
uses its link, in its own web chat and on Telegram.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime

from aiohttp import ClientSession

from bot.documents.links import open_links, seal_links
from bot.settings import Settings
from storage import repositories as repo
from storage.db import Database
from storage.files import Sealer
from storage.tables import Contact, Message, OutboxItem
from storage.unit_of_work import UnitOfWork
from tests.e2e.chat_client import ChatFamily
from tests.e2e.test_inbox import InboxBrowser, add_login
from tests.e2e.test_telegram import TelegramFamily, texts
from tests.e2e.upload_client import link_for, start, submit_case
from tests.fakes.telegram_api import FakeTelegram
from tests.security.conftest import open_site, seed_case

CHAT = 5550778
LINK = re.compile(r"/upload/([A-Za-z0-9_-]+)")


async def dump(database_url: str) -> str:
    """Everything the transcript and the outbox hold, as an attacker with a dump reads it."""
    database = Database(database_url)
    try:
        async with database.sessions() as session:
            messages = (await session.execute(Message.__table__.select())).all()
            outbox = (await session.execute(OutboxItem.__table__.select())).all()
    finally:
        await database.dispose()
    return "\n".join(json.dumps([str(value) for value in row], ensure_ascii=False)
                     for row in [*messages, *outbox])


async def test_a_database_dump_opens_no_upload_page_while_the_family_keeps_its_link(
    settings: Settings,
) -> None:
    server, base = await start(settings)
    family = await ChatFamily.open(base)
    browser = None
    try:
        await submit_case(family, settings.database_url)
        reread = await family.session.get(f"{base}/chat/api/messages", params={"after": 0})
        transcript = "\n".join(m["text"] for m in (await reread.json())["messages"])
        (token,) = LINK.findall(transcript)
        assert len(token) == 43
        assert (await family.session.get(f"{base}/upload/{token}")).status == 200

        leaked = await dump(settings.database_url)
        found = LINK.findall(leaked)
        assert found and token not in leaked
        async with ClientSession() as attacker:
            for value in found:
                assert (await attacker.get(f"{base}/upload/{value}")).status == 404

        login = await add_login(settings.database_url)
        browser = await InboxBrowser.open(base)
        await browser.sign_in(login.email)
        _, listing = await browser.get("/inbox?filter=all")
        contact_id = re.search(r'href="/inbox/c/(\d+)"', listing)
        assert contact_id is not None
        _, page = await browser.get(f"/inbox/c/{contact_id[1]}")
        assert "/upload/\u2026" in page
        assert token not in page and not any(value in page for value in found)
    finally:
        if browser is not None:
            await browser.close()
        await family.close()
        await server.close()


async def test_a_new_link_asked_on_telegram_works_and_is_sealed_in_the_database(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    site = await open_site(tg_settings, channel="telegram", external_id=str(CHAT))
    try:
        async with ClientSession() as session:
            family = TelegramFamily(fake, session, f"{site.base}/webhooks/telegram",
                                    chat_id=CHAT)
            delivered = texts(await family.say("new link"))
            (token,) = LINK.findall(delivered)
            assert (await session.get(f"{site.base}/upload/{token}")).status == 200
            assert (await session.get(site.link)).status == 410  # the older link is revoked
            leaked = await dump(tg_settings.database_url)
            assert token not in leaked
            for value in LINK.findall(leaked):
                assert (await session.get(f"{site.base}/upload/{value}")).status == 404
    finally:
        await site.close()


def test_a_sealed_link_opens_only_for_its_own_contact_and_only_with_the_key() -> None:
    sealer = Sealer(secrets.token_bytes(32))
    text = f"Your link: https://intake.example/upload/{secrets.token_urlsafe(32)}"
    stored = seal_links(text, sealer, contact_id=7)
    assert stored != text and LINK.search(stored)
    assert open_links(stored, sealer, 7) == text
    masked = "Your link: https://intake.example/upload/\u2026"
    assert open_links(stored, sealer, 8) == masked
    assert open_links(stored, Sealer(secrets.token_bytes(32)), 7) == masked


async def test_links_stored_in_clear_before_the_upgrade_are_sealed_at_start_up(
    settings: Settings,
) -> None:
    contact_id, _, _ = await seed_case(settings.database_url)
    link = await link_for(settings.database_url, "https://intake.example")
    (token,) = LINK.findall(link)
    database = Database(settings.database_url)
    try:
        async with UnitOfWork(database) as uow:
            contact = await uow.session.get(Contact, contact_id)
            assert contact is not None
            now = datetime.now(UTC)
            text = f"Your upload link: {link}"
            message = repo.add_message(uow.session, contact, direction="out", author="bot",
                                       text=text, now=now)
            await uow.session.flush()
            repo.add_outbox(uow.session, contact, message,
                            {"text": text, "options": [], "multiple": False, "locale": "en"},
                            now)
            await uow.commit()
    finally:
        await database.dispose()
    assert token in await dump(settings.database_url)

    server, base = await start(settings)
    try:
        async with ClientSession() as session:
            assert (await session.get(f"{base}/upload/{token}")).status == 200
    finally:
        await server.close()
    leaked = await dump(settings.database_url)
    assert token not in leaked and LINK.findall(leaked)
