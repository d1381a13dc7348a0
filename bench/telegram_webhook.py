"""Benchmark: simulated families drive the Telegram webhook; replies arrive at a fake Bot API.

    .venv/bin/python -m bench.telegram_webhook [--sizes 10,100,500] [--db sqlite,postgresql]

For each database and each number of parallel conversations it measures, in the same run:

* **baseline** - a bare aiohttp handler that checks the secret and stores the raw update in
  the same database (one insert, one commit), answering 200;
* **full path** - the real application: webhook → durable inbound event → per-contact
  processing → conversation engine → state, transcript and outbox in one transaction →
  dispatcher → python-telegram-bot → the fake Bot API. Latency is from the webhook POST to
  the reply arriving at the fake.

The server runs in its own process (the load generator and the fake in this one). Telegram's
rate limits are policies, not costs: the per-chat spacing and the 30 msg/s limiter are turned
off here so the figures show the software's own capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import multiprocessing
import os
import random
import socket
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web
from sqlalchemy import JSON, BigInteger, Column, Integer, MetaData, String, Table, insert

from bench.common import (
    drop_database,
    fresh_database,
    percentile,
    reachable_databases,
    table,
)
from tests.fakes.telegram_api import SECRET, TOKEN, FakeTelegram, Sent

TEXTS = ["/start", "English", "yes", "I am the patient", "Maria Lopez", "24/03/1975",
         "Female", "Morocco", "Oncology"]
RAW = MetaData()
RAW_UPDATES = Table(
    "bench_raw_updates", RAW,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("provider_key", String(64), unique=True),
    Column("payload", JSON),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- servers (child process) -----------------------------------------------------------------


async def _serve_baseline(database_url: str, port: int, stop: Any) -> None:
    from storage.db import Database
    from storage.unit_of_work import UnitOfWork

    database = Database(database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(RAW.create_all)

    async def webhook(request: web.Request) -> web.Response:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(secret.encode(), SECRET.encode()):
            return web.Response(status=403)
        data = await request.json()
        async with UnitOfWork(database) as uow:
            await uow.session.execute(insert(RAW_UPDATES).values(
                provider_key=f"1:{data['update_id']}", payload=data))
            await uow.commit()
        return web.Response()

    app = web.Application()
    app.router.add_post("/webhooks/telegram", webhook)
    await _run_until(app, port, stop)
    await database.dispose()


async def _serve_full(
    database_url: str, port: int, stop: Any, fake_url: str, reuse_port: bool = False
) -> None:
    from bot.app import create_app
    from bot.keys import CHANNELS
    from bot.settings import Settings

    settings = Settings(
        database_url=database_url, host="127.0.0.1", port=port,
        data_dir=Path(tempfile.mkdtemp()), telegram_bot_token=TOKEN,
        telegram_webhook_secret=SECRET, telegram_api_base_url=f"{fake_url}/bot",
        telegram_max_rate=0, outbox_poll_seconds=0.5, timer_poll_seconds=3600,
    )
    app = create_app(settings)

    async def no_spacing(app: web.Application) -> None:
        app[CHANNELS]["telegram"].per_chat_interval = 0.0

    app.on_startup.append(no_spacing)
    await _run_until(app, port, stop, reuse_port)


async def _run_until(
    app: web.Application, port: int, stop: Any, reuse_port: bool = False
) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024,
                      reuse_port=reuse_port or None).start()
    while not stop.is_set():
        await asyncio.sleep(0.1)
    await runner.cleanup()


def _child(
    kind: str, database_url: str, port: int, stop: Any, fake_url: str, workers: int = 1
) -> None:
    import logging

    logging.disable(logging.WARNING)
    import os

    if kind == "baseline":
        asyncio.run(_serve_baseline(database_url, port, stop))
    elif os.environ.get("BENCH_PROFILE"):
        from pyinstrument import Profiler

        with Profiler(interval=0.0005) as profiler:
            asyncio.run(_serve_full(database_url, port, stop, fake_url))
        Path(os.environ["BENCH_PROFILE"]).write_text(profiler.output_text(show_all=False))
    else:
        asyncio.run(_serve_full(database_url, port, stop, fake_url, reuse_port=workers > 1))
    if os.environ.get("BENCH_DEBUG"):
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        sys.stderr.write(
            f"{kind} server cpu: user {usage.ru_utime:.2f}s sys {usage.ru_stime:.2f}s\n")


# -- load (this process) ---------------------------------------------------------------------


@dataclass
class Result:
    kind: str
    db: str
    conversations: int
    messages: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


async def _wait_up(url: str) -> None:
    async with ClientSession() as session:
        for _ in range(200):
            with contextlib.suppress(OSError):
                async with session.post(url, json={}) as response:
                    if response.status in (200, 400, 403):
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


async def run_case(
    kind: str, db: str, conversations: int, turns: int, workdir: Path, think: float = 0.0,
    workers: int = 1,
) -> Result:
    database_url, name = await fresh_database(db, workdir)
    fake = FakeTelegram()
    fake_url = await fake.start()
    replies: defaultdict[int, asyncio.Queue[float]] = defaultdict(asyncio.Queue)

    def arrived(sent: Sent) -> None:
        replies[sent.chat_id].put_nowait(time.perf_counter())

    fake.on_send.append(arrived)
    port = free_port()
    stop = multiprocessing.get_context("spawn").Event()
    count = workers if kind == "full" else 1
    processes = [multiprocessing.get_context("spawn").Process(
        target=_child, args=(kind, database_url, port, stop, fake_url, count), daemon=True)
        for _ in range(count)]
    for process in processes:
        process.start()
    url = f"http://127.0.0.1:{port}/webhooks/telegram"
    latencies: list[float] = []
    errors = 0
    try:
        await _wait_up(url)
        connector = TCPConnector(limit=conversations)
        async with ClientSession(connector=connector, timeout=ClientTimeout(60)) as session:

            async def family(chat_id: int) -> None:
                nonlocal errors
                rng = random.Random(chat_id)
                if think:
                    await asyncio.sleep(rng.uniform(0, think))
                for n, text in enumerate(TEXTS[:turns]):
                    if think and n:
                        await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))
                    update = fake.text_update(chat_id, text)
                    started = time.perf_counter()
                    async with session.post(
                        url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                    ) as response:
                        await response.read()
                        if response.status != 200:
                            errors += 1
                            continue
                    if kind == "baseline":
                        latencies.append(time.perf_counter() - started)
                        continue
                    try:
                        done = await asyncio.wait_for(replies[chat_id].get(), 60)
                    except TimeoutError:
                        errors += 1
                        continue
                    latencies.append(done - started)

            began = time.perf_counter()
            await asyncio.gather(*(family(50_000 + n) for n in range(conversations)))
            seconds = time.perf_counter() - began
    finally:
        if os.environ.get("BENCH_DEBUG"):
            sys.stderr.write(f"{kind}: fake saw {len(fake.sent)} sends, "
                             f"{len(fake.calls)} calls\n")
        stop.set()
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.terminate()
        await fake.close()
        await drop_database(name)
    return Result(kind, db, conversations, len(latencies), seconds, latencies, errors)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,500")
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes for the full path (PostgreSQL only)")
    parser.add_argument("--think", type=float, default=0.0,
                        help="seconds a family takes to answer (0: answer at once, saturation)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    databases = await reachable_databases(args.db)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for db in databases:
            for size in sizes:
                base = await run_case("baseline", db, size, args.turns, Path(tmp), args.think)
                workers = args.workers if db == "postgresql" else 1
                full = await run_case("full", db, size, args.turns, Path(tmp), args.think,
                                      workers)
                for r in (base, full):
                    rows.append([
                        r.db, r.conversations, "bare handler (store raw update)"
                        if r.kind == "baseline" else "full path (reply at fake Bot API)",
                        r.messages, f"{r.rate:.0f}",
                        f"{percentile(r.latencies, 50) * 1000:.1f}",
                        f"{percentile(r.latencies, 99) * 1000:.1f}",
                        f"{full.rate / base.rate:.2f}" if r is full and base.rate else "",
                        r.errors,
                    ])
                sys.stdout.write(table(
                    ["db", "conversations", "what", "messages", "msg/s", "p50 ms", "p99 ms",
                     "full/baseline", "errors"], rows[-2:]) + "\n\n")
                sys.stdout.flush()
    sys.stdout.write(table(["db", "conversations", "what", "messages", "msg/s", "p50 ms",
                            "p99 ms", "full/baseline", "errors"], rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
