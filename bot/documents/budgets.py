"""What families' files may cost the server: sizes, free disk, ZIP expansion.

Members of an archive under 8 MiB skip the ratio check (`bot.documents.archive`), so the bounds
that matter are totals: one archive unpacks to `zip_per_archive` at most, and what a case's
archives declare is counted per day against `zip_per_case_day` in `throttle_counters` (one
statement per count, shared by every worker) before any member is read. Below `min_free_bytes` free
under the file store, files are refused and coordinators alerted: the case's conversation is
flagged "needs attention" and an audit entry (`disk_low`) is written, once an hour per case.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.access.throttle import Throttle
from bot.clock import Clock
from bot.documents.archive import ArchiveRejected
from storage.db import Database
from storage.files import FileStore
from storage.tables import AuditEntry, Case, Contact
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 2 << 30
MAX_CASE_BYTES = 20 << 30
ZIP_PER_ARCHIVE = 8 << 30
ZIP_PER_CASE_DAY = 32 << 30
MIN_FREE_DISK_MB = 2048
EXPANSION_WINDOW = timedelta(days=1)
DISK_ALERT_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Limits:
    """Size limits and budgets; the settings' fields win over the module defaults."""

    file_bytes: int = MAX_FILE_BYTES
    case_bytes: int = MAX_CASE_BYTES
    zip_per_archive: int = ZIP_PER_ARCHIVE
    zip_per_case_day: int = ZIP_PER_CASE_DAY
    min_free_bytes: int = MIN_FREE_DISK_MB << 20

    @classmethod
    def from_settings(cls, settings: object) -> Limits:
        """Read the optional settings fields, else the module defaults."""
        return cls(
            file_bytes=int(getattr(settings, "upload_max_file_bytes", MAX_FILE_BYTES)),
            case_bytes=int(getattr(settings, "upload_max_case_bytes", MAX_CASE_BYTES)),
            zip_per_archive=int(getattr(settings, "zip_expansion_per_archive",
                                        ZIP_PER_ARCHIVE)),
            zip_per_case_day=int(getattr(settings, "zip_expansion_per_case_day",
                                         ZIP_PER_CASE_DAY)),
            min_free_bytes=int(getattr(settings, "min_free_disk_mb", MIN_FREE_DISK_MB)) << 20,
        )


class UploadBudgets:
    """Free disk and ZIP expansion, checked before bytes are written or unpacked."""

    def __init__(self, db: Database, store: FileStore, clock: Clock, limits: Limits) -> None:
        self.db = db
        self.store = store
        self.clock = clock
        self.limits = limits
        self.throttle = Throttle(db)

    async def disk_allows(self, incoming: int = 0) -> bool:
        """Whether `incoming` more bytes leave the store's disk above the free-space floor."""
        free = await self.store.free_bytes()
        return free is None or free - incoming >= self.limits.min_free_bytes

    async def alert_disk_low(self, case_id: int) -> None:
        """Coordinators see the case's conversation flagged and an audit entry, once an hour."""
        now = self.clock()
        if await self.throttle.hit(f"disk-low:{case_id}", DISK_ALERT_WINDOW, now) > 1:
            return
        log.warning("free disk below the floor, files refused", extra={"case_id": case_id})
        async with UnitOfWork(self.db) as uow:
            case = await uow.session.get(Case, case_id)
            contact_id = case.contact_id if case is not None else None
            contact = await uow.session.get(Contact, contact_id) if contact_id else None
            if contact is not None:
                contact.needs_human = True
            uow.session.add(AuditEntry(coordinator_id=None, action="disk_low", case_id=case_id,
                                       contact_id=contact_id, detail={}, at=now))
            await uow.commit()

    async def reserve_expansion(self, case_id: int, amount: int) -> None:
        """Count an archive's declared expansion against the case's daily allowance and the
        disk floor; `ArchiveRejected` when either would be exceeded (nothing is counted)."""
        if not await self.disk_allows(amount):
            await self.alert_disk_low(case_id)
            raise ArchiveRejected("no_space")
        name, now = f"zip-expansion:{case_id}", self.clock()
        total = await self.throttle.hit(name, EXPANSION_WINDOW, now, amount=amount)
        if total > self.limits.zip_per_case_day:
            await self.throttle.hit(name, EXPANSION_WINDOW, now, amount=-amount)
            log.info("archive over the daily expansion budget", extra={"case_id": case_id})
            raise ArchiveRejected("daily_limit")
