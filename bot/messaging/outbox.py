"""The outbox dispatcher: delivers committed replies with retries, backoff and per-chat order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update

from bot.channels.base import Channel, ChannelError, Outbound, OutOption, SendResult
from bot.clock import Clock
from bot.documents.links import open_links
from bot.messaging.outbox_recorder import Batch, Claimed, LoopRecorder, Recorder, ThreadRecorder
from bot.messaging.wakeups import OUTBOX, Wakeups
from bot.operations.metrics import metrics
from storage import repositories as repo
from storage.db import Database
from storage.files import Sealer
from storage.tables import Contact, OutboxItem
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
OUTBOX_TABLE = cast(Table, OutboxItem.__table__)

MAX_ATTEMPTS = 10
MAX_BACKOFF_SECONDS = 600.0
STALE_CLAIM = timedelta(minutes=2)
RELEASE_EVERY_SECONDS = 30.0
BATCH = 50  # rows claimed in one statement
MAX_IN_FLIGHT = 200  # claimed and not yet recorded, across every chat


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter; the provider's retry_after wins when larger."""
    base = min(MAX_BACKOFF_SECONDS, 2.0 ** max(0, attempts - 1))
    delay = base * (0.5 + random.random() / 2)
    return max(delay, retry_after or 0.0)


def error_code(error: ChannelError) -> str:
    """A bounded label for a failed send (the reason text can be anything)."""
    if error.blocked:
        return "blocked"
    if error.hold:
        return "held"
    if error.retry_after is not None:
        return "rate_limited"
    return "permanent" if error.permanent else "transient"


class OutboxDispatcher:
    """Claims due rows, sends them through their channel, records each outcome at once.

    Sends run concurrently across chats (each chat has at most one message in flight, so
    its order holds). A delivery is recorded as soon as its provider call returns: one
    recorder commits whatever has completed meanwhile (a group commit that never waits
    for a slower send), so a crash can repeat only the calls truly in flight. The
    recorder's transaction also claims the next due rows, saving a round trip per chain.
    """

    def __init__(
        self, db: Database, channels: Mapping[str, Channel], clock: Clock,
        poll_seconds: float = 0.5, sealer: Sealer | None = None, *,
        wakeups: Wakeups | None = None, safety_seconds: float = 30.0,
        max_in_flight: int = MAX_IN_FLIGHT, stale_claim: timedelta = STALE_CLAIM,
        record_in_thread: bool = False,
    ) -> None:
        self.db = db
        self.sealer = sealer  # opens the upload tokens sealed in stored replies
        self.channels = channels
        self.clock = clock
        self.poll_seconds = poll_seconds  # the re-read while wake-ups are not heard
        self.safety_seconds = safety_seconds  # the re-read while they are: only a net
        self.wakeups = wakeups or Wakeups()
        self.max_in_flight = max_in_flight
        self.stale_claim = stale_claim
        # Looked for several times per stale period, at least every RELEASE_EVERY_SECONDS.
        self.release_every = min(RELEASE_EVERY_SECONDS, stale_claim.total_seconds() / 4)
        self.record_in_thread = record_in_thread
        self._wake = asyncio.Event()
        self._rescheduled = asyncio.Event()
        self._stopping = False
        self._next_due: datetime | None = None
        self._unrecorded = 0  # claimed, not yet recorded: bounds the sends in flight
        self._recorder: Recorder | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self.wakeups.subscribe(OUTBOX, lambda _payload: self.wake())

    def wake(self) -> None:
        """Something was committed to the outbox: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stopped."""
        loop = asyncio.get_running_loop()
        last_release = -self.stale_claim.total_seconds()
        recorder: Recorder = (ThreadRecorder(self) if self.record_in_thread
                              else LoopRecorder(self))
        await recorder.start()
        self._recorder = recorder
        try:
            while not self._stopping:
                if loop.time() - last_release > self.release_every:
                    # Rows a crashed worker (or a failed record) left 'sending' would block
                    # their chat for ever: put them back regularly, not only at start-up.
                    try:
                        await self.release_stale()
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("outbox release failed")
                    last_release = loop.time()
                self._wake.clear()
                free = self.max_in_flight - self._unrecorded
                if free > 0:
                    try:
                        items, contacts = await self._claim(free)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("outbox claim failed")
                        items, contacts = [], {}
                    self._start_sends(items, contacts)
                    if items and len(items) >= free:
                        continue  # there may be more due right now
                # With every slot taken only a recorded send (or news) is worth waking for.
                await self._idle(until_due=free > 0)
        finally:
            await self._finish(recorder)

    async def _idle(self, until_due: bool = True) -> None:
        """Wait for news, the next due row, or the periodic re-read, whichever comes first."""
        while not self._wake.is_set():
            self._rescheduled.clear()
            timeout = self._timeout(until_due)
            wake = asyncio.create_task(self._wake.wait())
            moved = asyncio.create_task(self._rescheduled.wait())
            try:
                done, _ = await asyncio.wait({wake, moved}, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
            finally:
                wake.cancel()
                moved.cancel()
            if not done:
                return

    def _timeout(self, until_due: bool = True) -> float:
        """Seconds until this loop must look again without being told."""
        net = self.safety_seconds if self.wakeups.live else self.poll_seconds
        net = min(net, self.release_every)
        if self._next_due is None or not until_due:
            return net
        until = (self._next_due - self.clock()).total_seconds()
        return max(0.001, min(net, until))

    async def _finish(self, recorder: Recorder) -> None:
        """Let the sends in flight return and their results be recorded."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while self._unrecorded > 0 and loop.time() < deadline:
            if self._sends:
                await asyncio.wait(self._sends, timeout=deadline - loop.time())
            await asyncio.sleep(0.01)
        await recorder.close()

    def _start_sends(self, items: list[OutboxItem], contacts: dict[int, Contact]) -> None:
        for item in items:
            self._unrecorded += 1
            task = asyncio.create_task(self._send_and_hand_over(item, contacts))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def _send_and_hand_over(
        self, item: OutboxItem, contacts: dict[int, Contact]
    ) -> None:
        result = await self._send(item, contacts.get(item.contact_id))
        assert self._recorder is not None
        self._recorder.submit(item, result)

    def claim_room(self, recording: int) -> int:
        """How many rows the recorder may claim along with `recording` results."""
        return 0 if self._stopping else self.max_in_flight - self._unrecorded + recording

    def recorded(self, batch: Batch, claimed: Claimed) -> None:
        """In the dispatcher's loop, once a batch is committed: free its slots, start the
        sends claimed with it, wake the pages waiting for these replies."""
        self._unrecorded -= len(batch)
        self._start_sends(*claimed)
        self._delivered(batch)
        self._rescheduled.set()

    def _delivered(self, batch: Batch) -> None:
        for item, result in batch:
            # After the commit: a page woken now finds the reply marked delivered.
            delivered = getattr(self.channels.get(item.channel), "delivered", None)
            if isinstance(result, SendResult) and delivered is not None:
                delivered(item.contact_id)

    async def stop(self, task: asyncio.Task[None], timeout: float = 10.0) -> None:
        """Finish the sends in flight (sent messages get recorded), then stop."""
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def release_stale(self) -> None:
        """Requeue rows a crashed process left half-sent."""
        async with UnitOfWork(self.db) as uow:
            count = await repo.release_stale_claims(uow.session,
                                                    self.clock() - self.stale_claim)
            await uow.commit()
        if count:
            log.info("outbox requeued stale claims", extra={"count": count})

    async def dispatch_once(self) -> int:
        """One claim: send in parallel across chats, record each result as it returns.
        Returns rows handled."""
        items, contacts = await self._claim(BATCH)
        sends = {asyncio.create_task(self._send(item, contacts.get(item.contact_id))): item
                 for item in items}
        while sends:
            done, _ = await asyncio.wait(sends, return_when=asyncio.FIRST_COMPLETED)
            batch = [(sends.pop(task), task.result()) for task in done]
            await self.record_batch(self.db, batch)
            self._delivered(batch)
        return len(items)

    async def _claim(self, limit: int = BATCH) -> tuple[list[OutboxItem], dict[int, Contact]]:
        async with UnitOfWork(self.db) as uow:
            claimed = await self._claim_in(uow, limit)
            await uow.commit()
        return claimed

    async def _claim_in(
        self, uow: UnitOfWork, limit: int
    ) -> tuple[list[OutboxItem], dict[int, Contact]]:
        """Claim up to `limit` due rows and their contacts; learn when the next row is due."""
        now = self.clock()
        items = await repo.claim_due_outbox(uow.session, now, limit=min(limit, BATCH))
        contacts: dict[int, Contact] = {}
        if items:
            ids = {item.contact_id for item in items}
            query = select(Contact).where(Contact.id.in_(ids))
            contacts = {c.id: c for c in (await uow.session.execute(query)).scalars()}
        if len(items) < limit:
            # Nothing else is due now: sleep until the earliest later row (a retry, a
            # chat's spacing), not a fixed poll.
            self._next_due = await uow.session.scalar(
                select(func.min(OutboxItem.next_attempt_at))
                .where(OutboxItem.status == "pending", OutboxItem.next_attempt_at > now))
        return items, contacts

    async def record_batch(self, db: Database, batch: Batch, claim: int = 0) -> Claimed:
        """Record these results in one short transaction, then, with `claim`, claim that
        many due rows (the chats just freed among them). `db` is the recorder's handle.

        Successful sends, nearly all of them, are recorded by primary key in one statement
        (and their chats' spacing in one more), without reading the rows first: fewer round
        trips before the commit is a shorter window in which a crash repeats a send."""
        async with UnitOfWork(db, urgent=True) as uow:
            now = self.clock()
            sent = [(item, result) for item, result in batch if isinstance(result, SendResult)]
            if sent:
                await uow.session.execute(
                    update(OUTBOX_TABLE).where(OUTBOX_TABLE.c.id == bindparam("row"))
                    .values(status="sent", sent_at=now, last_error=None,
                            provider_message_id=bindparam("message")),
                    [{"row": item.id, "message": result.provider_message_id}
                     for item, result in sent if isinstance(result, SendResult)])
                await self._space_next(uow, [item for item, _ in sent], now)
                for item, _ in sent:
                    metrics().outbox_sent.labels(item.channel).inc()
            failed = [item.id for item, result in batch if not isinstance(result, SendResult)]
            if failed:
                query = select(OutboxItem).where(OutboxItem.id.in_(failed))
                rows = {row.id: row for row in (await uow.session.execute(query)).scalars()}
                for item, result in batch:
                    row = rows.get(item.id)  # None: erased meanwhile
                    if row is not None and isinstance(result, ChannelError):
                        await self._record(uow, row, result, now)
            await uow.commit()
        if claim <= 0:
            return [], {}
        async with UnitOfWork(db) as uow:
            claimed = await self._claim_in(uow, claim)
            await uow.commit()
        return claimed

    async def _record(
        self, uow: UnitOfWork, row: OutboxItem, result: ChannelError, now: datetime,
    ) -> None:
        """A failed send: held, given up, or retried after a backoff."""
        metrics().provider_errors.labels(row.channel, error_code(result)).inc()
        if result.hold:
            # Kept for coordinators (e.g. outside WhatsApp's window), never dropped.
            row.status = "held"
            row.last_error = result.reason[:200]
            await self._flag_contact(uow, row.contact_id, blocked=False, now=now)
        elif result.permanent or row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
            metrics().outbox_failed.labels(row.channel).inc()
            row.last_error = result.reason[:200]
            await self._flag_contact(uow, row.contact_id, blocked=result.blocked, now=now)
            log.warning("outbox gave up", extra={"outbox_id": row.id,
                                                 "contact_id": row.contact_id})
        else:
            row.status = "pending"
            row.last_error = result.reason[:200]
            delay = backoff_seconds(row.attempts, result.retry_after)
            row.next_attempt_at = now + timedelta(seconds=delay)

    async def _space_next(
        self, uow: UnitOfWork, items: list[OutboxItem], now: datetime
    ) -> None:
        """Respect the channel's per-chat rate: each contact's next message waits its turn."""
        spaced = []
        for item in items:
            interval = getattr(self.channels.get(item.channel), "per_chat_interval", 0.0)
            if interval:
                spaced.append({"contact": item.contact_id,
                               "until": now + timedelta(seconds=interval)})
        if not spaced:
            return
        await uow.session.execute(
            update(OUTBOX_TABLE)
            .where(OUTBOX_TABLE.c.contact_id == bindparam("contact"),
                   OUTBOX_TABLE.c.status == "pending",
                   OUTBOX_TABLE.c.next_attempt_at < bindparam("until"))
            .values(next_attempt_at=bindparam("until")),
            spaced,
        )

    async def _flag_contact(
        self, uow: UnitOfWork, contact_id: int, *, blocked: bool, now: datetime
    ) -> None:
        """Undeliverable messages are shown to coordinators in the inbox."""
        contact = await uow.session.get(Contact, contact_id)
        if contact is None:
            return
        contact.needs_human = True
        if blocked and contact.blocked_at is None:
            contact.blocked_at = now

    async def _send(self, item: OutboxItem, contact: Contact | None) -> SendResult | ChannelError:
        channel = self.channels.get(item.channel)
        if channel is None or contact is None:
            return ChannelError(f"channel {item.channel} unavailable")
        payload = item.payload
        text = str(payload.get("text", ""))
        if self.sealer is not None:
            text = open_links(text, self.sealer, contact.id)
        message = Outbound(
            channel=item.channel,
            external_id=contact.external_id,
            text=text,
            options=tuple(OutOption(o["key"], o["label"]) for o in payload.get("options", [])),
            multiple=bool(payload.get("multiple")),
            contact_id=contact.id,
            outbox_id=item.id,
            locale=payload.get("locale", "en"),
            last_inbound_at=contact.last_inbound_at,
            extra=payload.get("extra", {}),
        )
        try:
            return await channel.send(message)
        except ChannelError as error:
            return error
        except Exception as error:  # a provider library raised something unexpected
            log.warning("send failed", extra={"outbox_id": item.id, "error": type(error).__name__})
            return ChannelError(type(error).__name__)
