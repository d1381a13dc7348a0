"""Many small files in one request (the page's batches), end to end on the configured database.

The page sends files that fit in one piece in batches; each file is checked as a tus upload
is, refused alone with its reason, and a batch is recorded whole or not at all.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from urllib.parse import urlsplit

import pytest
from sqlalchemy import update

from bot.documents.batches import BATCH_BODY_BYTES, BATCH_FILES
from bot.settings import Settings
from bot.web import upload as upload_web
from storage.db import Database
from storage.tables import Case, Document, UploadSession
from storage.unit_of_work import UnitOfWork
from tests.dicom_factory import iter_study
from tests.e2e.test_webchat_intake import rows
from tests.e2e.upload_client import Intake, batch_body, batch_bytes, pdf, submitted

AMIRA = {"patient_name": "BENALI^AMIRA", "birth_date": date(2015, 5, 14)}
EXE = b"MZ\x90\x00" + b"\x00" * 60 + b"This program cannot be run in DOS mode." + b"\x00" * 200


@pytest.fixture
async def intake(settings: Settings) -> AsyncIterator[Intake]:
    """The app running, a case submitted through the web chat, and its upload link."""
    async with submitted(settings) as running:
        yield running


def study(count: int) -> list[tuple[bytes, dict[str, str]]]:
    """A CT series as the page would batch it (file name, folder path, batch id)."""
    return [(data, {"filename": name.rsplit("/", 1)[-1], "relativePath": f"CD/{name}",
                    "batch": "b1"})
            for name, data in iter_study(instances=count, study_date=date(2026, 10, 2),
                                         **AMIRA)]


async def set_language(database_url: str, language: str) -> None:
    database = Database(database_url)
    try:
        async with UnitOfWork(database) as uow:
            await uow.session.execute(update(Case).values(language=language))
            await uow.commit()
    finally:
        await database.dispose()


async def test_a_batch_of_instances_and_a_report_is_kept_inspected_and_summarised_once(
    intake: Intake,
) -> None:
    files = [*study(12), (pdf("lab"), {"filename": "Blood tests March.pdf", "batch": "b1"})]
    response = await intake.tus.batch(files)
    assert response.status == 200, await response.text()
    assert (await response.json())["files"] == [{"ok": True}] * 13
    assert await intake.chat(wait=0.5) == ""  # told once, when the page's selection ends
    assert (await intake.tus.done())["notified"] is True
    summary = await intake.chat()
    assert "CT scan of October\xa02,\xa02026: 1 series, 12 images \u2713" in summary
    assert "Laboratory results: Blood tests March.pdf \u2713" in summary

    documents = await intake.documents()
    assert sorted(d.kind for d in documents) == ["imaging_dicom"] * 12 + ["lab_results"]
    by_hash = {hashlib.sha256(data).hexdigest(): meta for data, meta in files}
    for document in documents:
        assert document.filename == by_hash[document.sha256]["filename"]
        assert document.valid
    ct = next(d for d in documents if d.is_dicom)
    assert ct.inspection["identity"] == "match" and ct.inspection["modality"] == "CT"
    assert ct.inspection["path"].startswith("CD/")
    uploads = await rows(intake.settings.database_url, UploadSession)
    assert len(uploads) == 13 and {u.status for u in uploads} == {"complete"}
    assert len(intake.stored_objects()) == 13
    for stored in intake.stored_objects():
        assert b"%PDF" not in stored.read_bytes() and b"DICM" not in stored.read_bytes()
    status = await intake.tus.status()
    done = {item["kind"]: item["done"] for item in status["checklist"]}
    assert done["imaging_dicom"] and done["lab_results"]


async def test_a_bad_file_in_a_batch_is_refused_alone_with_its_reason_in_the_case_language(
    intake: Intake,
) -> None:
    await set_language(intake.settings.database_url, "fr")
    good = study(2)
    files = [
        good[0],
        (EXE, {"filename": "compte-rendu.pdf"}),  # a program whatever its name says
        (b"\x00\x01\x02\xff" * 200, {"filename": "IRM.dcm"}),  # named like an image
        (pdf("setup"), {"filename": "setup.exe"}),  # a name that says program
        (pdf("lab"), {"filename": "bilan.pdf"}),
        (pdf("lab"), {"filename": "bilan (1).pdf"}),  # the same bytes again
        good[1],
    ]
    response = await intake.tus.batch(files)
    assert response.status == 200
    results = (await response.json())["files"]
    assert [r["ok"] for r in results] == [True, False, False, False, True, True, True]
    assert [r.get("code") for r in results] == [
        None, "unsupported_type", "not_dicom", "unsupported_type", None, None, None]
    assert results[1]["error"].startswith("Ce type de fichier n'est pas accept\u00e9")
    assert "DICOM" in results[2]["error"] and results[2]["error"] != results[1]["error"]
    documents = await intake.documents()
    assert sorted(d.filename for d in documents) == sorted(
        [good[0][1]["filename"], good[1][1]["filename"], "bilan.pdf"])
    assert len(intake.stored_objects()) == 3  # refused and duplicate bytes are not kept
    assert not list((intake.settings.data_dir / "files" / "tmp").glob("*.part"))


async def cut_batch(link: str, body: bytes, content_type: str, sent: int) -> None:
    """A batch request announcing all of `body` whose connection dies after `sent` bytes."""
    parts = urlsplit(link)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = (
        f"POST {parts.path}/batch HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    writer.write(head + body[:sent])
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.transport.abort()
    await asyncio.sleep(0.5)


async def test_a_batch_cut_off_keeps_nothing_and_the_page_sends_it_again(
    intake: Intake,
) -> None:
    files = study(6)
    body, content_type = await batch_bytes(files)
    # Cut after the first files are whole: none of them was acknowledged, none is kept.
    await cut_batch(intake.link, body, content_type, sent=len(body) * 2 // 3)
    assert await rows(intake.settings.database_url, UploadSession) == []
    assert await rows(intake.settings.database_url, Document) == []
    assert intake.stored_objects() == []
    assert not list((intake.settings.data_dir / "files" / "tmp").glob("*.part"))

    again = await intake.tus.batch(files)
    assert again.status == 200
    assert [r["ok"] for r in (await again.json())["files"]] == [True] * 6
    assert len(await intake.documents()) == 6


async def test_an_oversize_batch_is_refused_whole_and_nothing_is_kept(intake: Intake) -> None:
    parts = urlsplit(intake.link)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write((
        f"POST {parts.path}/batch HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Accept-Language: en\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {BATCH_BODY_BYTES + 1}\r\n\r\n").encode())
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"Too many files were sent at once" in answer

    many = [(pdf(f"page {n}"), {"filename": f"page{n}.pdf"}) for n in range(BATCH_FILES + 1)]
    response = await intake.tus.batch(many)
    assert response.status == 413
    assert (await response.json())["code"] == "batch_too_large"
    assert await rows(intake.settings.database_url, UploadSession) == []
    assert intake.stored_objects() == []


async def test_a_batch_keeps_the_per_file_limits_of_the_case(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = intake.server.app[upload_web.UPLOADS]
    monkeypatch.setattr(service, "limits", replace(service.limits, case_bytes=3000))
    files = [(pdf("a" * 1000), {"filename": "a.pdf"}), (b"", {"filename": "empty.pdf"}),
             (pdf("b" * 1000), {"filename": "b.pdf"}), (pdf("c" * 1000), {"filename": "c.pdf"})]
    response = await intake.tus.batch(files)
    results = (await response.json())["files"]
    assert [r.get("code") for r in results] == [None, "empty", None, "case_full"]
    assert "no more room" in results[3]["error"]
    assert sorted(d.filename for d in await intake.documents()) == ["a.pdf", "b.pdf"]


async def test_a_batch_needs_a_valid_link_and_a_multipart_body(intake: Intake) -> None:
    wrong = await intake.http.post(f"{intake.link[:-4]}xxxx/batch", data=batch_body(study(1)))
    assert wrong.status == 404
    not_multipart = await intake.http.post(f"{intake.link}/batch", data=b"{}",
                                           headers={"Content-Type": "application/json"})
    assert not_multipart.status == 415
    assert await rows(intake.settings.database_url, UploadSession) == []
