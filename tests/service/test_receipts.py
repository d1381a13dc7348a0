"""Durable receipt and in-order processing on the hot path (Core receipt, one transaction)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.channels.base import Inbound
from bot.messaging.inbound import InboundProcessor
from storage.db import Database
from storage.tables import Contact, InboundEvent, Message
from tests.clock import FakeClock


class RecordingHandler:
    """Our own stand-in for the intake handler: records what it was given, and can fail
    after it has written a transcript line."""

    def __init__(self) -> None:
        self.handled: list[str | None] = []
        self.fail_on: str | None = None

    async def handle(self, session: Any, contact: Contact, event: InboundEvent,
                     inbound: Inbound, now: datetime) -> list[str]:
        session.add(Message(contact_id=contact.id, direction="out", author="bot",
                            text=f"re: {inbound.text}", created_at=now))
        await session.flush()
        if inbound.text == self.fail_on:
            raise RuntimeError("handler bug")
        self.handled.append(inbound.text)
        return []


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


def said(text: str, key: str) -> Inbound:
    return Inbound(channel="telegram", external_id="42", provider_key=key, text=text,
                   display_name="Amal")


async def settle(processor: InboundProcessor) -> None:
    for _ in range(100):
        if not any(not task.done() for task in processor._tasks.values()):
            return
        await asyncio.sleep(0.02)


async def test_a_repeated_delivery_changes_nothing_and_answers_with_the_first_receipt(
    database: Database,
) -> None:
    clock, handler = FakeClock(), RecordingHandler()
    processor = InboundProcessor(database, handler, clock)  # type: ignore[arg-type]
    first = await processor.receive(said("hello", "1:100"))
    received_at = clock()
    clock.advance(minutes=5)
    again = await processor.receive(said("hello", "1:100"))
    await settle(processor)

    assert first.created and not again.created
    assert (again.event_id, again.contact_id, again.message_id) == (
        first.event_id, first.contact_id, first.message_id)
    async with database.sessions() as session:
        contact = (await session.execute(select(Contact))).scalar_one()
        family_lines = await session.scalar(
            select(func.count()).select_from(Message).where(Message.direction == "in"))
        events = await session.scalar(select(func.count()).select_from(InboundEvent))
    assert contact.last_inbound_at == received_at
    assert contact.display_name == "Amal"
    assert (family_lines, events) == (1, 1)
    assert handler.handled == ["hello"]


async def test_events_that_wait_together_are_all_processed_in_order(
    database: Database,
) -> None:
    clock, handler = FakeClock(), RecordingHandler()
    processor = InboundProcessor(database, handler, clock)  # type: ignore[arg-type]
    for n in range(4):
        await processor.receive(said(f"message {n}", f"1:{200 + n}"))
    await settle(processor)

    assert handler.handled == [f"message {n}" for n in range(4)]
    async with database.sessions() as session:
        pending = await session.scalar(select(func.count()).select_from(InboundEvent).where(
            InboundEvent.processed_at.is_(None)))
    assert pending == 0


async def test_a_failing_event_leaves_nothing_of_its_processing_behind(
    database: Database,
) -> None:
    clock, handler = FakeClock(), RecordingHandler()
    handler.fail_on = "boom"
    processor = InboundProcessor(database, handler, clock)  # type: ignore[arg-type]
    receipt = await processor.receive(said("boom", "1:300"))
    await settle(processor)

    async with database.sessions() as session:
        replies = list((await session.execute(
            select(Message.text).where(Message.direction == "out"))).scalars())
        event = await session.get(InboundEvent, receipt.event_id)
    assert replies == []  # the line written before the error was rolled back with the rest
    assert event is not None and event.processed_at is None
    assert event.attempts == 1 and event.error == "RuntimeError"
