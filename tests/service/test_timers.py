"""Reminders and SLA alerts: rows created by domain events, fired once when due."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.keys import TIMERS
from bot.settings import Settings
from storage.db import Database
from storage.tables import Contact, Message, Timer
from tests.clock import FakeClock
from tests.e2e.chat_client import ChatFamily
from tests.e2e.test_webchat_intake import ENGLISH_INTAKE, answer


async def submitted_case(settings: Settings, clock: FakeClock) -> tuple[TestServer, ChatFamily]:
    """An app on a fake clock with one family that completed its intake."""
    app = create_app(settings, clock=clock)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    family = await ChatFamily.open(f"http://127.0.0.1:{server.port}")
    await family.replies()
    for how, value in ENGLISH_INTAKE:
        await answer(family, how, value)
    await family.tap("confirm")
    return server, family


async def family_texts(url: str) -> list[str]:
    database = Database(url)
    try:
        async with database.sessions() as session:
            query = select(Message.text).where(Message.direction == "out").order_by(Message.id)
            return list((await session.execute(query)).scalars())
    finally:
        await database.dispose()


async def timers(url: str) -> list[Timer]:
    database = Database(url)
    try:
        async with database.sessions() as session:
            return list((await session.execute(select(Timer).order_by(Timer.id))).scalars())
    finally:
        await database.dispose()


async def test_missing_documents_reminder_reaches_the_family_once(settings: Settings) -> None:
    clock = FakeClock()
    server, family = await submitted_case(settings, clock)
    try:
        service = server.app[TIMERS]
        assert await service.fire_due() == 0
        clock.advance(days=3)
        fired = await service.fire_due()
        assert fired >= 2  # acknowledgement and completeness alerts for coordinators
        assert await service.fire_due() == 0
        replies = await family.replies()
    finally:
        await family.close()
        await server.close()
    rows = await timers(settings.database_url)
    assert all(t.fired_at is not None for t in rows if t.due_at <= clock.now)
    coordinator = [t for t in rows if t.audience == "coordinator" and t.fired_at]
    assert {t.kind for t in coordinator} >= {"acknowledge_due", "completeness_check_due"}
    assert replies == [] or all("reminder" in m["text"].lower() for m in replies)


async def test_due_timers_fire_exactly_once_with_concurrent_workers(settings: Settings) -> None:
    clock = FakeClock()
    server, family = await submitted_case(settings, clock)
    try:
        service = server.app[TIMERS]
        clock.advance(days=40)
        counts = await asyncio.gather(*(service.fire_due() for _ in range(4)))
        total = len([t for t in await timers(settings.database_url) if t.due_at <= clock.now])
        assert sum(counts) == total
    finally:
        await family.close()
        await server.close()


async def test_stopped_reminders_are_not_sent(settings: Settings) -> None:
    clock = FakeClock()
    server, family = await submitted_case(settings, clock)
    try:
        await family.say("stop reminders")
        before = await family_texts(settings.database_url)
        clock.advance(days=40)
        await server.app[TIMERS].fire_due()
        after = await family_texts(settings.database_url)
    finally:
        await family.close()
        await server.close()
    assert after == before
    database = Database(settings.database_url)
    try:
        async with database.sessions() as session:
            contact = (await session.execute(select(Contact))).scalar_one()
            assert contact.reminders_off
    finally:
        await database.dispose()
