"""The timer loop with many pending timers: earliest first, each once, none early or missed,
and each round reads one batch and one row, however many wait."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import event, insert, select

from bot.i18n.catalog import Catalogs
from bot.i18n.render import Renderer
from bot.messaging.replies import ReplyWriter
from bot.messaging.timers import BATCH, TimerLoop, TimerService
from storage.db import Database
from storage.tables import Timer
from tests.clock import FakeClock

PENDING = 2_000  # far more than a batch
SPREAD = timedelta(days=30)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(database: Database, clock: FakeClock) -> TimerService:
    return TimerService(database, ReplyWriter(Renderer(Catalogs())), clock)


async def add_pending(db: Database, clock: FakeClock, count: int = PENDING) -> None:
    """Coordinator alerts (firing one only logs it) spread over the next 30 days, written out
    of order so that the id order is not the due order."""
    order = sorted(range(count), key=lambda n: (n * 7919) % count)
    async with db.engine.begin() as connection:
        await connection.execute(insert(Timer), [
            {"kind": "opinion_due", "audience": "coordinator",
             "due_at": clock.now + SPREAD * (n + 1) / count, "created_at": clock.now}
            for n in order])


async def all_timers(db: Database) -> list[Timer]:
    async with db.sessions() as session:
        return list((await session.execute(select(Timer).order_by(Timer.id))).scalars())


class LoadedTimers:
    """Counts the timer rows the ORM builds (each row read into a `Timer`)."""

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> LoadedTimers:
        event.listen(Timer, "load", self._loaded)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Timer, "load", self._loaded)

    def _loaded(self, target: Timer, context: object) -> None:
        self.count += 1


async def test_timers_fire_in_due_order_once_none_early_none_missed(
    database: Database, clock: FakeClock, service: TimerService,
) -> None:
    await add_pending(database, clock)
    fired_when: dict[int, object] = {}
    for _ in range(12):
        clock.advance(days=2, hours=7)
        await service.fire_due()
        for timer in await all_timers(database):
            if timer.fired_at is None:
                assert timer.due_at > clock.now, "a due timer was missed"
                continue
            assert timer.due_at <= timer.fired_at, "a timer fired before it was due"
            # Fired once: the time it fired never changes in a later round.
            assert fired_when.setdefault(timer.id, timer.fired_at) == timer.fired_at
    timers = await all_timers(database)
    assert len(fired_when) == len([t for t in timers if t.due_at <= clock.now]) > PENDING // 2
    # Earliest first: a round that fired a timer had fired every one due before it.
    by_due = sorted(timers, key=lambda t: (t.due_at, t.id))
    fired_at = [t.fired_at for t in by_due if t.fired_at is not None]
    assert fired_at == sorted(fired_at)
    assert all(t.fired_at is None for t in by_due[len(fired_at):])


async def test_a_round_reads_one_batch_and_the_next_due_time_not_every_pending_timer(
    database: Database, clock: FakeClock, service: TimerService,
) -> None:
    await add_pending(database, clock)
    with LoadedTimers() as loaded:
        assert await service.fire_due() == 0  # start-up with nothing due reads no timer
        earliest = await service.next_due()
    assert loaded.count == 0
    assert earliest == clock.now + SPREAD / PENDING

    clock.advance(days=3)  # 200 due: two full batches and an empty one
    due = len([t for t in await all_timers(database) if t.due_at <= clock.now])
    assert due == 2 * BATCH
    with LoadedTimers() as loaded:
        assert await service.fire_due() == due
    assert loaded.count == due


async def test_the_loop_wakes_at_the_earliest_due_time_not_the_next_poll(
    database: Database, clock: FakeClock, service: TimerService,
) -> None:
    # The loop schedules on the wall clock: pending timers due from a minute from now.
    clock.now = datetime.now(UTC)
    await add_pending(database, clock, 300)
    async with database.engine.begin() as connection:
        await connection.execute(insert(Timer).values(
            kind="acknowledge_due", audience="coordinator",
            due_at=clock.now - timedelta(minutes=5), created_at=clock.now))
    scheduler = AsyncIOScheduler(timezone="UTC")
    loop = TimerLoop(service, scheduler)
    scheduler.add_job(loop.round, "interval", hours=24, id="timers")
    scheduler.start(paused=True)
    try:
        assert await loop.round() == 1  # the overdue one, at start-up
        wake = scheduler.get_job("timers-next")
        assert wake is not None
        assert wake.next_run_time == clock.now + timedelta(days=30) / 300
        # A poll that comes first makes the wake-up unnecessary.
        scheduler.get_job("timers").modify(next_run_time=clock.now + timedelta(seconds=1))
        scheduler.remove_job("timers-next")
        await loop.round()
        assert scheduler.get_job("timers-next") is None
    finally:
        scheduler.shutdown(wait=False)
