"""Readiness: a load balancer sends traffic only where the database, schema and files work."""

from __future__ import annotations

import shutil

from aiohttp.test_utils import TestClient
from sqlalchemy import text

from bot.app import create_app
from bot.settings import Settings
from storage.db import Database


async def test_a_migrated_instance_with_a_writable_store_is_ready(
    client: TestClient[object, object],
) -> None:
    response = await client.get("/readyz")

    assert response.status == 200
    assert await response.json() == {
        "status": "ready", "checks": {"database": "ok", "schema": "ok", "files": "ok"},
    }
    assert response.headers["Cache-Control"] == "no-store"


async def test_a_schema_behind_the_code_is_not_ready(
    settings: Settings, aiohttp_client: object
) -> None:
    database = Database(settings.database_url)
    async with database.engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    await database.dispose()
    client = await aiohttp_client(create_app(settings))  # type: ignore[operator]

    response = await client.get("/readyz")

    assert response.status == 503
    assert (await response.json())["checks"]["schema"] == "behind"


async def test_a_file_store_that_cannot_be_written_is_not_ready(
    settings: Settings, client: TestClient[object, object]
) -> None:
    tmp = settings.data_dir / "files" / "tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text("a file where the store writes its partial uploads")  # a full or broken disk

    response = await client.get("/readyz")

    assert response.status == 503
    assert (await response.json())["checks"] == {
        "database": "ok", "schema": "ok", "files": "unwritable",
    }
