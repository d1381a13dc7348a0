"""Fixtures of the attack tests: the app on a loopback port, and its database for checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from bot.app import create_app
from bot.settings import Settings
from storage.db import Database

Start = Callable[..., Awaitable[str]]


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `telegram_ctx` opts into, undone after each test."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def start(settings: Settings) -> AsyncIterator[Start]:
    """Start the whole app (settings overridden per test); returns its base URL."""
    servers: list[TestServer] = []

    async def run(**overrides: Any) -> str:
        server = TestServer(create_app(settings.with_overrides(**overrides)), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield run
    for server in servers:
        await server.close()


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    """The test's database, read straight."""
    database = Database(settings.database_url)
    yield database
    await database.dispose()


async def count(db: Database, model: type, *where: Any) -> int:
    """How many rows of `model` match."""
    async with db.sessions() as session:
        query = select(func.count()).select_from(model).where(*where)
        return int(await session.scalar(query) or 0)
