"""Benchmark: the durable timers with 1 000 and 100 000 pending.

    .venv/bin/python -m bench.timers [--sizes 1000,100000] [--soon 300] [--db sqlite,postgresql]

For each database and each number pending it fills a fresh database with SQLAlchemy Core
bulk inserts: timers spread over the coming year, a slice already overdue and `--soon` timers
due during the run (spread over `--window` seconds starting a few seconds after the server
starts). Then it starts the real application in its own process (the default poll of 30 s,
so only the timer loop's own wake-ups can fire a timer on time) and measures:

* **start-up** - from the server's start to every overdue timer fired (the first round);
  it must not grow with the number pending;
* **fire lag** - fired time minus due time of the timers due during the run, p50/p99;
* **baseline** - a bare asyncio loop in its own process sleeping until the same due times
  (the lag of the event loop itself on this machine, at the same moment).

It also checks that every timer due fired exactly once and that none not yet due fired.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bench.common import (
    drop_database,
    fresh_database,
    percentile,
    reachable_databases,
    table,
)
from bench.telegram_webhook import free_port
from storage.tables import Timer

CHUNK = 10_000
OVERDUE = 100
LEAD = 5.0  # seconds between the server's start and the first timer due during the run


async def fill(database_url: str, pending: int) -> None:
    """`pending` timers over the coming year and `OVERDUE` already due, all coordinator
    alerts without a case (firing one logs it; the loop's own cost is what is measured)."""
    from storage.db import Database

    database = Database(database_url)
    now = datetime.now(UTC)
    rows = []
    for n in range(pending):
        rows.append({"kind": "opinion_due", "audience": "coordinator",
                     "due_at": now + timedelta(days=1 + 364 * n / pending), "created_at": now})
    for n in range(OVERDUE):
        rows.append({"kind": "acknowledge_due", "audience": "coordinator",
                     "due_at": now - timedelta(minutes=1 + n), "created_at": now})
    async with database.engine.begin() as connection:
        for start in range(0, len(rows), CHUNK):
            await connection.execute(insert(Timer), rows[start:start + CHUNK])
        if not database.is_sqlite:
            await connection.exec_driver_sql("ANALYZE timers")
    await database.dispose()


async def add_soon(database_url: str, dues: list[datetime]) -> None:
    """The timers due during the run."""
    from storage.db import Database

    database = Database(database_url)
    async with database.engine.begin() as connection:
        await connection.execute(insert(Timer), [
            {"kind": "completeness_check_due", "audience": "coordinator", "due_at": due,
             "created_at": datetime.now(UTC)} for due in dues])
    await database.dispose()


# -- servers (child process) -----------------------------------------------------------------


async def _serve_full(database_url: str, port: int, stop: Any, data_dir: str,
                      ready: Any, go: Any) -> None:
    from aiohttp import web

    from bot.app import create_app
    from bot.settings import Settings

    settings = Settings(database_url=database_url, host="127.0.0.1", port=port,
                        data_dir=Path(data_dir), timer_poll_seconds=30)
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    ready.set()  # imports done: the parent writes the timers due soon, then says go
    await asyncio.to_thread(go.wait)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    while not stop.is_set():
        await asyncio.sleep(0.1)
    await runner.cleanup()


async def _sleep_until(dues: Any, lags: Any, ready: Any, go: Any) -> None:
    """The baseline: one task per due time, each sleeping until it."""
    ready.set()
    await asyncio.to_thread(go.wait)

    async def one(index: int, due: float) -> None:
        await asyncio.sleep(max(0.0, due - time.time()))
        lags[index] = time.time() - due

    await asyncio.gather(*(one(n, d) for n, d in enumerate(list(dues))))


def _child(kind: str, *args: Any) -> None:
    import logging

    logging.disable(logging.WARNING)
    if kind == "baseline":
        asyncio.run(_sleep_until(*args))
    else:
        asyncio.run(_serve_full(*args))


# -- measuring (this process) ----------------------------------------------------------------


@dataclass
class Result:
    db: str
    pending: int
    startup: float
    lags: list[float]
    baseline: list[float]
    fired: int
    expected: int
    early: int


async def _fired(database_url: str, kind: str) -> list[tuple[datetime, datetime | None]]:
    from storage.db import Database

    database = Database(database_url)
    async with database.sessions() as session:
        found = [(due, fired) for due, fired in await session.execute(
            select(Timer.due_at, Timer.fired_at).where(Timer.kind == kind))]
    await database.dispose()
    return found


async def _count_fired_early(database_url: str) -> int:
    from storage.db import Database

    database = Database(database_url)
    async with database.sessions() as session:
        early = await session.scalar(select(func.count()).select_from(Timer).where(
            Timer.kind == "opinion_due", Timer.fired_at.is_not(None)))
    await database.dispose()
    return int(early or 0)


async def run_case(db: str, pending: int, soon: int, window: float, workdir: Path) -> Result:
    database_url, name = await fresh_database(db, workdir)
    context = multiprocessing.get_context("spawn")
    try:
        await fill(database_url, pending)
        # Baseline first, on its own: the same spread of due times, a bare event loop.
        dues_at, lags = context.Array("d", soon), context.Array("d", soon)
        ready, go = context.Event(), context.Event()
        process = context.Process(target=_child, args=("baseline", dues_at, lags, ready, go))
        process.start()
        await asyncio.to_thread(ready.wait, 120)
        base_start = time.time() + LEAD
        for n in range(soon):
            dues_at[n] = base_start + window * n / soon
        go.set()
        await asyncio.to_thread(process.join, LEAD + window + 30)
        baseline = list(lags)

        stop, ready, go = context.Event(), context.Event(), context.Event()
        process = context.Process(target=_child, daemon=True, args=(
            "full", database_url, free_port(), stop, tempfile.mkdtemp(dir=workdir), ready, go))
        process.start()
        startup = float("nan")
        try:
            await asyncio.to_thread(ready.wait, 120)
            start = datetime.now(UTC) + timedelta(seconds=LEAD)
            await add_soon(database_url, [start + timedelta(seconds=window * n / soon)
                                          for n in range(soon)])
            began = time.time()
            go.set()
            deadline = began + LEAD + window + 60
            while time.time() < deadline:
                if startup != startup and all(
                        f for _, f in await _fired(database_url, "acknowledge_due")):
                    startup = time.time() - began
                late = await _fired(database_url, "completeness_check_due")
                if all(f for _, f in late) and startup == startup:
                    break
                await asyncio.sleep(0.02)
        finally:
            stop.set()
            await asyncio.to_thread(process.join, 30)
            if process.is_alive():
                process.terminate()
        late = await _fired(database_url, "completeness_check_due")
        fired_lags = [(f - d).total_seconds() for d, f in late if f is not None]
        early = await _count_fired_early(database_url)
        return Result(db, pending, startup, fired_lags, baseline, len(fired_lags), soon, early)
    finally:
        await drop_database(name)


HEADERS = ["db", "pending", "what", "start-up ms", "lag p50 ms", "lag p99 ms", "fired",
           "fired early"]


def rows_of(results: list[Result]) -> list[list[object]]:
    """Each measured row beside its baseline."""
    out: list[list[object]] = []
    for r in results:
        out.append([r.db, r.pending, "baseline: bare asyncio sleep until due", "",
                    f"{percentile(r.baseline, 50) * 1000:.1f}",
                    f"{percentile(r.baseline, 99) * 1000:.1f}", len(r.baseline), ""])
        out.append([r.db, r.pending, "timer loop (app, 30 s poll)", f"{r.startup * 1000:.0f}",
                    f"{percentile(r.lags, 50) * 1000:.1f}",
                    f"{percentile(r.lags, 99) * 1000:.1f}", f"{r.fired}/{r.expected}",
                    r.early])
    return out


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--soon", type=int, default=300, help="timers due during the run")
    parser.add_argument("--window", type=float, default=15.0,
                        help="seconds over which they fall due")
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    databases = await reachable_databases(args.db)
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        for db in databases:
            for size in (int(s) for s in args.sizes.split(",")):
                result = await run_case(db, size, args.soon, args.window, Path(tmp))
                results.append(result)
                sys.stdout.write(table(HEADERS, rows_of([result])) + "\n\n")
                sys.stdout.flush()
    sys.stdout.write(table(HEADERS, rows_of(results)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
