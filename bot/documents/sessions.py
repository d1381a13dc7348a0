"""Resumable upload sessions (tus): one row per file, parts stored encrypted and recorded
only once whole, so a cut request keeps nothing and the client resumes from the last
committed offset.

An `UploadSession` row follows one file. The tus PATCH requests append *parts*: each request
body is stored, encrypted from its first byte, as one object of the file store, and recorded
(key, size) on the row only once it is whole, so a request cut off mid-way keeps nothing and
the client resumes from the last committed offset.

Storage choice (throughput): the parts are never re-encrypted into one object. A one-part
upload's Document points at that part; a multi-part upload's Document has the storage key
`parts:<upload id>`, a manifest read through `bot.documents.inspection.open_document` and
`document_keys`. Re-storing
would decrypt and re-encrypt every byte once more at completion (about half the throughput
on large studies). The whole-file SHA-256 is carried along the PATCHes in this process, so
completion reads back only what inspection needs (DICOM headers, a ZIP's members, 4 KiB for
the type); after a restart between PATCHes it is recomputed from the parts.

What happens once a file is whole (inspection, documents, checklist, the family's summary)
is `bot.documents.uploads`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import re
import secrets
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.documents.budgets import Limits, UploadBudgets
from bot.documents.content_types import dangerous_name
from bot.documents.inspection import (
    Inspector,
    clean_relative_path,
    display_name,
    refusal_code,
)
from bot.documents.kinds import SNIFF_BYTES, FileType, sniff
from bot.i18n.render import Renderer
from bot.messaging.replies import ReplyWriter
from bot.operations.metrics import metrics
from intake.case import is_terminal
from intake.checklist import (
    ItemKind,
)
from storage.db import Database
from storage.files import (
    FileStore,
    FileTooLarge,
    StoredFile,
)
from storage.tables import Case, Document, UploadSession
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

MAX_PARTS = 4096
HASH_CACHE_SIZE = 512
OPEN_STATUSES = ("uploading", "uploaded")
ABANDONED_AFTER = timedelta(days=7)
_FILETYPE = re.compile(r"[A-Za-z0-9.+-]{1,63}/[A-Za-z0-9.+-]{1,63}")
_BATCH = re.compile(r"[A-Za-z0-9_-]{1,32}")


class UploadRefused(Exception):
    """A request the upload protocol must refuse: an HTTP status and a short code."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class FileMeta:
    """What the client says about a file: display-only, never a path on our side."""

    filename: str = "file"
    relative_path: str | None = None
    item: ItemKind | None = None
    filetype: str | None = None
    batch: str | None = None


def parse_metadata(header: str | None) -> FileMeta:
    """Parse tus `Upload-Metadata` ("key base64,key base64"); ValueError when malformed."""
    values: dict[str, str] = {}
    for pair in (header or "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, encoded = pair.partition(" ")
        if not key or len(key) > 64 or key in values:
            raise ValueError("bad metadata key")
        try:
            values[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError("bad metadata value") from None
    return file_meta(values)


def file_meta(values: dict[str, str]) -> FileMeta:
    """What the page says about a file (tus metadata keys), cleaned for display only."""
    item: ItemKind | None = None
    if values.get("item"):
        try:
            item = ItemKind(values["item"])
        except ValueError:
            item = None
    filetype = values.get("filetype", "").strip()
    batch = values.get("batch", "")
    return FileMeta(
        filename=display_name(values.get("filename") or values.get("name")),
        relative_path=clean_relative_path(values.get("relativePath")),
        item=item,
        filetype=filetype if _FILETYPE.fullmatch(filetype) else None,
        batch=batch if _BATCH.fullmatch(batch) else None,
    )


def accepts_uploads(case: Case) -> bool:
    """Files are taken once the request is submitted and until the case's work ends."""
    return case.submitted_at is not None and not is_terminal(case.status)


# ---------------------------------------------------------------- the sessions


class UploadSessions(ABC):
    """The tus side of uploads: sessions, parts, resumption, refusals; `complete` is what a
    whole file becomes (`bot.documents.uploads.UploadService`)."""

    def __init__(
        self, db: Database, store: FileStore, renderer: Renderer, writer: ReplyWriter,
        clock: Clock, *, limits: Limits | None = None,
        on_committed: Callable[[], None] = lambda: None, quote_required: bool = True,
    ) -> None:
        self.db = db
        self.quote_required = quote_required
        self.store = store
        self.renderer = renderer
        self.writer = writer
        self.clock = clock
        self.limits = limits or Limits()
        self.inspector = Inspector(store, self.limits.file_bytes)
        self.budgets = UploadBudgets(db, store, clock, self.limits)
        self.on_committed = on_committed
        self._hashes: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    @abstractmethod
    async def complete(self, upload_id: str) -> None:
        """Turn a whole upload into the case's documents."""

    # -- sessions

    async def _usage(self, session: AsyncSession, case_id: int) -> int:
        documents = await session.scalar(
            select(func.coalesce(func.sum(Document.size), 0)).where(Document.case_id == case_id))
        pending = await session.scalar(
            select(func.coalesce(func.sum(UploadSession.length), 0)).where(
                UploadSession.case_id == case_id, UploadSession.status.in_(OPEN_STATUSES)))
        return int(documents or 0) + int(pending or 0)

    async def create(self, case_id: int, length: int, meta: FileMeta) -> UploadSession:
        """Start a resumable upload; 413 when the file or the case would exceed its limit."""
        if length > self.limits.file_bytes:
            raise UploadRefused(413, "file_too_large")
        if length <= 0:
            raise UploadRefused(400, "empty")
        if dangerous_name(meta.filename) or dangerous_name(meta.relative_path or ""):
            raise UploadRefused(415, "unsupported_type")
        await self.require_disk_room(case_id, length)
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            if await self._usage(uow.session, case_id) + length > self.limits.case_bytes:
                raise UploadRefused(413, "case_full")
            row = UploadSession(
                id=secrets.token_hex(16), case_id=case_id, source="upload",
                filename=meta.filename, relative_path=meta.relative_path,
                item=meta.item.value if meta.item else None, filetype=meta.filetype,
                batch=meta.batch, length=length, offset=0, parts=[], status="uploading",
                attempts=0, outcome={}, created_at=now, updated_at=now,
            )
            uow.session.add(row)
            await uow.commit()
        log.info("upload started", extra={"case_id": case_id})
        return row

    async def get(self, case_id: int, upload_id: str) -> UploadSession:
        """The upload of this case, or 404."""
        async with UnitOfWork(self.db, write=False) as uow:
            row = await uow.session.get(UploadSession, upload_id)
        if row is None or row.case_id != case_id or row.source != "upload" or (
            row.status in ("cancelled", "refused")
        ):
            raise UploadRefused(404, "not_found")
        return row

    async def require_disk_room(self, case_id: int, incoming: int) -> None:
        """Refuse (507) and alert coordinators when the disk is nearly full."""
        if not await self.budgets.disk_allows(incoming):
            await self.budgets.alert_disk_low(case_id)
            raise UploadRefused(507, "no_space")

    async def room(self, case_id: int) -> int:
        """How many more bytes this case may receive (the per-case limit)."""
        async with UnitOfWork(self.db, write=False) as uow:
            return max(0, self.limits.case_bytes - await self._usage(uow.session, case_id))

    async def resume_if_stalled(self, row: UploadSession) -> UploadSession:
        """A whole upload whose completion was interrupted (crash, restart) completes now."""
        if row.status != "uploaded":
            return row
        try:
            await self.complete(row.id)
        except Exception:
            # The bytes are safe and whole: the protocol answer stays a success, and the next
            # HEAD (or status request) tries the completion again.
            log.exception("upload completion failed", extra={"case_id": row.case_id})
            return row
        return await self.get(row.case_id, row.id)

    def _hasher_at(self, upload_id: str, offset: int) -> Any:
        if offset == 0:
            return hashlib.sha256()
        cached = self._hashes.get(upload_id)
        if cached is None or cached[0] != offset:
            return None
        return cached[1].copy()

    def _remember_hash(self, upload_id: str, offset: int, hasher: Any) -> None:
        if hasher is None:
            self._hashes.pop(upload_id, None)
            return
        self._hashes[upload_id] = (offset, hasher)
        self._hashes.move_to_end(upload_id)
        while len(self._hashes) > HASH_CACHE_SIZE:
            self._hashes.popitem(last=False)

    async def append(
        self, case_id: int, upload_id: str, offset: int, chunks: AsyncIterable[bytes],
        declared: int | None = None,
    ) -> UploadSession:
        """Store one PATCH body as an encrypted part at `offset`; 409 if the offset is stale.

        `declared` (the request's Content-Length) lets a body too long be refused unread.
        """
        row = await self.get(case_id, upload_id)
        if offset != row.offset:
            raise UploadRefused(409, "offset_mismatch")
        if row.offset >= row.length:
            return await self.resume_if_stalled(row)
        if declared is not None and offset + declared > row.length:
            raise UploadRefused(413, "file_too_large")
        if len(row.parts) >= MAX_PARTS:
            raise UploadRefused(413, "too_many_parts")
        await self.require_disk_room(case_id, declared or 0)
        # The first piece's bytes say what the file is: a type we never accept is refused
        # before it is stored (the whole file is judged again at completion).
        head = bytearray() if offset == 0 else None
        wanted = min(SNIFF_BYTES, row.length)
        # A whole file in one PATCH: the store's own SHA-256 of the piece is the file's hash,
        # so a second pass would only cost time (the common case: DICOM instances, PDFs).
        whole = offset == 0 and declared == row.length
        hasher = None if whole else self._hasher_at(upload_id, offset)

        async def feed() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                if head is not None and len(head) < wanted:
                    head.extend(chunk[: wanted - len(head)])
                    if len(head) >= wanted:
                        self.check_head(row, bytes(head))
                yield chunk

        try:
            # The store's SHA-256 continues the file's (carried from the earlier pieces), so
            # each byte is hashed once, in the thread that encrypts it.
            stored = await self.store.put(feed(), max_size=row.length - row.offset,
                                          hasher=hasher)
        except FileTooLarge:
            raise UploadRefused(413, "file_too_large") from None
        except UploadRefused as refused:
            if refused.status == 415:
                metrics().inspection_failures.labels("unsupported_type").inc()
                with contextlib.suppress(UploadRefused):
                    await self._end(upload_id, "refused")
            raise
        if stored.size == 0:
            await self.store.delete(stored.key)
            return row
        # The part's own hash, unless the store continued the hash of earlier pieces.
        part_sha = stored.sha256 if hasher is None or offset == 0 else None
        row = await self._commit_part(upload_id, offset, stored, part_sha)
        self._remember_hash(upload_id, row.offset, hasher)
        log.info("upload part stored", extra={"case_id": case_id, "count": len(row.parts)})
        if row.status == "uploaded":
            return await self.resume_if_stalled(row)
        return row

    @staticmethod
    def check_head(row: UploadSession, head: bytes) -> None:
        """Refuse (415) a file whose first bytes are of no type we accept."""
        in_folder = "/" in (row.relative_path or "")
        if sniff(head, row.filename, in_dicomdir_folder=in_folder) is FileType.UNKNOWN:
            raise UploadRefused(415, refusal_code(row.filename, row.filetype))

    async def _end(self, upload_id: str, status: str) -> list[str]:
        """Mark an unfinished upload ended (cancelled, refused); returns its parts' keys."""
        async with UnitOfWork(self.db) as uow:
            locked = await self._locked(uow, UploadSession, upload_id)
            if locked is None or locked.status != "uploading":
                raise UploadRefused(409, "already_complete")
            locked.status = status
            locked.updated_at = self.clock()
            keys = [str(p["key"]) for p in locked.parts]
            await uow.commit()
        self._hashes.pop(upload_id, None)
        for key in keys:
            await self.store.delete(key)
        return keys

    async def _commit_part(
        self, upload_id: str, offset: int, stored: StoredFile, sha: str | None
    ) -> UploadSession:
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            row = await self._locked(uow, UploadSession, upload_id)
            if row is None or row.status != "uploading" or row.offset != offset:
                stale = True
            else:
                stale = False
                part: dict[str, Any] = {"key": stored.key, "size": stored.size}
                if sha is not None:
                    part["sha256"] = sha
                row.parts = [*row.parts, part]
                row.offset = offset + stored.size
                row.updated_at = now
                if row.offset >= row.length:
                    row.status = "uploaded"
                await uow.commit()
        if stale:
            # Another request for the same offset won the race (a client retry): drop ours.
            await self.store.delete(stored.key)
            raise UploadRefused(409, "offset_mismatch")
        assert isinstance(row, UploadSession)
        return row

    async def _locked(self, uow: UnitOfWork, model: type[Any], key: object) -> Any:
        query = select(model).where(model.id == key)
        if not self.db.is_sqlite:
            query = query.with_for_update()
        return (await uow.session.execute(query)).scalar_one_or_none()

    async def cancel(self, case_id: int, upload_id: str) -> None:
        """tus termination: an unfinished upload is abandoned and its parts deleted."""
        row = await self.get(case_id, upload_id)
        if row.status != "uploading":
            raise UploadRefused(409, "already_complete")
        await self._end(upload_id, "cancelled")

    async def expire_abandoned(self, older_than: timedelta = ABANDONED_AFTER) -> int:
        """Delete the parts of uploads nobody continued for a week (run daily)."""
        cutoff = self.clock() - older_than
        async with UnitOfWork(self.db) as uow:
            rows = list((await uow.session.execute(
                select(UploadSession).where(UploadSession.status == "uploading",
                                            UploadSession.updated_at < cutoff)
                .limit(500))).scalars())
            keys = [str(p["key"]) for row in rows for p in row.parts]
            for row in rows:
                row.status = "cancelled"
                row.updated_at = self.clock()
            await uow.commit()
        for key in keys:
            await self.store.delete(key)
        if rows:
            log.info("abandoned uploads removed", extra={"count": len(rows)})
        return len(rows)

    async def adopt(
        self, case_id: int, stored: StoredFile, meta: FileMeta, source_ref: str
    ) -> UploadSession | None:
        """Record a file already stored whole (a chat attachment) and complete it.

        None when `source_ref` was recorded before (a repeated event): the copy is dropped.
        """
        now = self.clock()
        row = UploadSession(
            id=secrets.token_hex(16), case_id=case_id, source="chat", source_ref=source_ref,
            filename=meta.filename, relative_path=meta.relative_path,
            item=meta.item.value if meta.item else None, filetype=meta.filetype,
            batch=meta.batch, length=stored.size, offset=stored.size,
            parts=[{"key": stored.key, "size": stored.size, "sha256": stored.sha256}],
            status="uploaded", attempts=0, outcome={}, created_at=now, updated_at=now,
        )
        async with UnitOfWork(self.db) as uow:
            taken = await uow.session.scalar(
                select(UploadSession.id).where(UploadSession.source_ref == source_ref))
            if taken is None:
                uow.session.add(row)
                await uow.commit()
        if taken is not None:
            await self.store.delete(stored.key)
            return None
        await self.complete(row.id)
        return row

    async def record_refusal(self, case_id: int, meta: FileMeta, source_ref: str) -> bool:
        """Remember a chat file we could not receive, so a retry does not repeat the advice.

        False when it was already recorded.
        """
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            taken = await uow.session.scalar(
                select(UploadSession.id).where(UploadSession.source_ref == source_ref))
            if taken is not None:
                return False
            uow.session.add(UploadSession(
                id=secrets.token_hex(16), case_id=case_id, source="chat",
                source_ref=source_ref, filename=meta.filename, length=0, offset=0, parts=[],
                status="refused", attempts=0, outcome={}, notified_at=now, created_at=now,
                updated_at=now))
            await uow.commit()
        return True

    async def recorded(self, source_ref: str) -> UploadSession | None:
        """The session recorded for an outside reference (a chat attachment), if any."""
        async with UnitOfWork(self.db, write=False) as uow:
            return (await uow.session.execute(
                select(UploadSession).where(UploadSession.source_ref == source_ref)
            )).scalar_one_or_none()
