"""The outbox dispatcher: at-least-once delivery, per-chat order, backoff, holds, claims."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.channels.base import Attachment, ChannelError, Outbound, SendResult
from bot.messaging.outbox import OutboxDispatcher, backoff_seconds
from storage.db import Database
from storage.tables import Contact, Message, OutboxItem
from tests.clock import FakeClock


class RecordingChannel:
    """A channel of our own that records sends and fails on demand."""

    name = "test"
    per_chat_interval = 0.0
    max_text_length = 4096

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.failures: list[ChannelError] = []
        self.delay = 0.0

    async def send(self, message: Outbound) -> SendResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((message.external_id, message.text))
        return SendResult(provider_message_id=f"p{message.outbox_id}")

    async def fetch(self, attachment: Attachment) -> AsyncIterator[bytes]:
        raise ChannelError("no files")
        yield b""


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


async def queue(db: Database, clock: FakeClock, per_contact: dict[str, int]) -> None:
    """Outbox rows: `n` numbered messages for each external id."""
    async with db.sessions() as session:
        for external_id, count in per_contact.items():
            contact = Contact(channel="test", external_id=external_id)
            session.add(contact)
            await session.flush()
            for n in range(count):
                message = Message(contact_id=contact.id, direction="out", author="bot",
                                  text=f"{external_id}-{n}", created_at=clock())
                session.add(message)
                await session.flush()
                session.add(OutboxItem(contact_id=contact.id, message_id=message.id,
                                       channel="test", payload={"text": f"{external_id}-{n}"},
                                       next_attempt_at=clock(), created_at=clock()))
        await session.commit()


async def drain(dispatcher: OutboxDispatcher, rounds: int = 50) -> None:
    for _ in range(rounds):
        if not await dispatcher.dispatch_once():
            return


async def statuses(db: Database) -> list[str]:
    async with db.sessions() as session:
        return list((await session.execute(
            select(OutboxItem.status).order_by(OutboxItem.id))).scalars())


async def test_every_message_is_sent_once_in_order_per_chat(database: Database) -> None:
    clock, channel = FakeClock(), RecordingChannel()
    await queue(database, clock, {"a": 5, "b": 3})
    await drain(OutboxDispatcher(database, {"test": channel}, clock))
    by_chat: dict[str, list[str]] = defaultdict(list)
    for chat, text in channel.sent:
        by_chat[chat].append(text)
    assert by_chat == {"a": [f"a-{n}" for n in range(5)], "b": [f"b-{n}" for n in range(3)]}
    assert set(await statuses(database)) == {"sent"}


async def test_a_failed_send_is_retried_after_backoff_and_order_is_kept(
    database: Database,
) -> None:
    clock, channel = FakeClock(), RecordingChannel()
    await queue(database, clock, {"a": 3})
    channel.failures = [ChannelError("500")]
    dispatcher = OutboxDispatcher(database, {"test": channel}, clock)
    await drain(dispatcher)
    assert channel.sent == []  # the first failed; the others wait behind it
    clock.advance(seconds=5)
    await drain(dispatcher)
    assert [text for _, text in channel.sent] == ["a-0", "a-1", "a-2"]


async def test_retry_after_from_the_provider_is_respected(database: Database) -> None:
    clock, channel = FakeClock(), RecordingChannel()
    await queue(database, clock, {"a": 1})
    channel.failures = [ChannelError("429", retry_after=30)]
    dispatcher = OutboxDispatcher(database, {"test": channel}, clock)
    await drain(dispatcher)
    clock.advance(seconds=29)
    await drain(dispatcher)
    assert channel.sent == []
    clock.advance(seconds=2)
    await drain(dispatcher)
    assert channel.sent == [("a", "a-0")]


async def test_a_blocked_chat_is_marked_and_not_retried(database: Database) -> None:
    clock, channel = FakeClock(), RecordingChannel()
    await queue(database, clock, {"a": 1})
    channel.failures = [ChannelError("403", blocked=True)]
    dispatcher = OutboxDispatcher(database, {"test": channel}, clock)
    await drain(dispatcher)
    clock.advance(hours=1)
    await drain(dispatcher)
    assert await statuses(database) == ["failed"]
    async with database.sessions() as session:
        contact = (await session.execute(select(Contact))).scalar_one()
        assert contact.blocked_at is not None and contact.needs_human


async def test_a_held_message_is_kept_for_coordinators(database: Database) -> None:
    clock, channel = FakeClock(), RecordingChannel()
    await queue(database, clock, {"a": 1})
    channel.failures = [ChannelError("outside window", hold=True)]
    await drain(OutboxDispatcher(database, {"test": channel}, clock))
    assert await statuses(database) == ["held"]


async def test_rows_left_sending_by_a_crash_are_sent_after_restart(database: Database) -> None:
    clock, channel = FakeClock(), RecordingChannel()
    await queue(database, clock, {"a": 2})
    async with database.sessions() as session:
        from storage import repositories as repo

        await repo.claim_due_outbox(session, clock())
        await session.commit()  # claimed, then the process died before sending
    clock.advance(minutes=5)
    dispatcher = OutboxDispatcher(database, {"test": channel}, clock)
    await dispatcher.release_stale()
    await drain(dispatcher)
    assert [text for _, text in channel.sent] == ["a-0", "a-1"]


async def test_two_dispatchers_send_each_message_exactly_once(database: Database) -> None:
    if database.is_sqlite:
        pytest.skip("several dispatchers share work on PostgreSQL; SQLite runs one process")
    clock, channel = FakeClock(), RecordingChannel()
    channel.delay = 0.01
    await queue(database, clock, {f"c{n}": 4 for n in range(20)})
    first = OutboxDispatcher(database, {"test": channel}, clock)
    second = OutboxDispatcher(Database(database.url), {"test": channel}, clock)
    try:
        await asyncio.gather(drain(first, 200), drain(second, 200))
    finally:
        await second.db.dispose()
    assert len(channel.sent) == 80
    assert len(set(channel.sent)) == 80
    for n in range(20):
        chat = [text for external, text in channel.sent if external == f"c{n}"]
        assert chat == [f"c{n}-{i}" for i in range(4)]


def test_backoff_grows_and_honours_retry_after() -> None:
    assert backoff_seconds(1) <= 1.0
    assert 8.0 <= backoff_seconds(5) <= 16.0
    assert backoff_seconds(50) <= 600.0
    assert backoff_seconds(1, retry_after=42) == 42
    assert timedelta(seconds=backoff_seconds(3)) < timedelta(seconds=5)
