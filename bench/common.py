"""Shared helpers for the benchmarks: fresh databases, percentiles, tables."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from storage.db import Database
from storage.migrate import upgrade

PG_ADMIN = os.environ.get("INTAKE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def fresh_database(kind: str, workdir: Path) -> tuple[str, str | None]:
    """A migrated, empty database; returns its URL and, for PostgreSQL, its name to drop."""
    if kind == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite+aiosqlite:///{path}"
        name = None
    else:
        name = f"intake_bench_{uuid.uuid4().hex[:10]}"
        connection = await asyncpg.connect(PG_ADMIN)
        await connection.execute(f'CREATE DATABASE "{name}"')
        await connection.close()
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        url = f"{url}/{name}"
    database = Database(url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()
    return url, name


async def drop_database(name: str | None) -> None:
    """Drop a PostgreSQL database made by `fresh_database`."""
    if name is None:
        return
    connection = await asyncpg.connect(PG_ADMIN)
    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await connection.close()


async def postgres_available() -> bool:
    """Whether the benchmark PostgreSQL answers."""
    try:
        connection = await asyncio.wait_for(asyncpg.connect(PG_ADMIN), 5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await connection.close()
    return True


async def reachable_databases(spec: str) -> list[str]:
    """The databases of a `--db` option that can run here (PostgreSQL skipped, with a word on
    stderr, when it does not answer)."""
    databases = spec.split(",")
    if "postgresql" in databases and not await postgres_available():
        sys.stderr.write("PostgreSQL not reachable: skipping it\n")
        databases.remove("postgresql")
    return databases


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) of a sample."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, int(q) - 1))]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, for the terminal and the README alike."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "| " + " | ".join("-" * w for w in widths) + " |"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
            for r in cells]
    return "\n".join([line, rule, *body])
