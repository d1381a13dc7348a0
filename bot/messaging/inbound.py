"""Durable inbound: store the event, commit, acknowledge; then process it in order per contact."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import Inbound
from bot.clock import Clock
from bot.handlers.intake import IntakeHandler
from bot.operations.metrics import metrics
from intake.prompts import Prompt
from storage import receipts
from storage import repositories as repo
from storage.db import Database
from storage.files import FileStore
from storage.tables import Contact, InboundEvent
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Receipt:
    """What the webhook needs to answer: the stored ids and whether it was new."""

    event_id: int
    contact_id: int
    message_id: int | None
    created: bool


class InboundProcessor:
    """Receives events durably and processes each contact's events one at a time, in order."""

    def __init__(
        self, db: Database, handler: IntakeHandler, clock: Clock,
        on_committed: Callable[[], None] = lambda: None,
        on_attachments: Callable[[int, int], Awaitable[object]] | None = None,
        files: FileStore | None = None,
    ) -> None:
        self.db = db
        self.handler = handler
        self.clock = clock
        self.on_committed = on_committed
        self.on_attachments = on_attachments
        self.files = files
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._again: set[int] = set()

    async def receive(self, inbound: Inbound) -> Receipt:
        """Store the event and its transcript line; a repeated provider key changes nothing.

        The new-event case is written first and rolled back if the key turns out to be
        stored already: repeats are rare, and the common case then costs no extra look-up.
        """
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            session = uow.session
            contact_id = await receipts.touch_contact(
                session, inbound.channel, inbound.external_id,
                display_name=inbound.display_name, locale_hint=inbound.language_hint, now=now,
            )
            message_id = None
            if not inbound.start:
                line = await self._transcript_text(session, contact_id, inbound)
                message_id = await receipts.add_inbound_message(
                    session, contact_id, line, len(inbound.attachments), now)
            event_id = await receipts.insert_event(
                session, channel=inbound.channel, provider_key=inbound.provider_key,
                contact_id=contact_id, message_id=message_id, payload=inbound.to_payload(),
                now=now,
            )
            if event_id is not None:
                await uow.commit()
        if event_id is None:  # a repeated delivery: rolled back above, answered as stored
            async with UnitOfWork(self.db, write=False) as uow:
                stored = await receipts.find_event(
                    uow.session, inbound.channel, inbound.provider_key)
            receipt = Receipt(stored.event_id, stored.contact_id, stored.message_id, False)
        else:
            receipt = Receipt(event_id, contact_id, message_id, True)
        metrics().inbound_received.labels(
            inbound.channel, "yes" if event_id is None else "no").inc()
        if receipt.created:
            self.submit(receipt.contact_id)
        return receipt

    async def _transcript_text(
        self, session: AsyncSession, contact_id: int, inbound: Inbound
    ) -> str:
        """A tapped button is shown with its label, as the family saw it."""
        keys = [inbound.choice] if inbound.choice else list(inbound.choices or [])
        if not keys:
            return inbound.text or ""
        labels = {o["key"]: o["label"] for o in await receipts.last_options(session, contact_id)}
        return ", ".join(labels.get(key, key) for key in keys)

    def submit(self, contact_id: int) -> None:
        """Process this contact's pending events soon, without blocking the webhook."""
        task = self._tasks.get(contact_id)
        if task is not None and not task.done():
            self._again.add(contact_id)
            return
        self._tasks[contact_id] = asyncio.create_task(self._drain(contact_id))

    async def _drain(self, contact_id: int) -> None:
        try:
            while True:
                self._again.discard(contact_id)
                await self.process_contact(contact_id)
                if contact_id not in self._again:
                    break
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("processing failed", extra={"contact_id": contact_id})
        finally:
            self._tasks.pop(contact_id, None)

    async def process_contact(self, contact_id: int) -> int:
        """Process every pending event of a contact, oldest first. Returns how many."""
        done = 0
        async with self.db.contact_lock(contact_id):
            while True:
                processed, more = await self._process_one(contact_id)
                done += processed
                if not (processed and more):
                    return done

    async def process_next(self, contact_id: int) -> bool:
        """Process the oldest pending event of a contact in one transaction."""
        processed, _ = await self._process_one(contact_id)
        return processed

    async def _process_one(self, contact_id: int) -> tuple[bool, bool]:
        """Process the oldest pending event; returns whether it was processed and whether
        another one was already waiting (so the caller need not open a transaction to ask).

        An event that arrives later is submitted by its own receipt, and `_drain` runs again.
        """
        now = self.clock()
        failed: tuple[int, str] | None = None
        erased_keys: list[str] = []
        attachments: int | None = None
        async with UnitOfWork(self.db) as uow:
            session = uow.session
            contact = await repo.lock_contact(session, contact_id)
            if contact is None:
                return False, False
            event, more = await repo.next_pending_event(session, contact_id)
            if event is None:
                return False, False
            try:
                inbound = Inbound.from_payload(event.payload)
                # No savepoint: on an error nothing of this transaction is committed.
                erased_keys = await self.handler.handle(session, contact, event, inbound, now)
            except Exception as error:
                erased_keys = []  # the erasure, if any, was rolled back with the rest
                failed = (event.id, type(error).__name__)
                log.exception("event failed", extra={"event_id": event.id,
                                                     "contact_id": contact_id})
            else:
                event.processed_at = now
                if inbound.attachments:
                    attachments = event.id
                await uow.commit()
                metrics().processing_seconds.labels(event.channel).observe(
                    max(0.0, (self.clock() - event.received_at).total_seconds()))
            metrics().inbound_processed.labels("failed" if failed else "ok").inc()
        if failed is not None:
            # Retried by the sweep a few seconds later, not in a tight loop that would use
            # up every attempt on a passing fault.
            await self._record_failure(*failed)
            self.on_committed()
            return False, False
        await self._after_commit(contact_id, attachments, erased_keys)
        self.on_committed()
        return True, more

    async def _after_commit(
        self, contact_id: int, attachments_event: int | None, erased_keys: list[str]
    ) -> None:
        """Work that must follow the commit: deleting erased files, fetching chat files."""
        if erased_keys and self.files is not None:
            for key in erased_keys:
                try:
                    await self.files.delete(key)
                except Exception as error:  # logged by type; the orphan stays encrypted
                    log.warning("erased file not deleted",
                                extra={"error": type(error).__name__})
        if attachments_event is not None and self.on_attachments is not None:
            # Downloading can take a while: not under this contact's processing lock.
            task = asyncio.create_task(self._ingest(contact_id, attachments_event))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _ingest(self, contact_id: int, event_id: int) -> None:
        assert self.on_attachments is not None
        try:
            await self.on_attachments(contact_id, event_id)
        except Exception:
            log.exception("chat files not ingested", extra={"contact_id": contact_id,
                                                           "event_id": event_id})

    async def _record_failure(self, event_id: int, reason: str) -> None:
        async with UnitOfWork(self.db) as uow:
            event = await uow.session.get(InboundEvent, event_id)
            if event is None:
                return
            event.attempts += 1
            event.error = reason[:200]
            if event.attempts >= MAX_ATTEMPTS:
                # Kept, visible to coordinators, no longer blocking the contact's queue; the
                # family is told rather than left waiting.
                now = self.clock()
                event.processed_at = now
                contact = await uow.session.get(Contact, event.contact_id)
                if contact is not None:
                    contact.needs_human = True
                    contact.unread += 1
                    await self.handler.writer.queue(
                        uow.session, contact, [Prompt.say(
                            "Sorry, we could not process your last message. A coordinator "
                            "has been notified and will answer you here.")],
                        contact.locale or "en", now,
                    )
            await uow.commit()

    async def close(self) -> None:
        """Let in-flight processing finish (each event is one transaction) before shutdown."""
        deadline = asyncio.get_running_loop().time() + 10
        while True:  # processing may start background work (chat files) as it finishes
            pending = [task for task in [*self._tasks.values(), *self._background]
                       if not task.done()]
            remaining = deadline - asyncio.get_running_loop().time()
            if not pending or remaining <= 0:
                return
            await asyncio.wait(pending, timeout=remaining)

    async def sweep(self) -> int:
        """Process contacts with pending events: recovery after a crash or a restart."""
        async with UnitOfWork(self.db, write=False) as uow:
            contacts = await repo.contacts_with_pending_events(uow.session)
        for contact_id in contacts:
            await self.process_contact(contact_id)
        return len(contacts)

    async def run(self, every_seconds: float = 5.0) -> None:
        """Sweep forever (the webhook path processes at once; this catches the leftovers)."""
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("inbound sweep failed")
            await asyncio.sleep(every_seconds)
