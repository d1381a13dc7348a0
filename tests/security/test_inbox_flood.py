"""Anyone can open web chats and ask for a person: such a flood, without consent, must not
push the real cases out of the coordinators' lists."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime

from aiohttp import ClientSession, CookieJar

from bot.settings import Settings
from storage.db import Database
from storage.tables import Contact, Message
from storage.unit_of_work import UnitOfWork
from tests.e2e.chat_client import ChatFamily
from tests.e2e.test_inbox import InboxBrowser, add_login, seed_case
from tests.e2e.test_webchat_intake import rows
from tests.security.conftest import Serve

LISTED = re.compile(r'href="/inbox/c/(\d+)"')
FLOOD = 205  # more than the list shows (200)


async def flood(database_url: str, count: int) -> None:
    """What `count` scripted web chats asking for a person leave behind, written at once."""
    now = datetime.now(UTC)
    database = Database(database_url)
    try:
        async with UnitOfWork(database) as uow:
            for _ in range(count):
                contact = Contact(channel="webchat", external_id=uuid.uuid4().hex, locale="en",
                                  needs_human=True, unread=1, last_inbound_at=now,
                                  created_at=now)
                uow.session.add(contact)
                await uow.session.flush()
                uow.session.add(Message(contact_id=contact.id, direction="in",
                                        author="family", text="human", created_at=now))
            await uow.commit()
    finally:
        await database.dispose()


def listed(page: str) -> set[int]:
    """The conversations a list page links to."""
    return {int(n) for n in LISTED.findall(page)}


async def test_conversations_without_consent_cannot_push_real_cases_out_of_the_list(
    settings: Settings, serve: Serve,
) -> None:
    base = await serve(settings)
    login = await add_login(settings.database_url)
    real_contact, _ = await seed_case(settings.database_url)
    for _ in range(2):  # the attack over HTTP, as a script would run it
        family = await ChatFamily.open(base)
        try:
            await family.replies()
            await family.say("talk to a person")
        finally:
            await family.close()
    await flood(settings.database_url, FLOOD)
    flooded = {c.id for c in await rows(settings.database_url, Contact)} - {real_contact}
    assert len(flooded) == FLOOD + 2

    coordinator = InboxBrowser(base, ClientSession(cookie_jar=CookieJar(unsafe=True)))
    try:
        await coordinator.sign_in(login.email)
        for show in ("attention", "all"):
            _, page = await coordinator.get(f"/inbox?show={show}")
            assert listed(page) == {real_contact}, show
        _, page = await coordinator.get("/inbox?show=unconsented")
        apart = listed(page)
        assert real_contact not in apart and len(apart) == 200 and apart <= flooded
        more = re.search(r'href="(/inbox\?[^"]*after=[^"]+)" rel="next"', page)
        assert more is not None
        _, rest = await coordinator.get(html.unescape(more.group(1)))
        assert listed(rest) == flooded - apart and 'rel="next"' not in rest
        tabs = re.search(r'id="list-tabs">(.*?)</nav>', page, re.S)
        assert tabs is not None
        counts = re.findall(r'tabs__count">([^<]+)<', tabs.group(1))
        assert [c.replace("\u202f", "").replace(",", "") for c in counts] == [
            "1", "0", "1", str(FLOOD + 2)]
    finally:
        await coordinator.close()


async def test_a_family_that_consented_is_listed_with_the_real_cases(
    settings: Settings, serve: Serve,
) -> None:
    base = await serve(settings)
    login = await add_login(settings.database_url)
    family = await ChatFamily.open(base)
    try:
        await family.replies()
        await family.tap("en")
        await family.tap("yes")
    finally:
        await family.close()
    [contact] = await rows(settings.database_url, Contact)
    assert contact.consent_at is not None
    coordinator = InboxBrowser(base, ClientSession(cookie_jar=CookieJar(unsafe=True)))
    try:
        await coordinator.sign_in(login.email)
        _, page = await coordinator.get("/inbox?show=all")
        assert listed(page) == {contact.id}
        _, page = await coordinator.get("/inbox?show=unconsented")
        assert listed(page) == set()
        assert "No conversations without consent." in page
    finally:
        await coordinator.close()
