"""The outbox dispatcher: delivers committed replies with retries, backoff and per-chat order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select, update

from bot.channels.base import Channel, ChannelError, Outbound, OutOption, SendResult
from bot.clock import Clock
from bot.metrics import metrics
from bot.upload_links import open_links
from storage import repositories as repo
from storage.db import Database
from storage.files import Sealer
from storage.tables import Contact, OutboxItem
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
MAX_BACKOFF_SECONDS = 600.0
STALE_CLAIM = timedelta(minutes=2)
MAX_ROUNDS_IN_FLIGHT = 4
RELEASE_EVERY_SECONDS = 30.0


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
    """Claims due rows, sends them through their channel, records the outcome."""

    def __init__(
        self, db: Database, channels: Mapping[str, Channel], clock: Clock,
        poll_seconds: float = 0.5, sealer: Sealer | None = None,
    ) -> None:
        self.db = db
        self.sealer = sealer  # opens the upload tokens sealed in stored replies
        self.channels = channels
        self.clock = clock
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Something was committed to the outbox: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stopped: rounds overlap (a slow provider call does not hold back
        other chats), and each chat still has at most one message in flight."""
        loop = asyncio.get_running_loop()
        last_release = -STALE_CLAIM.total_seconds()
        in_flight: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(MAX_ROUNDS_IN_FLIGHT)
        try:
            while not self._stopping:
                if loop.time() - last_release > RELEASE_EVERY_SECONDS:
                    # Rows a crashed worker (or a failed record) left 'sending' would block
                    # their chat for ever: put them back regularly, not only at start-up.
                    try:
                        await self.release_stale()
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("outbox release failed")
                    last_release = loop.time()
                await slots.acquire()
                self._wake.clear()
                try:
                    items, contacts = await self._claim()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("outbox claim failed")
                    items, contacts = [], {}
                if items:
                    task = asyncio.create_task(self._round(items, contacts, slots))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                    continue
                slots.release()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        finally:
            if in_flight:
                await asyncio.wait(in_flight, timeout=10)

    async def _round(
        self, items: list[OutboxItem], contacts: dict[int, Contact], slots: asyncio.Semaphore
    ) -> None:
        try:
            await self._deliver(items, contacts)
        except Exception:
            # The rows stay 'sending' and are requeued by the stale-claim release.
            log.exception("outbox round failed")
        finally:
            slots.release()
            self._wake.set()

    async def stop(self, task: asyncio.Task[None], timeout: float = 10.0) -> None:
        """Finish the round in flight (sent messages get recorded), then stop."""
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
            count = await repo.release_stale_claims(uow.session, self.clock() - STALE_CLAIM)
            await uow.commit()
        if count:
            log.info("outbox requeued stale claims", extra={"count": count})

    async def dispatch_once(self) -> int:
        """One round: claim, send in parallel across chats, record. Returns rows handled."""
        items, contacts = await self._claim()
        if items:
            await self._deliver(items, contacts)
        return len(items)

    async def _claim(self) -> tuple[list[OutboxItem], dict[int, Contact]]:
        async with UnitOfWork(self.db) as uow:
            items = await repo.claim_due_outbox(uow.session, self.clock())
            contacts: dict[int, Contact] = {}
            if items:
                ids = {item.contact_id for item in items}
                query = select(Contact).where(Contact.id.in_(ids))
                contacts = {c.id: c for c in (await uow.session.execute(query)).scalars()}
            await uow.commit()
        return items, contacts

    async def _deliver(self, items: list[OutboxItem], contacts: dict[int, Contact]) -> None:
        results = await asyncio.gather(
            *(self._send(item, contacts.get(item.contact_id)) for item in items)
        )
        async with UnitOfWork(self.db) as uow:
            now = self.clock()
            query = select(OutboxItem).where(OutboxItem.id.in_([item.id for item in items]))
            rows = {row.id: row for row in (await uow.session.execute(query)).scalars()}
            for item, result in zip(items, results, strict=True):
                row = rows.get(item.id)
                if row is None:  # erased meanwhile
                    continue
                await self._record(uow, row, result, now)
            await uow.commit()
        for item, result in zip(items, results, strict=True):
            # After the commit: a page woken now finds the reply marked delivered.
            delivered = getattr(self.channels.get(item.channel), "delivered", None)
            if isinstance(result, SendResult) and delivered is not None:
                delivered(item.contact_id)

    async def _record(
        self, uow: UnitOfWork, row: OutboxItem, result: SendResult | ChannelError,
        now: datetime,
    ) -> None:
        if not isinstance(result, SendResult):
            metrics().provider_errors.labels(row.channel, error_code(result)).inc()
        if isinstance(result, SendResult):
            metrics().outbox_sent.labels(row.channel).inc()
            row.status = "sent"
            row.sent_at = now
            row.provider_message_id = result.provider_message_id
            row.last_error = None
            await self._space_next(uow, row, now)
        elif result.hold:
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

    async def _space_next(self, uow: UnitOfWork, row: OutboxItem, now: datetime) -> None:
        """Respect the channel's per-chat rate: the contact's next message waits its turn."""
        channel = self.channels.get(row.channel)
        interval = getattr(channel, "per_chat_interval", 0.0)
        if not interval:
            return
        await uow.session.execute(
            update(OutboxItem)
            .where(OutboxItem.contact_id == row.contact_id, OutboxItem.status == "pending",
                   OutboxItem.next_attempt_at < now + timedelta(seconds=interval))
            .values(next_attempt_at=now + timedelta(seconds=interval))
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
