"""Reading uploaded bytes back from the encrypted store and deciding what they are.

The `Inspector` does file work only, never holding a database session: the type from the
content (`bot.documents.kinds.sniff`, finished by `bot.documents.content_types`: only allowed types
are kept, whatever the name says), a DICOM header (`bot.imaging.reading`, in a worker thread), a
DICOMDIR's list of files, a ZIP's members, each stored on its own (`bot.documents.archive`). The
document helpers (`open_document`, `document_keys`, `purge_case_uploads`) resolve a multi-part
document's parts through the caller's session. A multi-part upload is read through a seekable view
that decrypts one part at a time, so pydicom and zipfile see one file and memory stays small.
"""

from __future__ import annotations

import asyncio
import bisect
import io
import logging
import re
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.documents.archive import ArchiveRejected, declared_size, iter_zip_members
from bot.documents.content_types import BINARY, dangerous_name, served_as, text_is_plain, zip_kind
from bot.documents.kinds import SNIFF_BYTES, FileType, claims_dicom, guess_item, sniff
from bot.imaging.identity import identity_matches
from bot.imaging.quality import is_report
from bot.imaging.reading import DicomKind, DicomReport, InvalidDicom, inspect_dicom
from bot.imaging.studies import read_dicomdir
from intake.checklist import ItemKind
from storage.files import FileStore, FileTooLarge, chunks_from_file
from storage.tables import Document, UploadSession

log = logging.getLogger(__name__)

READ_CHUNK = 256 * 1024
PARTS_PREFIX = "parts:"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def display_name(raw: str | None) -> str:
    """A file name safe to show: the last path component, no control or bidi characters."""
    text = unicodedata.normalize("NFC", raw or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = _CONTROL.sub("", text).strip().lstrip(".").strip()
    return text[:200] or "file"


def clean_relative_path(raw: str | None) -> str | None:
    """A folder-relative path for matching against a DICOMDIR; components sanitised."""
    if not raw:
        return None
    text = unicodedata.normalize("NFC", raw).replace("\\", "/")
    parts = [_CONTROL.sub("", p).strip() for p in text.split("/")]
    parts = [p for p in parts if p and p not in {".", ".."}]
    joined = "/".join(parts)
    return joined[:500] or None


# ---------------------------------------------------------------- reading stored content


class _Concatenated(io.RawIOBase):
    """A seekable plaintext view over a file stored as several parts, opened lazily."""

    def __init__(self, store: FileStore, parts: Sequence[dict[str, Any]]) -> None:
        self._store = store
        self._keys = [str(p["key"]) for p in parts]
        self._starts: list[int] = []
        total = 0
        for part in parts:
            self._starts.append(total)
            total += int(part["size"])
        self._size = total
        self._pos = 0
        self._open: tuple[int, BinaryIO] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._pos >= self._size or not len(buffer):
            return 0
        index = bisect.bisect_right(self._starts, self._pos) - 1
        if self._open is None or self._open[0] != index:
            if self._open is not None:
                self._open[1].close()
            self._open = (index, self._store.open_seekable(self._keys[index]))
        handle = self._open[1]
        handle.seek(self._pos - self._starts[index])
        data = handle.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        if self._open is not None:
            self._open[1].close()
            self._open = None
        super().close()


def open_parts(store: FileStore, parts: Sequence[dict[str, Any]]) -> BinaryIO:
    """A blocking, seekable plaintext file over stored parts (worker threads only)."""
    if len(parts) == 1:
        return store.open_seekable(str(parts[0]["key"]))
    return io.BufferedReader(_Concatenated(store, parts), buffer_size=READ_CHUNK)


async def _parts_of(session: AsyncSession, document: Document) -> list[dict[str, Any]]:
    if not document.storage_key.startswith(PARTS_PREFIX):
        return [{"key": document.storage_key, "size": document.size}]
    upload = await session.get(UploadSession, document.storage_key[len(PARTS_PREFIX):])
    return list(upload.parts) if upload is not None else []


async def document_parts(session: AsyncSession, document: Document) -> list[dict[str, Any]]:
    """A document's stored parts (key, size), to open it with `open_parts` in a thread."""
    return await _parts_of(session, document)


async def document_keys(session: AsyncSession, document: Document) -> list[str]:
    """The store keys holding a document's bytes (to delete them with the document)."""
    return [str(part["key"]) for part in await _parts_of(session, document)]


async def purge_case_uploads(session: AsyncSession, case_id: int) -> list[str]:
    """Erasure and retention: forget a case's uploads; returns every store key to delete.

    Call it before deleting the case's Document rows (multi-part documents are found through
    their upload), and delete the keys from the store once the transaction has committed.
    """
    keys: list[str] = []
    documents = (await session.execute(
        select(Document).where(Document.case_id == case_id))).scalars()
    for document in documents:
        keys += await document_keys(session, document)
        preview = (document.inspection or {}).get("preview_key")  # bot.web.inbox.previews
        if preview:
            keys.append(str(preview))
    uploads = list((await session.execute(
        select(UploadSession).where(UploadSession.case_id == case_id))).scalars())
    for upload in uploads:
        keys += [str(part["key"]) for part in upload.parts]
        await session.delete(upload)
    return list(dict.fromkeys(keys))


async def open_document(
    store: FileStore, session: AsyncSession, document: Document
) -> AsyncIterator[bytes]:
    """Stream a document's plaintext, whether it is one stored object or a parts manifest."""
    for part in await _parts_of(session, document):
        async for chunk in store.open(str(part["key"])):
            yield chunk


# ---------------------------------------------------------------- inspection


@dataclass
class Prepared:
    """One Document to record, as inspection found it."""

    kind: str
    filename: str
    content_type: str | None
    size: int
    sha256: str
    storage_key: str
    is_dicom: bool = False
    valid: bool = True
    inspection: dict[str, Any] = field(default_factory=dict)
    owned: bool = False  # a store object made by inspection (a ZIP member): ours to delete
    detected_type: str = BINARY  # what the content is; downloads are named and typed by it


@dataclass
class Inspected:
    """What one upload turned into."""

    documents: list[Prepared] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    consumed: bool = False  # the upload's own parts are no longer needed (ZIP unpacked)


Reserve = Callable[[int], Awaitable[None]]


def _content_type(file_type: FileType) -> str | None:
    if file_type is FileType.UNKNOWN:
        return None
    return served_as(file_type.value)[0].split(";")[0]


def _birth_date(answers: dict[str, Any]) -> date | None:
    raw = answers.get("patient_birth_date")
    try:
        return date.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def _dicom_inspection(report: DicomReport, answers: dict[str, Any]) -> dict[str, Any]:
    """What a Document keeps of a DICOM header: never the patient's name or birth date."""
    identity = identity_matches(report, str(answers.get("patient_name") or ""),
                                _birth_date(answers))
    return {
        "modality": report.modality,
        "study_date": report.study_date.isoformat() if report.study_date else None,
        "study_uid": report.study_uid,
        "series_uid": report.series_uid,
        "sop_instance_uid": report.sop_instance_uid,
        "body_part": report.body_part,
        "institution": report.institution,
        "frames": report.number_of_frames or 1,
        "identity": str(identity),
        "problem": report.problem,
        "image": report.image,
    }


def _read_head(store: FileStore, parts: Sequence[dict[str, Any]]) -> bytes:
    with open_parts(store, parts) as fh:
        return fh.read(SNIFF_BYTES)


def _confirm_type(store: FileStore, parts: Sequence[dict[str, Any]], kind: FileType) -> FileType:
    """Blocking: what the head suggested, checked on the whole file where it matters."""
    if kind not in (FileType.ZIP, FileType.TEXT):
        return kind
    with open_parts(store, parts) as fh:
        if kind is FileType.ZIP:
            return zip_kind(fh)
        return FileType.TEXT if text_is_plain(fh) else FileType.UNKNOWN


async def _confirmed(
    store: FileStore, parts: Sequence[dict[str, Any]], kind: FileType
) -> FileType:
    """`_confirm_type` in a worker thread, only for the types it reads (a thread hop per
    file is a real share of the cost of thousands of small instances)."""
    if kind not in (FileType.ZIP, FileType.TEXT):
        return kind
    return await asyncio.to_thread(_confirm_type, store, parts, kind)


def refusal_code(name: str, declared: str | None) -> str:
    """Why a file of no accepted type is refused, in the words the family will read."""
    return "not_dicom" if claims_dicom(name, declared) else "unsupported_type"


def _inspect_dicom_file(
    store: FileStore, parts: Sequence[dict[str, Any]], raw_allowed: bool
) -> tuple[DicomReport, list[str] | None, str | None]:
    """Blocking: the header report, and for a DICOMDIR the files it lists (or its problem)."""
    with open_parts(store, parts) as fh:
        report = inspect_dicom(fh, allow_missing_preamble=raw_allowed)
        if report.kind is not DicomKind.DICOMDIR:
            return report, None, None
        try:
            index = read_dicomdir(fh)
        except InvalidDicom as problem:
            return report, None, problem.code
        return report, [ref.path for ref in index.files], None


class Inspector:
    """Turns a whole upload into the Documents to record; holds no database session."""

    def __init__(self, store: FileStore, file_bytes: int) -> None:
        self.store = store
        self.file_bytes = file_bytes

    @staticmethod
    def storage_key(row: UploadSession) -> str:
        """Where a whole upload's bytes are: its one part, or the manifest of its parts."""
        return str(row.parts[0]["key"]) if len(row.parts) == 1 else PARTS_PREFIX + row.id

    def as_is(self, row: UploadSession, sha: str, kind: str, *, valid: bool = True,
              problem: str | None = None, detected: str = BINARY) -> Prepared:
        """The upload recorded as it is (unreadable, or an archive we refused to open)."""
        inspection: dict[str, Any] = {"path": row.relative_path, "source": row.source}
        if problem:
            inspection["problem"] = problem
        return Prepared(kind=kind, filename=row.filename,
                        content_type=served_as(detected)[0].split(";")[0],
                        size=row.length, sha256=sha, storage_key=self.storage_key(row),
                        valid=valid, inspection=inspection, detected_type=detected)

    async def inspect(
        self, row: UploadSession, answers: dict[str, Any], sha: str,
        budget: Callable[[], Awaitable[int]], reserve: Reserve, head: bytes | None = None,
    ) -> Inspected:
        """What a whole upload is; `budget` says how much an archive may unpack to, and
        `reserve` counts an archive's expansion against the case's daily allowance.

        `head`: the file's first `SNIFF_BYTES` (or all of a shorter file) when the caller
        saw them arrive, which saves decrypting them again."""
        if dangerous_name(row.filename) or dangerous_name(row.relative_path or ""):
            return Inspected(problems=[{"name": row.filename, "code": "unsupported_type"}],
                             consumed=True)
        parts = list(row.parts)
        if head is None or len(head) != min(SNIFF_BYTES, row.length):
            head = await asyncio.to_thread(_read_head, self.store, parts)
        in_folder = "/" in (row.relative_path or "")
        file_type = sniff(head, row.filename, row.filetype, in_dicomdir_folder=in_folder)
        file_type = await _confirmed(self.store, parts, file_type)
        if file_type is FileType.ZIP:
            return await self._unzip(row, answers, parts, sha, await budget(), reserve)
        prepared = await self._prepare(
            parts, head, file_type, row.filename, row.relative_path, row.item, row.filetype,
            sha, row.length, self.storage_key(row), answers, owned=False)
        if prepared is None:
            code = refusal_code(row.filename, row.filetype)
            return Inspected(problems=[{"name": row.filename, "code": code}], consumed=True)
        prepared.inspection["source"] = row.source
        return Inspected(documents=[prepared])

    async def _prepare(
        self, parts: list[dict[str, Any]], head: bytes, file_type: FileType, name: str,
        path: str | None, item: str | None, declared: str | None, sha: str, size: int,
        key: str, answers: dict[str, Any], *, owned: bool,
    ) -> Prepared | None:
        """One file's Document, by what its bytes are; None for a type we do not accept."""
        base: dict[str, Any] = {"path": path}
        doc = Prepared(kind=ItemKind.OTHER.value, filename=name,
                       content_type=_content_type(file_type), size=size, sha256=sha,
                       storage_key=key, inspection=base, owned=owned,
                       detected_type=file_type.value)
        if file_type is FileType.DICOM:
            report, listed, dir_problem = await asyncio.to_thread(
                _inspect_dicom_file, self.store, parts, "/" in (path or ""))
            if report.kind is DicomKind.DICOMDIR:
                # The disc's index: it checks the folder, it is not a checklist item itself.
                base.update(role="dicomdir", files=listed or [], problem=dir_problem)
                doc.valid = listed is not None
                return doc
            if report.kind is DicomKind.INSTANCE:
                doc.kind, doc.is_dicom = ItemKind.IMAGING_DICOM.value, True
                if is_report(report.sop_class_uid, report.modality):
                    doc.kind = ItemKind.IMAGING_REPORT.value
                doc.valid = report.valid
                base.update(_dicom_inspection(report, answers))
                return doc
            file_type = FileType.UNKNOWN
        if file_type is FileType.UNKNOWN:
            return None
        if claims_dicom(name, declared):
            # An accepted document named like an image (a PDF report called scan.dcm): kept,
            # not counted as imaging.
            doc.kind, doc.valid = ItemKind.IMAGING_DICOM.value, False
            base["problem"] = "not_dicom"
            return doc
        if file_type is FileType.ZIP:
            doc.valid = False
            base["problem"] = "nested_archive"
            return doc
        chosen = item if item in ItemKind._value2member_map_ else None
        guessed = guess_item(name, file_type)
        doc.kind = chosen or (guessed.value if guessed else ItemKind.OTHER.value)
        return doc

    async def _unzip(
        self, row: UploadSession, answers: dict[str, Any], parts: list[dict[str, Any]],
        sha: str, budget: int, reserve: Reserve,
    ) -> Inspected:
        """Each member stored on its own (encrypted) and inspected; the archive is dropped.

        The archive may unpack to `budget` bytes at most; what its directory declares is
        counted against the case's daily allowance before any member is read.
        """
        result = Inspected(consumed=True)
        prefix = row.relative_path or row.filename
        archive = await asyncio.to_thread(open_parts, self.store, parts)
        try:
            declared = await asyncio.to_thread(declared_size, archive)
            if declared > budget:
                raise ArchiveRejected("too_large")
            await reserve(declared)
            members = iter_zip_members(archive, max_total_uncompressed=budget)
            while (member := await asyncio.to_thread(next, members, None)) is not None:
                name = display_name(member.name)
                if dangerous_name(member.name):
                    result.problems.append({"name": name, "code": "unsupported_type"})
                    continue
                if member.size > self.file_bytes:
                    result.problems.append({"name": name, "code": "file_too_large"})
                    continue
                reader = await asyncio.to_thread(member.open)
                try:
                    stored = await self.store.put(chunks_from_file(reader, READ_CHUNK),
                                                  max_size=self.file_bytes)
                finally:
                    reader.close()
                member_parts = [{"key": stored.key, "size": stored.size}]
                head = await asyncio.to_thread(_read_head, self.store, member_parts)
                path = f"{prefix}/{member.name}"
                file_type = sniff(head, member.name, None, in_dicomdir_folder="/" in member.name)
                file_type = await _confirmed(self.store, member_parts, file_type)
                prepared = await self._prepare(
                    member_parts, head, file_type, name, path, row.item, None, stored.sha256,
                    stored.size, stored.key, answers, owned=True)
                if prepared is None:
                    await self.store.delete(stored.key)
                    result.problems.append({"name": name,
                                            "code": refusal_code(member.name, None)})
                    continue
                prepared.inspection.update(source=row.source, archive=row.filename)
                result.documents.append(prepared)
        except (ArchiveRejected, FileTooLarge) as rejected:
            for prepared in result.documents:
                await self.store.delete(prepared.storage_key)
            code = rejected.code if isinstance(rejected, ArchiveRejected) else "too_large"
            log.info("archive refused", extra={"case_id": row.case_id, "error": code})
            return Inspected(documents=[self.as_is(row, sha, "other", valid=False,
                                                    problem=code, detected=FileType.ZIP.value)])
        except BaseException:
            for prepared in result.documents:
                await asyncio.shield(self.store.delete(prepared.storage_key))
            raise
        finally:
            await asyncio.to_thread(archive.close)
        if not result.documents and not result.problems:
            result.problems.append({"name": row.filename, "code": "empty"})
        return result
