"""Retention: a case closed long ago is erased entirely, stored files included."""

from __future__ import annotations

from datetime import timedelta

from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.keys import FILES, TIMERS
from bot.settings import Settings
from intake.case import CaseStatus
from storage.db import Database
from storage.tables import Case, Contact, Document, Message, Timer
from tests.clock import FakeClock


async def one_chunk(data: bytes):  # type: ignore[no-untyped-def]
    yield data


async def test_a_case_closed_beyond_retention_is_erased_with_its_files(
    settings: Settings,
) -> None:
    clock = FakeClock()
    app = create_app(settings, clock=clock)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    database = Database(settings.database_url)
    try:
        stored = await app[FILES].put(one_chunk(b"%PDF-1.4 lab results"), max_size=1024)
        closed = clock() - timedelta(days=400)
        async with database.sessions() as session:
            contact = Contact(channel="webchat", external_id="x", created_at=closed)
            session.add(contact)
            await session.flush()
            case = Case(reference="SO-OLD001", contact_id=contact.id,
                        status=CaseStatus.CLOSED, language="en",
                        answers={"patient_name": "Old Patient"}, closed_at=closed,
                        created_at=closed, updated_at=closed)
            session.add(case)
            await session.flush()
            session.add(Message(contact_id=contact.id, case_id=case.id, direction="in",
                                author="family", text="my clinical question", created_at=closed))
            session.add(Document(case_id=case.id, kind="lab_results", filename="lab.pdf",
                                 size=stored.size, sha256=stored.sha256,
                                 storage_key=stored.key, created_at=closed))
            session.add(Timer(case_id=case.id, contact_id=contact.id, kind="follow_up_ends",
                              audience="family", due_at=clock() + timedelta(days=1)))
            await session.commit()

        assert await app[TIMERS].purge_closed_cases() == 1

        async with database.sessions() as session:
            (case,) = (await session.execute(select(Case))).scalars()
            assert case.status == CaseStatus.ERASED and case.answers == {}
            assert (await session.execute(select(Document))).scalars().all() == []
            assert (await session.execute(select(Message))).scalars().all() == []
            (timer,) = (await session.execute(select(Timer))).scalars()
            assert timer.cancelled_at is not None
        assert not await app[FILES].exists(stored.key)
    finally:
        await database.dispose()
        await server.close()
