"""The inbox list's pages: the urgency and activity orders across pages, ties, tabs, capped
counts, and the last activity each new message moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, column, insert, select, table, update

from intake.case import CaseStatus
from storage import receipts, views
from storage import repositories as repo
from storage.db import Database
from storage.migrate import upgrade
from storage.tables import Contact, UTCDateTime
from tests.e2e.test_inbox import add_login, seed_case

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


async def seeded(database_url: str, database: Database) -> tuple[int, dict[str, int]]:
    """Ten conversations: four with a signal of the urgency order, one request nobody has
    taken, five quiet ones (two with the same last activity). Returns my coordinator id."""
    me = (await add_login(database_url)).id
    other = (await add_login(database_url, "bo@team.example", "Bo")).id
    ids: dict[str, int] = {}
    ids["urgent"], _ = await seed_case(database_url, urgent=True, unread=0, assigned_to=other)
    ids["unread2"], _ = await seed_case(database_url, unread=2, assigned_to=me)
    ids["unread1"], _ = await seed_case(database_url, unread=1, assigned_to=other)
    ids["human"], _ = await seed_case(database_url, unread=0, assigned_to=me)
    ids["unclaimed"], _ = await seed_case(database_url, unread=0)
    for n in range(5):
        ids[f"quiet{n}"], _ = await seed_case(database_url, unread=0,
                                              assigned_to=me if n % 2 else other,
                                              status=CaseStatus.IN_REVIEW_SPECIALIST)
    async with database.sessions() as session:
        await session.execute(update(Contact).where(Contact.id == ids["human"])
                              .values(needs_human=True))
        for n, key in enumerate(ids):
            # Distinct activity times, except quiet3 and quiet4 which tie.
            at = NOW - timedelta(hours=min(n, 8))
            await session.execute(update(Contact).where(Contact.id == ids[key])
                                  .values(last_activity_at=at))
        await session.commit()
    return me, ids


def urgency_key(row: views.InboxRow) -> tuple[object, ...]:
    return (row.urgent, row.open_alerts, row.needs_human, row.held + row.failed, row.unread,
            row.last_activity, row.contact_id)


async def walk(database: Database, size: int, **options: object) -> list[int]:
    """Every page of the list, `size` rows at a time, following the cursors."""
    listed: list[int] = []
    cursor: views.Cursor | None = None
    for _ in range(20):
        async with database.sessions() as session:
            page = await views.inbox_page(session, limit=size, after=cursor,
                                          **options)  # type: ignore[arg-type]
        assert len(page.rows) <= size
        listed += [row.contact_id for row in page.rows]
        if page.next is None:
            return listed
        cursor = views.Cursor.parse(str(page.next))  # as the link carries it
    raise AssertionError("the pages never end")


@pytest.mark.parametrize("sort", list(views.InboxSort))
async def test_pages_follow_one_order_without_gaps_or_repeats(
    database_url: str, database: Database, sort: views.InboxSort,
) -> None:
    me, ids = await seeded(database_url, database)
    async with database.sessions() as session:
        whole = await views.inbox_page(session, show=views.InboxFilter.ALL, sort=sort,
                                       coordinator_id=me)
    assert whole.next is None and {r.contact_id for r in whole.rows} == set(ids.values())
    if sort is views.InboxSort.URGENCY:
        assert whole.rows == sorted(whole.rows, key=urgency_key, reverse=True)
        assert [r.contact_id for r in whole.rows[:4]] == [
            ids["urgent"], ids["human"], ids["unread2"], ids["unread1"]]
    else:
        assert whole.rows == sorted(whole.rows, key=lambda r: (r.last_activity, r.contact_id),
                                    reverse=True)
    # The two tied rows come by id, newest first, on either side of a page break.
    tied = [r.contact_id for r in whole.rows if r.contact_id in (ids["quiet3"], ids["quiet4"])]
    assert tied == sorted(tied, reverse=True)
    for size in (1, 3, 4, 9):
        assert await walk(database, size, show=views.InboxFilter.ALL, sort=sort,
                          coordinator_id=me) == [r.contact_id for r in whole.rows], size


async def test_tabs_hold_their_own_conversations_page_after_page(
    database_url: str, database: Database,
) -> None:
    me, ids = await seeded(database_url, database)
    attention = await walk(database, 2, show=views.InboxFilter.ATTENTION, coordinator_id=me)
    # Signalled first in urgency order, then the request nobody has taken (an urgent case
    # that is assigned and read waits for nobody).
    assert attention == [ids["human"], ids["unread2"], ids["unread1"], ids["unclaimed"]]
    mine = await walk(database, 2, show=views.InboxFilter.MINE, coordinator_id=me)
    assert set(mine) == {ids["unread2"], ids["human"], ids["quiet1"], ids["quiet3"]}
    assert mine[:2] == [ids["human"], ids["unread2"]]
    assert await walk(database, 2, show=views.InboxFilter.UNCONSENTED, coordinator_id=me) == []


async def test_counts_are_exact_up_to_the_cap_then_say_more(
    database_url: str, database: Database,
) -> None:
    me, _ = await seeded(database_url, database)
    async with database.sessions() as session:
        exact = await views.inbox_counts(session, coordinator_id=me)
        capped = await views.inbox_counts(session, coordinator_id=me, cap=3)
    assert (exact.attention, exact.mine, exact.all, exact.unconsented) == (4, 4, 10, 0)
    assert not any(exact.capped(n) for n in (exact.attention, exact.mine, exact.all))
    assert capped.cap == 3 and capped.capped(capped.all) and capped.capped(capped.mine)
    assert capped.all == capped.mine == capped.attention == 4  # counted up to cap + 1


def test_a_malformed_cursor_is_the_first_page() -> None:
    for value in (None, "", "x1", "s", "s-5", "q12", "q1.x", "q" + "9" * 60, "s99999999999"):
        cursor = views.Cursor.parse(value)
        assert cursor.before is None and 0 <= cursor.offset <= 10**9
    again = views.Cursor.parse(str(views.Cursor(before=(NOW, 42))))
    assert again.before == (NOW, 42)


async def test_a_new_message_moves_the_last_activity_forward_never_back(
    database: Database,
) -> None:
    async with database.sessions() as session:
        contact = Contact(channel="webchat", external_id="f", created_at=NOW)
        session.add(contact)
        await session.flush()
        assert contact.last_activity_at == NOW  # a new contact: its creation
        repo.add_message(session, contact, direction="in", author="family", text="hi",
                         now=NOW + timedelta(minutes=5))
        repo.add_message(session, contact, direction="out", author="bot", text="late",
                         now=NOW + timedelta(minutes=1))
        await session.commit()
        await session.refresh(contact)
    assert contact.last_activity_at == NOW + timedelta(minutes=5)


async def test_the_migration_fills_the_last_activity_of_existing_contacts(
    database_factory: Any,
) -> None:
    database = Database(database_factory.create_empty())
    contacts = table("contacts", column("id"), column("channel"), column("external_id"),
                     column("reminders_off"), column("needs_human"), column("unread"),
                     column("created_at", UTCDateTime()),
                     column("last_activity_at", UTCDateTime()))
    messages = table("messages", column("contact_id"), column("direction"), column("author"),
                     column("text"), column("options", JSON()), column("multiple"),
                     column("attachments"), column("created_at", UTCDateTime()))
    try:
        await upgrade(database, "0004")
        async with database.engine.begin() as connection:
            for contact_id in (1, 2):
                await connection.execute(insert(contacts).values(
                    id=contact_id, channel="webchat", external_id=str(contact_id),
                    reminders_off=False, needs_human=False, unread=0, created_at=NOW))
            await connection.execute(insert(messages), [
                {"contact_id": 1, "direction": d, "author": "family", "text": "", "options": [],
                 "multiple": False, "attachments": 0, "created_at": NOW + timedelta(hours=h)}
                for d, h in (("in", 3), ("out", 5), ("in", 4))])
        await upgrade(database)
        async with database.engine.connect() as connection:
            found = dict((await connection.execute(
                select(contacts.c.id, contacts.c.last_activity_at))).all())
    finally:
        await database.dispose()
    assert found == {1: NOW + timedelta(hours=5), 2: NOW}


async def test_the_hot_path_writers_move_the_last_activity_too(database: Database) -> None:
    """A family's message (the webhook's receipt) and a queued reply (the reply writer's
    prepared inserts) both move the conversation up the activity order."""
    async with database.sessions() as session:
        contact_id = await receipts.touch_contact(
            session, "telegram", "42", display_name=None, locale_hint=None, now=NOW)
        await session.commit()
    async with database.sessions() as session:
        contact = await session.get(Contact, contact_id)
        assert contact is not None and contact.last_activity_at == NOW
        await receipts.touch_contact(session, "telegram", "42", display_name=None,
                                     locale_hint=None, now=NOW + timedelta(minutes=3))
        await session.commit()
        await session.refresh(contact)
        assert contact.last_activity_at == NOW + timedelta(minutes=3)
        await repo.queue_reply(session, contact, author="bot", text="hello",
                               payload={"text": "hello"}, now=NOW + timedelta(minutes=4))
        await session.commit()
        await session.refresh(contact)
    assert contact.last_activity_at == NOW + timedelta(minutes=4)
