"""Wake-ups across workers: on PostgreSQL a change committed anywhere wakes every process's
long polls, outbox dispatcher and timer clock at once, with no periodic re-read involved.

The servers here re-read only every hour (`wakeup_safety_seconds`, `outbox_poll_seconds`,
`timer_poll_seconds`), so anything that arrives within seconds arrived by a wake-up.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from sqlalchemy import select, text

from bot.app import create_app
from bot.keys import WAKEUPS
from bot.messaging.wakeups import APPLICATION_NAME
from bot.settings import Settings
from intake.deadlines import Audience, SlaKind
from storage import repositories as repo
from storage.db import Database
from storage.tables import Contact, Timer
from storage.unit_of_work import UnitOfWork
from tests.e2e.chat_client import ChatFamily, texts

HOUR = 3600.0
PROMPT = 5.0  # "at once", with room for a loaded test machine; the nets are an hour away


@pytest.fixture
def quiet_settings(settings: Settings) -> Settings:
    """Every periodic re-read an hour apart."""
    return settings.with_overrides(wakeup_safety_seconds=HOUR, outbox_poll_seconds=HOUR,
                                   timer_poll_seconds=HOUR, inbound_sweep_seconds=HOUR)


def postgres_only(settings: Settings) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("several workers share one PostgreSQL; SQLite is single-process")


async def start(settings: Settings) -> tuple[TestServer, str]:
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    return server, f"http://127.0.0.1:{server.port}"


async def poll(session: ClientSession, base_url: str, after: int,
               wait: float = 20.0) -> tuple[list[dict[str, Any]], float]:
    """One long poll; returns the messages and how long it was held."""
    began = time.monotonic()
    async with session.get(f"{base_url}/chat/api/messages",
                           params={"after": after, "wait": wait}) as response:
        assert response.status == 200, await response.text()
        data = await response.json()
    return data["messages"], time.monotonic() - began


async def bot_reply(session: ClientSession, base_url: str, after: int) -> tuple[str, float]:
    """Long polls on one worker until a reply of the bot arrives; the text and the time.
    A poll may first return the family's own line (also a wake-up)."""
    began = time.monotonic()
    while True:
        messages, _ = await poll(session, base_url, after)
        assert messages, "a held poll ran out without news"
        after = messages[-1]["id"]
        replies = [m for m in messages if m["direction"] == "out"]
        if replies:
            return replies[0]["text"], time.monotonic() - began


async def contact_of(database_url: str) -> int:
    database = Database(database_url)
    try:
        async with database.sessions() as session:
            return int((await session.execute(select(Contact.id))).scalar_one())
    finally:
        await database.dispose()


async def queue_reply(database_url: str, contact_id: int, line: str) -> None:
    """A reply committed by some other process (no wake-up of ours is called)."""
    database = Database(database_url)
    try:
        async with UnitOfWork(database) as uow:
            contact = await uow.session.get(Contact, contact_id)
            assert contact is not None
            now = datetime.now(UTC)
            message = repo.add_message(uow.session, contact, direction="out", author="bot",
                                       text=line, now=now)
            await uow.session.flush()
            repo.add_outbox(uow.session, contact, message,
                            {"text": line, "options": [], "multiple": False, "locale": "en"},
                            now)
            await uow.commit()
    finally:
        await database.dispose()


async def test_a_long_poll_on_one_worker_is_answered_when_another_worker_replies(
    quiet_settings: Settings,
) -> None:
    postgres_only(quiet_settings)
    first, first_url = await start(quiet_settings)
    second, second_url = await start(quiet_settings)
    family = await ChatFamily.open(first_url)
    try:
        assert "ar" in str(await family.replies())
        after = family.after
        held = asyncio.create_task(bot_reply(family.session, first_url, after))
        await asyncio.sleep(0.5)  # the poll is waiting on the first worker
        family.base_url = second_url
        await family.send(choice="en")  # received, processed and answered on the second
        reply, seconds = await held
        assert reply.strip()
        assert seconds < PROMPT
    finally:
        await family.close()
        await first.close()
        await second.close()


async def test_an_outbox_row_written_elsewhere_is_delivered_to_a_held_poll_at_once(
    quiet_settings: Settings,
) -> None:
    postgres_only(quiet_settings)
    first, first_url = await start(quiet_settings)
    second, _ = await start(quiet_settings)
    family = await ChatFamily.open(first_url)
    try:
        await family.replies()
        contact_id = await contact_of(quiet_settings.database_url)
        held = asyncio.create_task(poll(family.session, first_url, family.after))
        await asyncio.sleep(0.5)
        await queue_reply(quiet_settings.database_url, contact_id, "A note from the team.")
        messages, seconds = await held
        assert "A note from the team." in texts(messages)
        assert seconds < PROMPT
    finally:
        await family.close()
        await first.close()
        await second.close()


async def test_a_timer_written_elsewhere_fires_at_its_due_time(
    quiet_settings: Settings,
) -> None:
    postgres_only(quiet_settings)
    first, _ = await start(quiet_settings)
    second, _ = await start(quiet_settings)
    database = Database(quiet_settings.database_url)
    try:
        await asyncio.sleep(1.0)  # both clocks ran their start-up look and sleep an hour
        due = datetime.now(UTC) + timedelta(seconds=1)
        async with UnitOfWork(database) as uow:
            timer = Timer(kind=SlaKind.ACKNOWLEDGE_DUE, audience=Audience.COORDINATOR,
                          due_at=due)
            uow.session.add(timer)
            await uow.commit()
            timer_id = timer.id
        fired_at = None
        async with asyncio.timeout(1 + PROMPT):
            while fired_at is None:
                await asyncio.sleep(0.1)
                async with database.sessions() as session:
                    fired_at = (await session.get(Timer, timer_id, populate_existing=True)
                                ).fired_at  # type: ignore[union-attr]
        assert fired_at >= due
    finally:
        await database.dispose()
        await first.close()
        await second.close()


async def test_the_listener_reconnects_after_its_connection_is_killed(
    quiet_settings: Settings,
) -> None:
    postgres_only(quiet_settings)
    server, base_url = await start(quiet_settings)
    wakeups = server.app[WAKEUPS]
    family = await ChatFamily.open(base_url)
    database = Database(quiet_settings.database_url)
    try:
        await family.replies()
        assert wakeups.live
        async with database.engine.connect() as connection:
            killed = await connection.scalar(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = :name"),
                {"name": APPLICATION_NAME})
        assert killed >= 1
        async with asyncio.timeout(10):
            while wakeups.live:
                await asyncio.sleep(0.05)
            while not wakeups.live:
                await asyncio.sleep(0.05)
        contact_id = await contact_of(quiet_settings.database_url)
        held = asyncio.create_task(poll(family.session, base_url, family.after))
        await asyncio.sleep(0.5)
        await queue_reply(quiet_settings.database_url, contact_id, "Still heard.")
        messages, seconds = await held
        assert "Still heard." in texts(messages)
        assert seconds < PROMPT
    finally:
        await database.dispose()
        await family.close()
        await server.close()


async def test_on_sqlite_a_held_poll_is_woken_in_process(quiet_settings: Settings) -> None:
    if not quiet_settings.database_url.startswith("sqlite"):
        pytest.skip("the in-process wake-up is SQLite's")
    server, base_url = await start(quiet_settings)
    family = await ChatFamily.open(base_url)
    try:
        await family.replies()
        held = asyncio.create_task(bot_reply(family.session, base_url, family.after))
        await asyncio.sleep(0.5)
        await family.send(choice="en")
        reply, seconds = await held
        assert reply.strip()
        assert seconds < PROMPT
    finally:
        await family.close()
        await server.close()
