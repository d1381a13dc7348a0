"""Files arriving for a case once they are whole: inspection, documents, checklist, the
family's summary (the tus sessions that bring them are `bot.documents.sessions`).

What is kept is decided by content (`bot.documents.inspection`, `bot.documents.content_types`): a
name that says program or web page is refused at creation, a first piece whose bytes are of no
accepted type is refused before it is stored (415), and the rest is judged on the whole file at
completion. Disk and ZIP expansion have budgets (`bot.documents.budgets`): below `MIN_FREE_DISK_MB`
free, uploads are refused (507) and coordinators alerted; an archive unpacks to
`ZIP_EXPANSION_PER_ARCHIVE` at most, and a case's archives to `ZIP_EXPANSION_PER_CASE_DAY` a day (a
counter in the database, shared by every worker).

Completion runs in three steps so the database is never held during file work: read the row,
inspect (pydicom and zipfile in worker threads, from the encrypted store), then one short
transaction that records Documents, ticks the checklist, may move the case to `file_complete`
and queues the family's summary.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.documents import messages as say
from bot.documents.inspection import (
    Inspected,
)
from bot.documents.sessions import (
    UploadRefused,
    UploadSessions,
)
from bot.i18n.render import isolate
from bot.imaging.identity import Match
from bot.imaging.messages import imaging_lines
from bot.imaging.quality import record_verdicts
from bot.journey.quotes import quote_answer
from bot.operations.metrics import metrics
from intake.case import CaseStatus
from intake.checklist import (
    ItemKind,
    ReceivedDocument,
    checklist_for,
    is_complete,
    is_satisfied,
    missing_items,
    received_from,
)
from intake.deadlines import SlaEvent, cancelled_kinds, sla_deadlines
from intake.imaging import assess_inspections
from intake.prompts import Prompt, Text
from intake.quotes import review_may_start
from storage import repositories as repo
from storage.files import (
    FileStore,
)
from storage.tables import Case, Contact, Document, Timer, UploadSession
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


SUMMARY_DOCUMENTS = 8


@dataclass
class Whole:
    """One whole upload, inspected, waiting to be recorded."""

    row: UploadSession
    inspected: Inspected
    sha: str
    duplicate: int | None = None


class UploadService(UploadSessions):
    """Upload sessions and what happens when a file is whole; shared by web and chat paths."""

    # -- completion

    async def complete(self, upload_id: str) -> None:
        """Inspect a whole upload and record what it is; idempotent, safe to call again."""
        lock = self._locks.setdefault(upload_id, asyncio.Lock())
        try:
            async with lock:
                await self._complete(upload_id)
        finally:
            if not lock.locked():
                self._locks.pop(upload_id, None)

    async def _complete(self, upload_id: str) -> None:
        async with UnitOfWork(self.db, write=False) as uow:
            row = await uow.session.get(UploadSession, upload_id)
            case = await uow.session.get(Case, row.case_id) if row is not None else None
        if row is None or case is None or row.status != "uploaded":
            return
        sha = await self._whole_sha(row)
        duplicate = await self._find_duplicate(row.case_id, sha)
        if duplicate is not None:
            await self.record([Whole(row, Inspected(consumed=True), sha, duplicate)])
            return
        inspected = await self.inspect_safely(row, case, sha)
        await self.record([Whole(row, inspected, sha, None)])

    async def inspect_safely(
        self, row: UploadSession, case: Case, sha: str, head: bytes | None = None
    ) -> Inspected:
        """What a whole upload is; unreadable bytes are kept as an invalid document."""
        try:
            inspected = await self._inspect(row, case, sha, head)
        except Exception as error:
            # Hostile or broken bytes must not wedge the upload: they are kept and shown to
            # coordinators as unreadable, never lost silently.
            log.warning("upload inspection failed",
                        extra={"case_id": row.case_id, "error": type(error).__name__})
            unreadable = self.inspector.as_is(row, sha, "other", valid=False,
                                              problem="unreadable")
            inspected = Inspected(documents=[unreadable])
            metrics().inspection_failures.labels("unreadable").inc()
        for problem in inspected.problems:
            metrics().inspection_failures.labels(problem.get("code", "other")).inc()
        return inspected

    async def _whole_sha(self, row: UploadSession) -> str:
        if len(row.parts) == 1 and row.parts[0].get("sha256"):
            return str(row.parts[0]["sha256"])
        cached = self._hashes.pop(row.id, None)
        if cached is not None and cached[0] == row.length:
            return str(cached[1].hexdigest())
        hasher = hashlib.sha256()
        for part in row.parts:
            async for chunk in self.store.open(str(part["key"])):
                hasher.update(chunk)
        return hasher.hexdigest()

    async def _find_duplicate(self, case_id: int, sha: str) -> int | None:
        async with UnitOfWork(self.db, write=False) as uow:
            return await uow.session.scalar(
                select(Document.id).where(Document.case_id == case_id, Document.sha256 == sha)
                .limit(1))

    async def _inspect(
        self, row: UploadSession, case: Case, sha: str, head: bytes | None = None
    ) -> Inspected:
        async def budget() -> int:
            async with UnitOfWork(self.db, write=False) as uow:
                used = await self._usage(uow.session, row.case_id)
            # The archive itself is counted in the usage; its members replace it.
            room = max(0, self.limits.case_bytes - used + row.length)
            return min(room, self.budgets.limits.zip_per_archive)

        async def reserve(amount: int) -> None:
            await self.budgets.reserve_expansion(row.case_id, amount)

        inspected: Inspected = await self.inspector.inspect(row, case.answers, sha, budget,
                                                            reserve, head)
        return inspected

    async def record(self, wholes: Sequence[Whole], *, new: bool = False) -> list[bool]:
        """Record whole uploads of one case in one transaction: Documents, checklist, summary.

        `new`: the upload rows are not in the database yet (a batch request): they are
        inserted here, complete, so a batch leaves either all its rows or none. Returns, per
        upload, whether it was recorded (an upload completed meanwhile by another request is
        not). Store objects made by inspection are deleted when they are not recorded.
        """
        if not wholes:
            return []
        now = self.clock()
        case_id = wholes[0].row.case_id
        drop: list[str] = []
        recorded = [False] * len(wholes)
        committed = told = completed = False
        try:
            async with UnitOfWork(self.db) as uow:
                session = uow.session
                case = await self._locked(uow, Case, case_id)
                uploads: list[UploadSession | None] = []
                for whole in wholes:
                    if new:
                        session.add(whole.row)
                        uploads.append(whole.row)
                        continue
                    upload = await self._locked(uow, UploadSession, whole.row.id)
                    uploads.append(upload if upload is not None
                                   and upload.status == "uploaded" else None)
                if case is None:
                    uploads = [None] * len(wholes)
                # Only the hashes these uploads bring: a study of thousands of files must not
                # reload every earlier document's hash for each new one.
                hashes = {h for w in wholes for h in (w.sha, *(p.sha256
                                                              for p in w.inspected.documents))}
                known = dict((await session.execute(
                    select(Document.sha256, Document.id).where(
                        Document.case_id == case_id, Document.sha256.in_(hashes))
                )).all())
                added: list[tuple[UploadSession, Whole, list[Document], list[str]]] = []
                for index, (whole, upload) in enumerate(zip(wholes, uploads, strict=True)):
                    if upload is None:
                        drop += [p.storage_key for p in whole.inspected.documents if p.owned]
                        continue
                    recorded[index] = True
                    documents, duplicates = self._documents(whole, known, upload, drop, now)
                    for document in documents:
                        session.add(document)
                    added.append((upload, whole, documents, duplicates))
                await session.flush()
                if not added:
                    return recorded
                assert case is not None
                all_documents = [d for _, _, documents, _ in added for d in documents]
                contact = await session.get(Contact, case.contact_id) if case.contact_id else None
                if contact is not None and any(
                    d.inspection.get("identity") == Match.MISMATCH for d in all_documents
                ):
                    contact.needs_human = True
                completed = await self._update_checklist(session, case, now)
                for upload, whole, documents, duplicates in added:
                    upload.status = "complete"
                    upload.completed_at = upload.updated_at = now
                    upload.outcome = {
                        "documents": [d.id for d in documents],
                        "duplicate_of": whole.duplicate, "duplicates": duplicates,
                        "problems": whole.inspected.problems, "completed_case": completed,
                    }
                unbatched = [upload for upload, *_ in added if upload.batch is None]
                told = bool(unbatched) and contact is not None
                if told:
                    assert contact is not None
                    await self._notify(session, case, contact, unbatched, now)
                await uow.commit()
                committed = True
                for upload, whole, *_ in added:
                    if whole.inspected.consumed:
                        drop += [str(p["key"]) for p in upload.parts]
                log.info("upload complete", extra={"case_id": case.id,
                                                   "count": len(all_documents),
                                                   "status": case.status})
        except BaseException:
            if not committed:
                drop += [p.storage_key for w in wholes for p in w.inspected.documents
                         if p.owned]
            raise
        finally:
            for key in dict.fromkeys(drop):
                await self.store.delete(key)
        if committed and (told or completed):
            self.on_committed()  # a message for the family is in the outbox
        return recorded

    @staticmethod
    def _documents(
        whole: Whole, known: dict[str, int], upload: UploadSession, drop: list[str],
        now: datetime,
    ) -> tuple[list[Document], list[str]]:
        """The Documents one upload adds (duplicates left out and named); updates `known`."""
        inspected = whole.inspected
        only = len(inspected.documents) == 1 and not inspected.documents[0].owned
        if whole.duplicate is None and only and whole.sha in known:
            whole.duplicate = known[whole.sha]
        duplicates: list[str] = []
        if whole.duplicate is not None:
            drop += [p.storage_key for p in inspected.documents if p.owned]
            inspected = whole.inspected = Inspected(problems=inspected.problems, consumed=True)
            duplicates.append(upload.filename)
        documents: list[Document] = []
        for prepared in inspected.documents:
            if prepared.sha256 in known:
                duplicates.append(prepared.filename)
                if prepared.owned:
                    drop.append(prepared.storage_key)
                continue
            documents.append(Document(
                case_id=upload.case_id, kind=prepared.kind, filename=prepared.filename,
                content_type=prepared.content_type, size=prepared.size,
                sha256=prepared.sha256, storage_key=prepared.storage_key,
                is_dicom=prepared.is_dicom, valid=prepared.valid,
                detected_type=prepared.detected_type,
                inspection=prepared.inspection, created_at=now))
            known[prepared.sha256] = -1
            metrics().upload_files.labels(upload.source).inc()
            metrics().upload_bytes.labels(upload.source).inc(prepared.size)
        return documents, duplicates

    async def _received(self, session: AsyncSession, case_id: int) -> list[ReceivedDocument]:
        return await repo.received_documents(session, case_id)

    async def _update_checklist(self, session: AsyncSession, case: Case, now: datetime) -> bool:
        """Move the case to `file_complete` when every required document is in."""
        if case.status != CaseStatus.AWAITING_DOCUMENTS:
            return False
        items = checklist_for(case.answers)
        # Judging the imaging reads every image's facts: only worth it when nothing else is
        # missing (a study arrives as hundreds of uploads, each updating the checklist).
        quick = await repo.received_documents(session, case.id, imaging=False)
        waiting = missing_items(items, quick, case.answers, required_only=True)
        if any(item.kind is not ItemKind.IMAGING_DICOM for item in waiting):
            return False
        received = await self._received(session, case.id)
        if not is_complete(items, received, case.answers):
            return False
        repo.change_status(session, case, CaseStatus.FILE_COMPLETE, "family", now)
        case.file_complete_at = now
        kinds = tuple(kind.value for kind in cancelled_kinds(SlaEvent.FILE_COMPLETE))
        await repo.cancel_timers(session, case.id, now, kinds)
        routing = case.routing or {}
        for deadline in sla_deadlines(
            SlaEvent.FILE_COMPLETE, now, urgent=bool(case.urgent),
            tumour_board=routing.get("kind") == "tumour_board", now=now,
        ):
            session.add(Timer(case_id=case.id, contact_id=case.contact_id,
                              kind=deadline.kind.value, audience=deadline.audience.value,
                              due_at=deadline.due_at, created_at=now))
        log.info("file complete", extra={"case_id": case.id})
        return True

    # -- telling the family

    async def finish_batch(self, case_id: int) -> bool:
        """The page finished a selection: one summary of everything not yet reported."""
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            session = uow.session
            rows = list((await session.execute(
                select(UploadSession).where(
                    UploadSession.case_id == case_id, UploadSession.status == "complete",
                    UploadSession.notified_at.is_(None))
                .order_by(UploadSession.completed_at))).scalars())
            case = await session.get(Case, case_id)
            contact = (await session.get(Contact, case.contact_id)
                       if case is not None and case.contact_id else None)
            if not rows or case is None or contact is None:
                return False
            await self._notify(session, case, contact, rows, now)
            await uow.commit()
        self.on_committed()
        return True

    async def _notify(
        self, session: AsyncSession, case: Case, contact: Contact,
        rows: Sequence[UploadSession], now: datetime,
    ) -> None:
        text = await self._summary(session, case, rows)
        await self.writer.queue(session, contact, [Prompt(text)], case.language, now,
                                case_id=case.id)
        for row in rows:
            row.notified_at = now

    async def _summary(
        self, session: AsyncSession, case: Case, rows: Sequence[UploadSession]
    ) -> Text:
        ids = [i for row in rows for i in row.outcome.get("documents", [])]
        documents = list((await session.execute(
            select(Document).where(Document.id.in_(ids)).order_by(Document.id)
        )).scalars()) if ids else []
        verdicts, told = await record_verdicts(session, case.id)
        lines: list[Text] = imaging_lines(documents, verdicts, told)
        plain = [d for d in documents
                 if d.valid and not d.is_dicom and d.inspection.get("role") != "dicomdir"]
        lines += [say.document_line(d.kind, d.filename) for d in plain[:SUMMARY_DOCUMENTS]]
        if len(plain) > SUMMARY_DOCUMENTS:
            lines.append(say.more_documents(len(plain) - SUMMARY_DOCUMENTS))
        problems = [(d.filename, d.inspection.get("problem")) for d in documents
                    if not d.valid]
        problems += [(p["name"], p["code"]) for row in rows
                     for p in row.outcome.get("problems", [])]
        lines += say.problem_lines(problems)
        duplicates = [name for row in rows for name in row.outcome.get("duplicates", [])]
        if len(duplicates) == 1:
            lines.append(say.duplicate_line(duplicates[0]))
        elif duplicates:
            lines.append(say.duplicate_group(len(duplicates)))
        dicomdirs = [d for d in documents if d.inspection.get("role") == "dicomdir" and d.valid]
        if dicomdirs:
            paths = await _case_paths(session, case.id)
            for directory in dicomdirs:
                listed, missing = say.folder_counts(directory, paths)
                lines.append(say.folder_check(listed, missing))
        if any(d.inspection.get("identity") == Match.MISMATCH for d in documents):
            lines.append(say.identity_notice())
        unsorted = [d for d in plain if d.kind == ItemKind.OTHER]
        if unsorted:
            lines.append(say.pick_item_notice(len(unsorted)))
        if any(row.outcome.get("completed_case") for row in rows):
            lines.append(say.file_complete(await self._waits_for_quote(session, case)))
        elif case.status == CaseStatus.AWAITING_DOCUMENTS:
            received = await self._received(session, case.id)
            wanted = missing_items(checklist_for(case.answers), received, case.answers,
                                   required_only=True)
            if wanted:
                lines.append(say.still_missing([item.label for item in wanted]))
        return say.summary(isolate(case.reference, case.language), lines)

    async def _waits_for_quote(self, session: AsyncSession, case: Case) -> bool:
        """Whether the specialists' review still waits for the family to accept a quote."""
        return not review_may_start(
            CaseStatus.IN_REVIEW_SPECIALIST, await quote_answer(session, case.id),
            required=self.quote_required, paid_elsewhere=case.paid_elsewhere_at is not None)

    # -- the family sorts its documents

    async def set_item(self, case_id: int, document_id: int, item: str) -> bool:
        """The family says what a (non-DICOM) document is; may complete the file."""
        try:
            kind = ItemKind(item)
        except ValueError:
            raise UploadRefused(400, "bad_item") from None
        now = self.clock()
        async with UnitOfWork(self.db) as uow:
            session = uow.session
            document = await session.get(Document, document_id)
            if document is None or document.case_id != case_id:
                raise UploadRefused(404, "not_found")
            if document.is_dicom or document.inspection.get("role") == "dicomdir":
                raise UploadRefused(409, "not_sortable")
            document.kind = kind.value
            case = await self._locked(uow, Case, case_id)
            completed = await self._update_checklist(session, case, now)
            if completed and case.contact_id:
                contact = await session.get(Contact, case.contact_id)
                if contact is not None:
                    told = say.file_complete(await self._waits_for_quote(session, case))
                    await self.writer.queue(session, contact, [Prompt(told)],
                                            case.language, now, case_id=case.id)
            await uow.commit()
        if completed:
            self.on_committed()
        return completed

    # -- what the page shows

    async def status(self, case_id: int, lang: str) -> dict[str, Any]:
        """The checklist, studies and documents of a case, rendered in `lang`, for the page."""
        render = self.renderer.text
        async with UnitOfWork(self.db, write=False) as uow:
            session = uow.session
            case = await session.get(Case, case_id)
            assert case is not None
            documents = list((await session.execute(
                select(Document).where(Document.case_id == case_id).order_by(Document.id)
            )).scalars())
            pending = await session.scalar(select(func.count()).select_from(UploadSession).where(
                UploadSession.case_id == case_id, UploadSession.status == "uploaded"))
        received = received_from((d.kind, d.is_dicom, d.valid, d.inspection or {})
                                 for d in documents)
        items = checklist_for(case.answers)
        checklist = [
            {"kind": str(item.kind), "label": render(item.label, lang),
             "hint": render(item.hint, lang), "required": item.required,
             "done": is_satisfied(item, received, case.answers)}
            for item in items
        ]
        paths = {str(d.inspection.get("path") or "").casefold() for d in documents}
        verdicts = assess_inspections(d.inspection or {} for d in documents
                                      if d.is_dicom and d.valid)
        notes = [render(t, lang) for t in imaging_lines(documents, verdicts)]
        invalid_dicom = [(d.filename, d.inspection.get("problem")) for d in documents
                         if d.is_dicom and not d.valid]
        notes += [render(t, lang) for t in say.problem_lines(invalid_dicom)]
        for directory in documents:
            if directory.inspection.get("role") == "dicomdir" and directory.valid:
                notes.append(render(say.folder_check(*say.folder_counts(directory, paths)), lang))
        if any(d.inspection.get("identity") == Match.MISMATCH for d in documents):
            notes.append(render(say.identity_notice(), lang))
        listed = [
            {"id": d.id, "name": d.filename, "size": d.size, "kind": d.kind,
             "label": render(say.item_label(d.kind), lang), "valid": d.valid,
             "problem": None if d.valid else render(say.problem_text(
                 d.inspection.get("problem")), lang),
             "needs_item": d.valid and d.kind == ItemKind.OTHER}
            for d in documents
            if not d.is_dicom and (not d.valid or d.inspection.get("role") != "dicomdir")
        ]
        return {
            "reference": case.reference,
            "complete": all(c["done"] for c in checklist if c["required"]),
            "checklist": checklist,
            "notes": notes,
            "documents": listed[-200:],
            "items": [{"key": key, "label": render(label, lang)}
                      for key, label in say.choosable_items(items)],
            "processing": int(pending or 0),
        }


async def _case_paths(session: AsyncSession, case_id: int) -> set[str]:
    rows = (await session.execute(
        select(Document.inspection).where(Document.case_id == case_id))).scalars()
    return {str(info.get("path") or "").casefold() for info in rows}


FILES = web.AppKey("files", FileStore)  # type: ignore[type-abstract]
UPLOADS = web.AppKey("uploads", UploadService)
