"""Liveness and readiness: `/healthz` says the process and database answer, `/readyz` that
this instance can take traffic (database reachable, schema at the code's head, file store
writable). A load balancer routes on `/readyz`; neither says anything about data."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from aiohttp import web
from alembic.script import ScriptDirectory
from sqlalchemy import text

from bot.keys import DATABASE, SETTINGS
from storage.migrate import alembic_config

routes = web.RouteTableDef()
CHECK_SECONDS = 5.0


def schema_head(url: str) -> str | None:
    """The newest migration this code knows."""
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


async def _schema_revision(request: web.Request) -> str | None:
    async with request.app[DATABASE].engine.connect() as connection:
        result = await connection.execute(text("SELECT version_num FROM alembic_version"))
        return result.scalar_one_or_none()


def _probe_file_store(root: Path) -> None:
    """Write, sync and remove a small file where uploads are written."""
    tmp = root / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    probe = tmp / f".ready-{secrets.token_hex(8)}"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"ready")
        os.fsync(fd)
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """200 when the database answers at the schema head and the file store takes writes."""
    settings = request.app[SETTINGS]
    checks: dict[str, str] = {}
    try:
        revision = await asyncio.wait_for(_schema_revision(request), CHECK_SECONDS)
        checks["database"] = "ok"
        checks["schema"] = "ok" if revision == schema_head(settings.database_url) else "behind"
    except Exception:
        checks["database"] = "unavailable"
        checks["schema"] = "unknown"
    try:
        await asyncio.wait_for(
            asyncio.to_thread(_probe_file_store, Path(settings.data_dir) / "files"),
            CHECK_SECONDS,
        )
        checks["files"] = "ok"
    except Exception:
        checks["files"] = "unwritable"
    ready = all(value == "ok" for value in checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503, headers={"Cache-Control": "no-store"},
    )
