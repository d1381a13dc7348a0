"""Crash-safe delivery: a server killed with SIGKILL loses nothing and, after a restart, sends
again only the calls that were truly in flight, because each delivery is recorded as soon as
its provider call returns (not when the slowest send of a round returns).

The server runs in a process of its own (`python -m bot run`), talking to the fake Bot API in
this one; families post updates and retry them, as Telegram does, while the server is down.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientSession
from sqlalchemy import select

from bot.settings import Settings
from storage.db import Database
from storage.tables import Contact, InboundEvent, Message, OutboxItem
from tests.e2e.test_metrics import free_port, wait_until_up
from tests.fakes.telegram_api import SECRET, TOKEN, FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["/start", "English", "yes", "I am the patient", "Maria Lopez", "24/03/1975",
         "Female", "Morocco", "Oncology"]
# A claim older than this was made by a dead process; sends here take milliseconds.
STALE_CLAIM_SECONDS = 15


class Server:
    """`intake-bot run` in a child process, killed and restarted at will."""

    def __init__(self, settings: Settings, fake: FakeTelegram, workdir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.env = {
            **os.environ, "DATABASE_URL": settings.database_url, "PORT": str(self.port),
            "HOST": "127.0.0.1", "DATA_DIR": str(workdir / "data"), "PYTHONPATH": str(ROOT),
            "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_API_BASE_URL": fake.api_base_url,
            # Rate limits are provider policy, not what this test is about.
            "TELEGRAM_PER_CHAT_INTERVAL": "0", "TELEGRAM_MAX_RATE": "0",
            "OUTBOX_STALE_CLAIM_SECONDS": str(STALE_CLAIM_SECONDS),
        }
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        with (self.workdir / f"server-{self.starts}.log").open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"], cwd=self.workdir, env=self.env,
                stdout=log, stderr=subprocess.STDOUT,
            )
        await wait_until_up(self.base, self.process)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, nothing in flight is recorded."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


async def post_until_accepted(http: ClientSession, server: Server,
                              update: dict[str, Any]) -> None:
    """Telegram retries a webhook delivery until it is answered 200."""
    for _ in range(600):
        try:
            async with http.post(f"{server.base}/webhooks/telegram", json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as answer:
                if answer.status == 200:
                    return
        except (ClientError, OSError):
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("an update was never accepted")


async def drained(database_url: str, timeout: float = 90.0) -> list[tuple[str, str]]:
    """Once every update is processed and every reply sent: (chat, status) of each row."""
    database = Database(database_url)
    try:
        async with asyncio.timeout(timeout):
            while True:
                async with database.sessions() as session:
                    pending = (await session.execute(select(InboundEvent.id).where(
                        InboundEvent.processed_at.is_(None)))).all()
                    rows = (await session.execute(
                        select(Contact.external_id, OutboxItem.status)
                        .join(Contact, Contact.id == OutboxItem.contact_id))).all()
                if not pending and rows and all(status == "sent" for _, status in rows):
                    return [(chat, status) for chat, status in rows]
                await asyncio.sleep(0.25)
    finally:
        await database.dispose()


def lost_and_repeated(rows: list[tuple[str, str]], fake: FakeTelegram) -> tuple[int, int]:
    """Per chat: replies the database holds against messages Telegram received."""
    expected = Counter(int(chat) for chat, _ in rows)
    received = Counter(sent.chat_id for sent in fake.sent)
    lost = sum(max(0, n - received[chat]) for chat, n in expected.items())
    repeated = sum(max(0, n - expected[chat]) for chat, n in received.items())
    return lost, repeated


async def test_killed_under_load_the_server_loses_nothing_and_repeats_only_in_flight_sends(
    settings: Settings, fake: FakeTelegram, tmp_path: Path,
) -> None:
    families = 30
    server = Server(settings, fake, tmp_path)
    await server.start()
    try:
        async with ClientSession() as http:

            async def family(chat_id: int) -> None:
                for text in TEXTS:
                    seen = len(fake.to(chat_id))
                    await post_until_accepted(http, server, fake.text_update(chat_id, text))
                    # The next answer once a reply arrived (or a while passed: a crash).
                    for _ in range(30):
                        if len(fake.to(chat_id)) > seen:
                            break
                        await asyncio.sleep(0.1)

            async def crash() -> None:
                while len(fake.sent) < families * 4:
                    await asyncio.sleep(0.005)
                server.kill()
                in_flight.append(fake.answering)
                await asyncio.sleep(0.5)
                await server.start()

            in_flight: list[int] = []
            crashing = asyncio.create_task(crash())
            await asyncio.gather(*(family(70_000 + n) for n in range(families)))
            await crashing
        rows = await drained(settings.database_url)
    finally:
        server.stop()
    assert server.starts == 2
    assert len(rows) >= families * len(TEXTS)
    lost, repeated = lost_and_repeated(rows, fake)
    sys.stdout.write(f"\ncrash under load: {len(rows)} replies, {lost} lost, "
                     f"{repeated} repeated; {in_flight[0]} calls unanswered at the kill\n")
    assert lost == 0
    if settings.database_url.startswith("postgresql"):
        # The recorder's own thread commits within milliseconds of each send returning: 1-3
        # repeats measured (the aim is 5), 6 once with other suites loading the machine; the
        # margin keeps a busy CI from failing on it. A round-based recorder repeats 9-16 here.
        assert repeated <= 8
    else:
        # SQLite records in the one event loop, behind the conversation turn that holds
        # the single writer's lock (README, Deployment): a window of a few hundred ms at
        # this load. Still at most one send per chat: a chat has one message in flight.
        assert repeated <= families


async def queue_replies(database_url: str, chats: list[int], per_chat: int) -> None:
    """Replies committed for several Telegram chats, waiting for the dispatcher."""
    database = Database(database_url)
    now = datetime.now(UTC)
    try:
        async with database.sessions() as session:
            for chat in chats:
                contact = Contact(channel="telegram", external_id=str(chat), locale="en")
                session.add(contact)
                await session.flush()
                for n in range(per_chat):
                    message = Message(contact_id=contact.id, direction="out", author="bot",
                                      text=f"reply {n} to {chat}", created_at=now)
                    session.add(message)
                    await session.flush()
                    session.add(OutboxItem(
                        contact_id=contact.id, message_id=message.id, channel="telegram",
                        payload={"text": f"reply {n} to {chat}", "options": [],
                                 "multiple": False, "locale": "en"},
                        next_attempt_at=now, created_at=now))
            await session.commit()
    finally:
        await database.dispose()


async def statuses(database_url: str) -> Counter[str]:
    database = Database(database_url)
    try:
        async with database.sessions() as session:
            return Counter((await session.execute(select(OutboxItem.status))).scalars())
    finally:
        await database.dispose()


async def test_a_kill_while_one_send_is_in_flight_repeats_that_send_alone(
    settings: Settings, fake: FakeTelegram, tmp_path: Path,
) -> None:
    chats, per_chat, slow = [80_000 + n for n in range(10)], 3, 80_000
    await queue_replies(settings.database_url, chats, per_chat)
    # Telegram shows the slow chat's first message, but its answer never reaches the bot.
    fake.hold(slow)
    server = Server(settings, fake, tmp_path)
    await server.start()
    try:
        others = (len(chats) - 1) * per_chat
        async with asyncio.timeout(20):
            # Every other chat's replies are sent and recorded while that call is in flight.
            while (await statuses(settings.database_url))["sent"] < others:
                await asyncio.sleep(0.1)
        assert len(fake.held) == 1
        assert (await statuses(settings.database_url)) == Counter(
            {"sent": others, "sending": 1, "pending": per_chat - 1})
        server.kill()
        fake.release()
        await server.start()
        rows = await drained(settings.database_url)
    finally:
        server.stop()
    lost, repeated = lost_and_repeated(rows, fake)
    assert (lost, repeated) == (0, 1)
    assert [sent.text for sent in fake.to(slow)] == [
        "reply 0 to 80000", "reply 0 to 80000", "reply 1 to 80000", "reply 2 to 80000"]
