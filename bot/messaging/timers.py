"""Timers are rows, APScheduler is the clock: due reminders and SLA alerts fire once.

Any number of workers may run `fire_due`: on PostgreSQL each claims rows with
`FOR UPDATE SKIP LOCKED`; on SQLite the single process serialises writers. APScheduler only
decides *when* to look (an interval job plus the daily retention purge); it keeps no state
of its own, so a restart loses nothing and a timer due during downtime fires on start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.i18n.render import isolate
from bot.journey.video import current_booking, video_reminder
from bot.messaging.erasure import erase_case
from bot.messaging.replies import ReplyWriter
from bot.messaging.wakeups import TIMERS as TIMERS_CHANGED
from bot.messaging.wakeups import Wakeups, due_time
from bot.operations.metrics import metrics
from intake.case import CaseStatus, is_terminal
from intake.checklist import checklist_for, missing_items
from intake.deadlines import Audience, SlaKind
from intake.prompts import N_, Lines, Prompt, Text
from storage import repositories as repo
from storage.db import Database
from storage.files import FileStore
from storage.tables import Case, Timer
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

BATCH = 100
RETRY = timedelta(seconds=1)


# The reminders that only name the request; the documents reminder lists what is missing.
FAMILY_REMINDERS: dict[str, str] = {
    SlaKind.UPLOAD_LINK_EXPIRING: N_(
        "Your secure upload link for request {reference} expires tomorrow. Write "
        "\u201cnew link\u201d if you need another one."),
    SlaKind.UPLOAD_LINK_EXPIRED: N_(
        "Your upload link for request {reference} has expired. Write \u201cnew link\u201d "
        "to receive a new one."),
    SlaKind.FOLLOW_UP_ENDING: N_(
        "The 30-day follow-up period of your request {reference} ends soon. If you have "
        "questions about the opinion, please write to us now."),
    SlaKind.FOLLOW_UP_ENDS: N_(
        "The follow-up period of your request {reference} has ended. Thank you for "
        "your trust."),
}


class TimerService:
    """Fires due timers: family reminders go to the outbox, SLA alerts to the inbox."""

    def __init__(
        self, db: Database, writer: ReplyWriter, clock: Clock, *, on_committed: object = None,
        retention_days: int = 365, files: FileStore | None = None,
    ) -> None:
        self.db = db
        self.writer = writer
        self.clock = clock
        self.on_committed = on_committed if callable(on_committed) else (lambda: None)
        self.retention = timedelta(days=retention_days)
        self.files = files

    async def fire_due(self) -> int:
        """Fire every timer due now; returns how many fired."""
        fired = 0
        while True:
            count = await self._fire_batch()
            fired += count
            if count < BATCH:
                break
        if fired:
            self.on_committed()
        return fired

    async def next_due(self) -> datetime | None:
        """When the earliest timer still to fire is due (the clock sleeps until then)."""
        async with UnitOfWork(self.db, write=False) as uow:
            due: datetime | None = await uow.session.scalar(
                select(func.min(Timer.due_at))
                .where(Timer.fired_at.is_(None), Timer.cancelled_at.is_(None)))
        return due

    async def _fire_batch(self) -> int:
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            session = uow.session
            timers = await _claim_due(session, now, locking=self.db.is_sqlite is False)
            for timer in timers:
                timer.fired_at = now
                metrics().timers_fired.labels(timer.kind).inc()
                if timer.audience == Audience.FAMILY:
                    # One timer that fails must not hold back every other one: it is marked
                    # fired (and logged by id) while its own work rolls back.
                    try:
                        async with session.begin_nested():
                            await self._remind_family(uow, timer, now)
                    except Exception:
                        log.exception("timer failed", extra={"timer_id": timer.id})
                else:
                    log.warning("sla alert due", extra={"case_id": timer.case_id,
                                                        "kind": timer.kind,
                                                        "timer_id": timer.id})
            await uow.commit()
        return len(timers)

    async def _remind_family(self, uow: UnitOfWork, timer: Timer, now: datetime) -> None:
        session = uow.session
        # The contact's lock first, as every other writer of its conversation takes it: a
        # reminder never races an erasure or a message being processed.
        contact = await repo.lock_contact(session, timer.contact_id) if timer.contact_id else None
        case = await session.get(Case, timer.case_id) if timer.case_id else None
        if case is not None:
            await session.refresh(case)
        if case is None or contact is None or is_terminal(case.status):
            return
        if timer.kind == SlaKind.FOLLOW_UP_ENDS and case.status == CaseStatus.FOLLOW_UP:
            repo.change_status(session, case, CaseStatus.CLOSED, "system", now)
            case.closed_at = now
        if contact.reminders_off or contact.blocked_at is not None:
            return
        prompt = await self._reminder(session, timer, case)
        if prompt is None:
            return
        await self.writer.queue(session, contact, [prompt], case.language, now,
                                case_id=case.id,
                                extra={"template": "reminder",
                                       "variables": {"1": case.reference}})

    async def _reminder(
        self, session: AsyncSession, timer: Timer, case: Case
    ) -> Prompt | None:
        reference = isolate(case.reference, case.language)
        if timer.kind == SlaKind.DOCUMENTS_REMINDER:
            received = await repo.received_documents(session, case.id)
            missing = missing_items(checklist_for(case.answers), received, case.answers,
                                    required_only=True)
            if not missing:
                return None
            return Prompt(Text.of(
                "A reminder about your request {reference}: we are still waiting for these "
                "documents:\n{items}\nThe specialists can only start once the file is complete.",
                reference=reference,
                items=Lines(tuple(Text.of("\u2022 {label}", label=i.label) for i in missing))))
        if timer.kind == SlaKind.VIDEO_CONSULTATION_REMINDER:
            booking = await current_booking(session, case.id)
            return video_reminder(booking, case) if booking is not None else None
        msgid = FAMILY_REMINDERS.get(timer.kind)
        return Prompt(Text(msgid, {"reference": reference})) if msgid else None

    async def purge_closed_cases(self) -> int:
        """Retention: closed and withdrawn cases older than the retention are erased like a
        family's own erasure: answers, transcript, uploads and stored files."""
        now = self.clock()
        keys: list[str] = []
        async with UnitOfWork(self.db) as uow:
            session = uow.session
            query = select(Case).where(
                Case.status.in_((CaseStatus.CLOSED, CaseStatus.WITHDRAWN)),
                Case.closed_at < now - self.retention,
            )
            cases = list((await session.execute(query)).scalars())
            for case in cases:
                keys += await erase_case(session, case, "retention", now)
            await uow.commit()
        if self.files is not None:
            for key in dict.fromkeys(keys):
                try:
                    await self.files.delete(key)
                except Exception as error:
                    log.warning("purged file not deleted",
                                extra={"error": type(error).__name__})
        if cases:
            log.info("retention purge", extra={"count": len(cases)})
        return len(cases)


async def _claim_due(session: AsyncSession, now: datetime, *, locking: bool) -> list[Timer]:
    """The next batch of due timers, earliest first: at most `BATCH` rows, read by the
    `ix_timers_due` index (pending, then due time), never the whole pending set."""
    query = (
        select(Timer)
        .where(Timer.fired_at.is_(None), Timer.cancelled_at.is_(None), Timer.due_at <= now)
        .order_by(Timer.due_at, Timer.id)
        .limit(BATCH)
    )
    if locking:
        query = query.with_for_update(skip_locked=True)
    return list((await session.execute(query)).scalars())


class TimerLoop:
    """One round fires what is due, then sets a one-off wake-up at the earliest pending due
    time when that comes before the next poll: a timer fires about when it is due, while
    start-up and each round read one batch and one row, whatever the number pending."""

    def __init__(self, service: TimerService, scheduler: AsyncIOScheduler) -> None:
        self.service = service
        self.scheduler = scheduler
        self._lock = asyncio.Lock()

    async def round(self) -> int:
        """Fire the due timers and plan the next wake-up; returns how many fired."""
        fired = 0
        async with self._lock:
            while True:
                count = await self.service.fire_due()
                fired += count
                due = await self.service.next_due()
                # Fell due while this round ran: fire it now rather than plan a wake-up.
                if not count or due is None or due > datetime.now(UTC):
                    break
            self.plan(due)
        return fired

    def plan(self, due: datetime | None, *, now: bool = False) -> None:
        """Wake at `due` unless the interval job runs first (it also catches timers written
        later with an earlier due time); `now`: an announcement, so no due time or a past
        one means "look at once"."""
        if due is None and not now:
            return
        current = datetime.now(UTC)
        if now and (due is None or due <= current):
            due = current
        elif due is None or due <= current:
            # Left due by a round that fired nothing (another worker holds it, or the clock
            # is not the wall clock): a moment later, never a busy loop.
            due = current + RETRY
        poll = self.scheduler.get_job("timers")
        if poll is not None and poll.next_run_time is not None and poll.next_run_time <= due:
            return
        planned = self.scheduler.get_job("timers-next")
        if (planned is not None and planned.next_run_time is not None
                and current < planned.next_run_time <= due):
            return  # an earlier wake-up is already planned: it plans the next one itself
        # Two instances: the wake-up may come due while the round that planned it ends.
        self.scheduler.add_job(_quietly(self.round), "date", run_date=due, id="timers-next",
                               replace_existing=True, max_instances=2)


def make_scheduler(service: TimerService,
                   poll_seconds: float) -> tuple[AsyncIOScheduler, TimerLoop]:
    """The clock: an interval job for due timers, a wake-up at the earliest due time and a
    nightly retention purge."""
    scheduler = AsyncIOScheduler(
        timezone="UTC",
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    loop = TimerLoop(service, scheduler)
    scheduler.add_job(_quietly(loop.round), "interval", seconds=poll_seconds,
                      id="timers", next_run_time=service.clock())
    scheduler.add_job(_quietly(service.purge_closed_cases), "cron", hour=3, minute=17,
                      id="retention")
    return scheduler, loop


def follow_timer_changes(loop: TimerLoop, wakeups: Wakeups) -> None:
    """Fire a timer at its due time even when another worker wrote it: every new timer
    announces its due time (`bot.messaging.wakeups.TIMERS`) and the loop plans its wake-up
    for it. An empty payload (the listener reconnected) means "look now". The interval stays
    the net."""
    wakeups.subscribe(TIMERS_CHANGED, lambda payload: loop.plan(due_time(payload), now=True))


def _quietly(job: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[None]]:
    """A job cut short by shutdown is not an error: its transaction rolled back and the
    rows fire on the next run."""

    async def run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await job()

    run.__name__ = job.__name__
    return run
