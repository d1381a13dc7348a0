"""Many small files in one request: how the upload page sends a hospital export quickly.

A CT study is thousands of 512 KiB instances. Through tus, each one costs a creation, a
PATCH, its own fsyncs and its own inspection transaction: about 20 ms a file, most of the time
of a study. The page therefore sends files that would go in one piece anyway in batches (one
streamed multipart request: a `meta` part, then the `file` part, per file) and keeps tus for
large files, which need resuming.

Every file of a batch is checked as a tus upload is: the size limit, the case's room, names
that say program, the type of its first bytes (refused before it is stored), then the
whole-file inspection (content allow-list, DICOM header and patient identity, ZIP members,
duplicates). A refused file is refused alone, with its reason; the others are kept. The
files are written without fsync, then made durable together (each file, then each folder
once), then recorded in one transaction (upload rows, documents, checklist); the answer
comes only after that commit, so nothing is acknowledged that is not on disk. A request cut
off before its closing boundary keeps nothing (no row, no object): the page sends the batch
again, and a batch whose answer was lost comes back as duplicates, recognised as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from bot.documents.content_types import dangerous_name
from bot.documents.inspection import Inspected
from bot.documents.kinds import SNIFF_BYTES
from bot.documents.sessions import FileMeta, UploadRefused
from bot.documents.uploads import UploadService, Whole
from bot.operations.metrics import metrics
from storage.files import FileTooLarge
from storage.tables import Case, UploadSession
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

BATCH_FILES = 64  # files in one request at most
BATCH_BYTES = 16 * 1024 * 1024  # the files of one request together, at most
BATCH_FILE_BYTES = 4 * 1024 * 1024  # the page batches files up to this size; tus beyond
PART_ALLOWANCE = 4096  # multipart headers and the `meta` part, per file
BATCH_BODY_BYTES = BATCH_BYTES + BATCH_FILES * PART_ALLOWANCE
INSPECTING = 2  # files inspected while the next ones arrive


@dataclass(frozen=True)
class BatchFile:
    """One file of a batch request: what the page says, and its bytes as they arrive."""

    meta: FileMeta
    length: int
    chunks: AsyncIterable[bytes]


class BatchReceiver:
    """Stores, inspects and records the files of one batch request (see the module)."""

    def __init__(self, service: UploadService) -> None:
        self.service = service
        self.store = service.store
        self.limits = service.limits

    async def receive(
        self, case_id: int, files: AsyncIterable[BatchFile], incoming: int
    ) -> list[str | None]:
        """Per file, in order: None when kept, else the code of the reason it was refused.

        Raises (and keeps nothing) when the request itself fails: cut off, too slow, too
        many files, or no room on the disk (507).
        """
        await self.service.require_disk_room(case_id, incoming)
        async with UnitOfWork(self.service.db, write=False) as uow:
            case = await uow.session.get(Case, case_id)
        if case is None:
            raise UploadRefused(404, "not_found")
        room = await self.service.room(case_id)
        codes: list[str | None] = []
        pending: list[tuple[int, UploadSession, asyncio.Task[Inspected]]] = []
        stored_keys: list[str] = []
        gate = asyncio.Semaphore(INSPECTING)

        async def inspect(row: UploadSession, sha: str, head: bytes) -> Inspected:
            async with gate:
                return await self.service.inspect_safely(row, case, sha, head)

        committed = False
        try:
            async for file in files:
                code = self._precheck(file, room)
                if code is not None:
                    codes.append(code)
                    continue
                row = self._row(case_id, file)
                head = bytearray()
                try:
                    stored = await self.store.put(self._sniffed(row, file.chunks, head),
                                                  max_size=file.length, sync=False)
                except FileTooLarge:
                    codes.append("file_too_large")
                    continue
                except UploadRefused as refused:
                    metrics().inspection_failures.labels("unsupported_type").inc()
                    codes.append(refused.code)
                    continue
                stored_keys.append(stored.key)
                if stored.size != file.length:
                    codes.append("bad_request")  # the page said another size: not this file
                    continue
                room -= file.length
                row.parts = [{"key": stored.key, "size": stored.size, "sha256": stored.sha256}]
                codes.append(None)
                task = asyncio.ensure_future(inspect(row, stored.sha256, bytes(head)))
                pending.append((len(codes) - 1, row, task))
            wholes = []
            for index, row, task in pending:
                inspected = await task
                wholes.append(Whole(row, inspected, str(row.parts[0]["sha256"])))
                if not inspected.documents and inspected.problems:
                    codes[index] = inspected.problems[0].get("code", "unsupported_type")
            kept = {w.row.parts[0]["key"] for w in wholes}
            made = [p.storage_key for w in wholes for p in w.inspected.documents if p.owned]
            for key in stored_keys:
                if key not in kept:
                    await self.store.delete(key)
            stored_keys = list(kept)
            await self.store.sync([*stored_keys, *made])
            recorded = await self.service.record(wholes, new=True)
            committed = True
            lost = [whole.row.parts[0]["key"] for whole, kept_it in zip(
                wholes, recorded, strict=True) if not kept_it]
            if lost:
                # The case went away meanwhile (erased): nothing of this batch is kept.
                for key in lost:
                    await self.store.delete(str(key))
                codes = [code if code is not None else "not_found" for code in codes]
        finally:
            if not committed:
                await asyncio.shield(self._discard(pending, stored_keys))
        log.info("upload batch recorded", extra={"case_id": case_id, "count": len(codes)})
        return codes

    def _precheck(self, file: BatchFile, room: int) -> str | None:
        """The checks of a tus creation, before a byte is stored."""
        meta = file.meta
        if file.length > self.limits.file_bytes:
            return "file_too_large"
        if file.length <= 0:
            return "empty"
        if dangerous_name(meta.filename) or dangerous_name(meta.relative_path or ""):
            return "unsupported_type"
        if file.length > room:
            return "case_full"
        return None

    def _row(self, case_id: int, file: BatchFile) -> UploadSession:
        meta = file.meta
        now = self.service.clock()
        return UploadSession(
            id=secrets.token_hex(16), case_id=case_id, source="upload",
            filename=meta.filename, relative_path=meta.relative_path,
            item=meta.item.value if meta.item else None, filetype=meta.filetype,
            batch=meta.batch, length=file.length, offset=file.length, parts=[],
            status="uploaded", attempts=0, outcome={}, created_at=now, updated_at=now,
        )

    @staticmethod
    async def _sniffed(
        row: UploadSession, chunks: AsyncIterable[bytes], head: bytearray
    ) -> AsyncIterator[bytes]:
        """The file's bytes; a first piece of no accepted type stops it (415) unstored.
        `head` keeps the first bytes, for the inspection."""
        wanted = min(SNIFF_BYTES, row.length)
        async for chunk in chunks:
            if len(head) < wanted:
                head.extend(chunk[: wanted - len(head)])
                if len(head) >= wanted:
                    UploadService.check_head(row, bytes(head))
            yield chunk

    async def _discard(
        self, pending: list[tuple[int, UploadSession, asyncio.Task[Inspected]]],
        keys: list[str],
    ) -> None:
        """A failed batch keeps nothing: inspections stopped, their objects and ours deleted."""
        for _, _, task in pending:
            task.cancel()
        for _, _, task in pending:
            with contextlib.suppress(BaseException):
                inspected = await task
                for prepared in inspected.documents:
                    if prepared.owned:
                        await self.store.delete(prepared.storage_key)
        for key in keys:
            await self.store.delete(key)

