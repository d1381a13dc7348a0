"""Fresh migrated databases for tests: SQLite by default, PostgreSQL when asked.

`INTAKE_TEST_DB=postgresql` runs the suite against the real PostgreSQL
(`INTAKE_TEST_PG`, default 127.0.0.1:5432 with trust auth, database `test`). Each test gets
its own database, copied from a template migrated once per run; every run uses its own
names so that concurrent runs do not collide.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import uuid
from pathlib import Path

import asyncpg

from storage.db import Database
from storage.migrate import upgrade

PG_ADMIN = os.environ.get("INTAKE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
RUN_ID = uuid.uuid4().hex[:8]


def backend() -> str:
    """Which database the suite runs on."""
    return os.environ.get("INTAKE_TEST_DB", "sqlite")


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()


class SqliteFactory:
    """Copies one migrated SQLite file per test."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.template = root / "template.db"
        asyncio.run(_migrate(f"sqlite+aiosqlite:///{self.template}"))

    def create(self) -> str:
        """A new database URL."""
        path = self.root / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(self.template, path)
        return f"sqlite+aiosqlite:///{path}"

    def create_empty(self) -> str:
        """A URL of a database with no schema at all (a restore target)."""
        return f"sqlite+aiosqlite:///{self.root / f'empty-{uuid.uuid4().hex}.db'}"

    def close(self) -> None:
        """Nothing to drop: the files live in pytest's temporary directory."""


class PostgresFactory:
    """Creates one database per test from a migrated template database."""

    def __init__(self) -> None:
        self.template = f"intake_tpl_{RUN_ID}"
        self.created: list[str] = []
        asyncio.run(self._admin(f'CREATE DATABASE "{self.template}"'))
        asyncio.run(_migrate(self._url(self.template)))

    def _url(self, name: str) -> str:
        base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        return f"{base}/{name}"

    async def _admin(self, *statements: str) -> None:
        connection = await asyncpg.connect(PG_ADMIN, timeout=10)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    def create(self) -> str:
        """A new database URL."""
        name = f"intake_{RUN_ID}_{uuid.uuid4().hex[:10]}"
        asyncio.run(self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        self.created.append(name)
        return self._url(name)

    def create_empty(self) -> str:
        """A URL of a database with no schema at all (a restore target)."""
        name = f"intake_{RUN_ID}_{uuid.uuid4().hex[:10]}"
        # In a thread of its own: callable from a test whose event loop is running.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, self._admin(f'CREATE DATABASE "{name}"')).result()
        self.created.append(name)
        return self._url(name)

    def close(self) -> None:
        """Drop every database this run made."""
        names = [*self.created, self.template]
        asyncio.run(self._admin(*(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in names)))


def postgres_reachable() -> bool:
    """Whether the test PostgreSQL answers."""

    async def ping() -> None:
        connection = await asyncpg.connect(PG_ADMIN, timeout=5)
        await connection.close()

    try:
        asyncio.run(ping())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    return True
