"""Shared fixtures: a fresh database per test, the app, and a live server for the browser."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import settings as hypothesis_settings

from bot.app import create_app
from bot.settings import Settings
from tests.databases import PostgresFactory, SqliteFactory, backend, postgres_reachable
from tests.factories import make_settings

# Property tests check behaviour, not speed (speed is the benchmarks' job): no per-example
# deadline, which a busy machine or parallel test workers would turn into false failures.
hypothesis_settings.register_profile("suite", deadline=None)
hypothesis_settings.load_profile("suite")


@pytest.fixture(scope="session")
def database_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SqliteFactory | PostgresFactory]:
    """One template database per run, on the backend the run asked for."""
    if backend() == "postgresql":
        if not postgres_reachable():
            if os.environ.get("CI") == "true":
                pytest.fail("PostgreSQL is not reachable and CI requires it")
            pytest.skip("PostgreSQL is not reachable")
        factory: SqliteFactory | PostgresFactory = PostgresFactory()
    else:
        factory = SqliteFactory(tmp_path_factory.mktemp("db"))
    yield factory
    factory.close()


@pytest.fixture
def database_url(database_factory: SqliteFactory | PostgresFactory) -> str:
    """A fresh, migrated, empty database for this test."""
    return database_factory.create()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings of a test app: its own database and data directory."""
    return make_settings(database_url=database_url, data_dir=tmp_path / "data")


@pytest.fixture
async def client(
    settings: Settings, aiohttp_client: object
) -> AsyncIterator[TestClient[object, object]]:
    """An HTTP client on the whole app (workers running)."""
    yield await aiohttp_client(create_app(settings))  # type: ignore[operator]


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[str]:
    """The app on a real loopback port, for the browser."""
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()
