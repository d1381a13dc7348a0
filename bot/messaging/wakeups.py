"""Wake-ups: "there is new work" reaches every waiting loop, in this process or in another.

Three kinds of news wake a loop: outbox work is ready (the dispatcher), the earliest timer
moved (the timer clock) and a web-chat conversation has something new (its long polls).

* In one process (SQLite, the embedded default) the writer calls `publish` after its commit
  and the subscribers run at once.
* On PostgreSQL every process keeps one dedicated connection that `LISTEN`s. The writers do
  not need to know: triggers of migration 0006 call `pg_notify` in the transaction that
  writes the outbox or timer row, so a notification is delivered only after that commit, to
  every worker at once. A notification carries an opaque id (a contact id, a due time),
  never personal or clinical data.

While the listening connection is down `live` is False: the loops fall back to re-reading
the database every second or so until it is back, so nothing stalls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.db import Database

log = logging.getLogger(__name__)

# Channel names; the triggers of migration 0006_delivery notify the same names.
OUTBOX = "intake_outbox"
TIMERS = "intake_timers"
WEBCHAT = "intake_webchat"
CHANNELS = (OUTBOX, TIMERS, WEBCHAT)

Subscriber = Callable[[str], None]
# How operators (and the tests) find the listening connections in pg_stat_activity.
APPLICATION_NAME = "intake-wakeups"

MIN_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0
# A connection that died without a FIN (a NAT, a failover) is noticed by this ping.
PING_SECONDS = 10.0


class Wakeups:
    """The in-process hub: `publish` calls every subscriber of a channel."""

    def __init__(self) -> None:
        self._subscribers: defaultdict[str, list[Subscriber]] = defaultdict(list)

    @property
    def live(self) -> bool:
        """Whether every write that matters is announced here (no re-read needed)."""
        return True

    def subscribe(self, channel: str, subscriber: Subscriber) -> None:
        """Call `subscriber(payload)` on every wake-up of `channel`."""
        self._subscribers[channel].append(subscriber)

    def publish(self, channel: str, payload: str = "") -> None:
        """Wake this process's subscribers (after the commit that made the news)."""
        for subscriber in list(self._subscribers.get(channel, ())):
            try:
                subscriber(payload)
            except Exception:
                log.exception("wake-up subscriber failed", extra={"channel": channel})

    async def announce(self, channel: str, payload: str = "") -> None:
        """Tell every process, for news that no trigger sees (a family's own message)."""
        self.publish(channel, payload)

    async def start(self) -> None:
        """Nothing to connect in one process."""

    async def close(self) -> None:
        """Nothing to disconnect in one process."""


class PostgresWakeups(Wakeups):
    """One `LISTEN` connection per process; reconnects with back-off when it drops."""

    def __init__(self, database: Database) -> None:
        super().__init__()
        self.database = database
        self.dsn = asyncpg_dsn(database.url)
        self._connection: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._ready = asyncio.Event()

    @property
    def live(self) -> bool:
        """True while the listening connection is up."""
        return self._connection is not None and not self._connection.is_closed()

    async def start(self) -> None:
        """Listen in the background; wait briefly for the first connection (a database
        that is down does not stop the server: the loops re-read meanwhile)."""
        self._task = asyncio.create_task(self._listen_forever(), name="wakeups")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), 5)

    async def close(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._disconnect()

    async def announce(self, channel: str, payload: str = "") -> None:
        """`pg_notify` outside any other transaction (it is itself the news)."""
        self.publish(channel, payload)
        async with self.database.engine.connect() as connection:
            await connection.execute(text("SELECT pg_notify(:channel, :payload)"),
                                     {"channel": channel, "payload": payload})
            await connection.commit()

    async def _listen_forever(self) -> None:
        delay = MIN_RETRY_SECONDS
        while True:
            try:
                await self._connect()
                delay = MIN_RETRY_SECONDS
                await self._watch()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
                log.warning("wake-up listener down", extra={"error": type(error).__name__,
                                                            "retry_seconds": delay})
            await self._disconnect()
            await asyncio.sleep(delay)
            delay = min(MAX_RETRY_SECONDS, delay * 2)

    async def _connect(self) -> None:
        self._lost.clear()
        connection = await asyncpg.connect(
            self.dsn, timeout=10, server_settings={"application_name": APPLICATION_NAME})
        connection.add_termination_listener(lambda _: self._lost.set())
        for channel in CHANNELS:
            await connection.add_listener(channel, self._received)
        self._connection = connection
        reconnected = self._ready.is_set()
        self._ready.set()
        log.info("wake-up listener connected")
        if reconnected:
            # Whatever was committed while nobody listened: every loop looks once now.
            for channel in CHANNELS:
                self.publish(channel, "")

    async def _watch(self) -> None:
        assert self._connection is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), PING_SECONDS)
            if self._lost.is_set():
                raise OSError("listening connection closed")
            await self._connection.fetchval("SELECT 1", timeout=PING_SECONDS)

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5)

    def _received(self, _connection: object, _pid: int, channel: str, payload: str) -> None:
        self.publish(channel, payload)


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL as asyncpg's own connect() wants it."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


def for_database(database: Database) -> Wakeups:
    """PostgreSQL listens across processes; SQLite (one process) wakes in process."""
    return Wakeups() if database.is_sqlite else PostgresWakeups(database)


def due_time(payload: str) -> datetime | None:
    """A timers notification's payload: the new earliest due time, in epoch seconds."""
    try:
        return datetime.fromtimestamp(float(payload), UTC)
    except (ValueError, OverflowError, OSError):
        return None
