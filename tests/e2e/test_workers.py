"""Several processes on one PostgreSQL: a family whose messages land on either is served once,
in order (the load-balanced deployment of `intake-bot run --workers N`)."""

from __future__ import annotations

import pytest

from bot.settings import Settings
from storage.tables import Case, InboundEvent, OutboxItem
from tests.e2e.chat_client import ChatFamily, texts
from tests.e2e.test_webchat_intake import ENGLISH_INTAKE, answer, rows, start_server


async def test_messages_spread_over_two_workers_are_processed_once_and_in_order(
    settings: Settings,
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("several workers share one PostgreSQL; SQLite is single-process")
    first, first_url = await start_server(settings)
    second, second_url = await start_server(settings)
    family = await ChatFamily.open(first_url)
    try:
        await family.replies()
        for n, (how, value) in enumerate(ENGLISH_INTAKE[:8]):
            family.base_url = (first_url, second_url)[n % 2]  # a load balancer's round robin
            replies = await answer(family, how, value)
            assert replies, value
        assert "What best describes the situation" in texts(replies)
    finally:
        await family.close()
        await first.close()
        await second.close()
    (case,) = await rows(settings.database_url, Case)
    assert case.answers["patient_name"] == "Amira Benali"
    assert case.answers["patient_country"] == "MA"
    events = await rows(settings.database_url, InboundEvent)
    assert all(e.processed_at is not None and e.attempts == 0 for e in events)
    outbox = await rows(settings.database_url, OutboxItem)
    assert all(item.status == "sent" and item.attempts == 1 for item in outbox)
