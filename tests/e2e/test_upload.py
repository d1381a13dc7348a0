"""Secure upload links and document intake, end to end over HTTP on the configured database.

Every test runs the whole intake in the web chat first, then uses the case's upload link.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydicom.data import get_testdata_file
from sqlalchemy import select

from bot.settings import Settings
from storage.tables import Case, CaseHistory, Contact, Document, Timer, UploadLink, UploadSession
from tests.dicom_factory import instance_bytes, iter_study, write_dicomdir_folder, zip_files
from tests.e2e.test_webchat_intake import rows
from tests.e2e.upload_client import (
    Intake,
    cut_patch,
    link_for,
    pdf,
    submitted,
    the_case,
)

AMIRA = {"patient_name": "BENALI^AMIRA", "birth_date": date(2015, 5, 14)}


def pydicom_file(name: str) -> bytes:
    """A file from pydicom's own test data (shipped in the wheel, never downloaded)."""
    path = get_testdata_file(name, download=False)
    assert path is not None, name
    return Path(str(path)).read_bytes()


@pytest.fixture
async def intake(settings: Settings) -> AsyncIterator[Intake]:
    """The app running, a case submitted through the web chat, and its upload link."""
    async with submitted(settings) as running:
        yield running


async def test_a_family_sends_ct_mr_and_a_lab_report_and_the_checklist_ticks(
    intake: Intake,
) -> None:
    page = await intake.http.get(intake.link)
    assert page.status == 200
    html = await page.text()
    assert 'lang="en"' in html and 'dir="ltr"' in html
    case = await the_case(intake.settings.database_url)
    assert case.reference in html
    assert "Imaging (DICOM)" in html and "webkitdirectory" in html

    tus = intake.tus
    await tus.send(pydicom_file("CT_small.dcm"), chunk=16_000, filename="CT_small.dcm",
                   batch="b1")
    await tus.send(pydicom_file("MR_small.dcm"), filename="MR_small.dcm", batch="b1")
    await tus.send(pdf("lab"), filename="Blood tests March.pdf", batch="b1")
    for name, data in iter_study(instances=12, study_date=date(2026, 10, 2), **AMIRA):
        await tus.send(data, filename=name.rsplit("/", 1)[-1], batch="b1")
    assert await intake.chat(wait=0.5) == ""  # one summary per selection, not per file
    assert (await tus.done())["notified"] is True

    summary = await intake.chat()
    assert "Files received for your request" in summary and case.reference in summary
    # pydicom's one-slice samples are key images at best; the generated stack is a scan.
    assert "CT scan of January\xa019,\xa02004: 1 series, 1 image \u26a0" in summary
    assert "CT scan of October\xa02,\xa02026: 1 series, 12 images \u2713" in summary
    assert "MRI" in summary
    assert "Laboratory results: Blood tests March.pdf \u2713" in summary
    assert "Still missing: referral letter." in summary
    assert summary.count("Files received") == 1

    documents = await intake.documents()
    kinds = sorted(d.kind for d in documents)
    assert kinds == ["imaging_dicom"] * 14 + ["lab_results"]
    ct = next(d for d in documents if d.filename == "CT_small.dcm")
    assert ct.is_dicom and ct.valid and ct.inspection["modality"] == "CT"
    assert ct.inspection["study_date"] == "2004-01-19"
    assert ct.inspection["study_uid"] and ct.inspection["series_uid"]
    assert ct.storage_key.startswith("parts:")  # sent in pieces: a manifest, not re-encrypted
    assert "patient_name" not in ct.inspection and "patient_birth_date" not in ct.inspection
    mr = next(d for d in documents if d.filename == "MR_small.dcm")
    assert not mr.storage_key.startswith("parts:")
    assert ct.inspection["identity"] == "mismatch"  # pydicom's test patient is not Amira

    status = await tus.status()
    done = {item["kind"]: item["done"] for item in status["checklist"]}
    assert done["imaging_dicom"] and done["lab_results"] and done["treatment_history"]
    assert not done["referral_letter"] and status["complete"] is False
    for stored in intake.stored_objects():
        assert b"%PDF" not in stored.read_bytes() and b"DICM" not in stored.read_bytes()


async def test_the_last_required_document_completes_the_file(intake: Intake) -> None:
    tus = intake.tus
    study = list(iter_study(instances=2, series=1, **AMIRA))
    for name, data in study:
        await tus.send(data, filename=name.rsplit("/", 1)[-1], relativePath=f"CD/{name}")
    await tus.send(pdf("lab"), filename="laboratoire.pdf")
    before = await the_case(intake.settings.database_url)
    assert before.status == "awaiting_documents"
    await tus.send(pdf("letter"), filename="referral letter.pdf")

    case = await the_case(intake.settings.database_url)
    assert case.status == "file_complete" and case.file_complete_at is not None
    history = await rows(intake.settings.database_url, CaseHistory, CaseHistory.case_id == case.id)
    assert [h.to_status for h in history][-2:] == ["awaiting_documents", "file_complete"]
    timers = await rows(intake.settings.database_url, Timer, Timer.case_id == case.id)
    live = {t.kind for t in timers if t.cancelled_at is None}
    assert "opinion_due" in live
    assert not live & {"documents_reminder", "upload_link_expiring", "upload_link_expired",
                       "completeness_check_due"}
    documents = await intake.documents()
    assert {d.inspection.get("identity") for d in documents if d.is_dicom} == {"match"}
    (contact,) = await rows(intake.settings.database_url, Contact)
    assert contact.needs_human is False
    chat = await intake.chat()
    assert "Your file is now complete" in chat
    assert (await tus.status())["complete"] is True


async def test_a_cd_folder_with_its_dicomdir_is_checked_against_the_disc_index(
    intake: Intake, tmp_path: Path
) -> None:
    dicomdir, study = write_dicomdir_folder(tmp_path / "disc", instances=4, series=2, **AMIRA)
    folder = dicomdir.parent
    files = [dicomdir, *study.paths]
    tus = intake.tus
    for path in files[:-1]:  # the last image of the disc is left out
        relative = f"DISC/{path.relative_to(folder).as_posix()}"
        await tus.send(path.read_bytes(), filename=path.name, relativePath=relative,
                       batch="cd")
    await tus.done()
    chat = await intake.chat()
    assert "2 series, 3 images \u2713" in chat
    assert "Disc check: 1 image listed on the disc is missing" in chat

    last = files[-1]
    await tus.send(last.read_bytes(), filename=last.name,
                   relativePath=f"DISC/{last.relative_to(folder).as_posix()}", batch="cd2")
    await tus.done()
    status = await tus.status()
    assert any("all 4 images listed on the disc arrived" in note for note in status["notes"])
    documents = await intake.documents()
    index = next(d for d in documents if d.inspection.get("role") == "dicomdir")
    assert index.kind == "other" and index.valid and len(index.inspection["files"]) == 4
    assert not any(d["needs_item"] for d in status["documents"])


async def test_a_zip_is_unpacked_and_each_member_is_stored_on_its_own(
    intake: Intake, tmp_path: Path
) -> None:
    members: list[tuple[str, bytes | Path]] = [
        (f"export/{name}", data) for name, data in iter_study(instances=3, series=1, **AMIRA)
    ]
    members.append(("export/lab results.pdf", pdf("lab-in-zip")))
    members.append(("export/viewer.exe", b"MZ\x90\x00 not medical"))
    archive = zip_files(tmp_path / "hospital.zip", members).read_bytes()
    await intake.tus.send(archive, filename="hospital.zip")

    documents = await intake.documents()
    assert sorted(d.kind for d in documents) == ["imaging_dicom"] * 3 + ["lab_results"]
    assert len({d.storage_key for d in documents}) == 4
    # The archive's own bytes are gone once unpacked; each member is one encrypted object.
    assert len(intake.stored_objects()) == 4
    chat = await intake.chat()
    assert "1 series, 3 images" in chat and "lab results.pdf" in chat
    assert "This type of file is not accepted" in chat

    await intake.tus.send(archive, filename="hospital again.zip")
    assert len(await intake.documents()) == 4
    assert "4 files had already been received" in await intake.chat()


async def test_zip_bombs_and_path_traversal_archives_are_refused_unopened(
    intake: Intake, tmp_path: Path
) -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.dcm", bytes(24 << 20))
    traversal = io.BytesIO()
    with zipfile.ZipFile(traversal, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ok.pdf", pdf("inside"))
        archive.writestr("../../../escaped.pdf", pdf("escape"))
    await intake.tus.send(bomb.getvalue(), filename="bomb.zip", batch="z")
    await intake.tus.send(traversal.getvalue(), filename="sneaky.zip", batch="z")
    await intake.tus.done()

    documents = await intake.documents()
    assert [(d.filename, d.valid, d.inspection["problem"]) for d in documents] == [
        ("bomb.zip", False, "bomb"), ("sneaky.zip", False, "unsafe_path")]
    assert len(intake.stored_objects()) == 2  # the archives as sent, nothing unpacked
    assert not list(intake.settings.data_dir.rglob("escaped*"))
    assert not list(Path.cwd().rglob("escaped.pdf"))
    chat = await intake.chat()
    assert "grows far too large when unpacked" in chat
    assert "unsafe file names" in chat


async def test_a_file_that_only_claims_to_be_dicom_is_reported_not_accepted(
    intake: Intake,
) -> None:
    truncated = pydicom_file("CT_small.dcm")[:-8000]
    await intake.tus.send(pdf("renamed"), filename="scan.dcm", batch="x")
    garbage = b"\x00\x01garbage" * 50
    created = await intake.tus.create(len(garbage), filename="IMG0001.dcm", batch="x")
    refused = await intake.tus.patch(intake.tus.absolute(created.headers["Location"]), 0,
                                     garbage)
    assert refused.status == 415
    assert "named like a medical image (DICOM) but is not one" in (await refused.json())["error"]
    await intake.tus.send(truncated, filename="cut.dcm", batch="x")
    await intake.tus.done()

    documents = await intake.documents()
    problems = {d.filename: (d.valid, d.inspection.get("problem")) for d in documents}
    # Bytes of no accepted type are not kept at all; a PDF named .dcm is kept as a report.
    assert problems == {"scan.dcm": (False, "not_dicom"), "cut.dcm": (False, "truncated")}
    chat = await intake.chat()
    assert "scan.dcm: This file is named like a medical image (DICOM) but is not one" in chat
    assert "cut.dcm: This file is incomplete" in chat
    status = await intake.tus.status()
    assert not next(i for i in status["checklist"] if i["kind"] == "imaging_dicom")["done"]


async def test_a_scan_of_another_patient_is_flagged_for_a_coordinator(intake: Intake) -> None:
    other = instance_bytes(patient_name="PETERS^JOHN", birth_date=date(1950, 3, 3))
    await intake.tus.send(other, filename="IM1.dcm")
    (document,) = await intake.documents()
    assert document.valid and document.inspection["identity"] == "mismatch"
    assert "JOHN" not in str(document.inspection).upper()
    (contact,) = await rows(intake.settings.database_url, Contact)
    assert contact.needs_human is True
    chat = await intake.chat()
    assert "differs from your request" in chat and "PETERS" not in chat


async def test_an_interrupted_upload_resumes_from_the_last_committed_offset(
    intake: Intake,
) -> None:
    data = pydicom_file("MR_small.dcm")
    half = len(data) // 2
    tus = intake.tus
    created = await tus.create(len(data), filename="MR_small.dcm")
    assert created.status == 201
    assert created.headers["Tus-Resumable"] == "1.0.0"
    url = tus.absolute(created.headers["Location"])
    assert "MR_small" not in url

    first = await tus.patch(url, 0, data[:half])
    assert first.status == 204 and first.headers["Upload-Offset"] == str(half)
    await cut_patch(url, half, data[half:], sent=(len(data) - half) // 2)

    head = await tus.head(url)
    assert head.status == 200
    assert head.headers["Upload-Offset"] == str(half)
    assert head.headers["Upload-Length"] == str(len(data))
    stale = await tus.patch(url, 0, data[:10])
    assert stale.status == 409
    rest = await tus.patch(url, half, data[half:])
    assert rest.status == 204 and rest.headers["Upload-Offset"] == str(len(data))

    (document,) = await intake.documents()
    import hashlib

    assert document.sha256 == hashlib.sha256(data).hexdigest()
    assert document.is_dicom and document.valid
    (upload,) = await rows(intake.settings.database_url, UploadSession)
    assert [p["size"] for p in upload.parts] == [half, len(data) - half]
    assert not list((intake.settings.data_dir / "files" / "tmp").glob("*.part"))


async def test_tus_protocol_answers(intake: Intake) -> None:
    tus = intake.tus
    options = await intake.http.options(f"{intake.link}/files")
    assert options.status == 204
    assert options.headers["Tus-Version"] == "1.0.0"
    assert "creation" in options.headers["Tus-Extension"]
    assert int(options.headers["Tus-Max-Size"]) == 2 << 30
    no_version = await intake.http.post(f"{intake.link}/files", headers={"Upload-Length": "5"})
    assert no_version.status == 412
    bad_meta = await intake.http.post(f"{intake.link}/files", headers={
        "Tus-Resumable": "1.0.0", "Upload-Length": "5", "Upload-Metadata": "filename !!!"})
    assert bad_meta.status == 400
    created = await tus.create(10, filename="../../etc/passwd")
    url = tus.absolute(created.headers["Location"])
    wrong_type = await intake.http.patch(url, data=b"x", headers={
        "Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "text/plain"})
    assert wrong_type.status == 415
    too_much = await tus.patch(url, 0, b"x" * 11)
    assert too_much.status == 413
    assert (await tus.head(url)).headers["Upload-Offset"] == "0"
    cancelled = await intake.http.delete(url, headers={"Tus-Resumable": "1.0.0"})
    assert cancelled.status == 204
    assert (await tus.head(url)).status == 404
    (upload,) = await rows(intake.settings.database_url, UploadSession)
    assert upload.filename == "passwd" and upload.status == "cancelled"


async def test_oversized_files_and_full_cases_get_a_clear_413(intake: Intake) -> None:
    too_big = await intake.tus.create(3 << 30, filename="whole-disc.iso")
    assert too_big.status == 413
    assert "too large" in (await too_big.json())["error"]
    assert "2 GB" in (await too_big.json())["error"]
    statuses = [(await intake.tus.create(2 << 30, filename=f"part{i}.zip")).status
                for i in range(11)]
    assert statuses == [201] * 10 + [413]
    assert await rows(intake.settings.database_url, Document) == []


async def test_duplicates_are_recognised_and_stored_once(intake: Intake) -> None:
    await intake.tus.send(pdf("letter"), filename="letter from Dr Alami.pdf")
    await intake.tus.send(pdf("letter"), filename="letter (1).pdf")
    documents = await intake.documents()
    assert len(documents) == 1 and documents[0].kind == "referral_letter"
    assert len(intake.stored_objects()) == 1
    chat = await intake.chat()
    assert "letter (1).pdf: already received" in chat


async def test_the_family_sorts_a_document_the_bot_could_not_recognise(intake: Intake) -> None:
    await intake.tus.send(pdf("unknown"), filename="IMG_20261002.pdf")
    chat = await intake.chat()
    assert "Please tell us on the upload page what 1 document is" in chat
    status = await intake.tus.status()
    (document,) = status["documents"]
    assert document["needs_item"] and document["kind"] == "other"
    response = await intake.http.post(f"{intake.link}/documents/{document['id']}/item",
                                      json={"item": "referral_letter"})
    assert response.status == 200
    status = await intake.tus.status()
    assert next(i for i in status["checklist"] if i["kind"] == "referral_letter")["done"]
    refused = await intake.http.post(f"{intake.link}/documents/{document['id']}/item",
                                     json={"item": "nonsense"})
    assert refused.status == 400


async def test_wrong_expired_and_revoked_links_say_nothing_about_the_case(
    intake: Intake,
) -> None:
    case = await the_case(intake.settings.database_url)
    forged = await intake.http.get(f"{intake.base}/upload/{'A' * 43}")
    assert forged.status == 404
    body = await forged.text()
    assert "not valid" in body and case.reference not in body
    garbage = await intake.http.get(f"{intake.base}/upload/short")
    assert garbage.status == 404

    old = await link_for(intake.settings.database_url, intake.base,
                         issued_at=datetime.now(UTC) - timedelta(days=30),
                         ttl=timedelta(days=14))
    expired = await intake.http.get(old)
    assert expired.status == 410
    assert "expired" in await expired.text()

    replaced = intake.link
    fresh = await link_for(intake.settings.database_url, intake.base)
    revoked = await intake.http.get(replaced)
    assert revoked.status == 410 and "replaced" in await revoked.text()
    assert case.reference not in await revoked.text()
    assert (await intake.http.get(fresh)).status == 200
    api = await intake.http.post(f"{replaced}/files", headers={
        "Tus-Resumable": "1.0.0", "Upload-Length": "5"})
    assert api.status == 410

    french = await intake.http.get(f"{intake.base}/upload/{'B' * 43}",
                                   headers={"Accept-Language": "fr-BE,fr;q=0.9"})
    assert 'lang="fr"' in await french.text()
    links = await rows(intake.settings.database_url, UploadLink)
    assert all(len(link.token_hash) == 64 for link in links)
    assert not any(link.token_hash in fresh for link in links)


async def test_repeated_bad_tokens_are_slowed_down_but_the_real_link_still_opens(
    intake: Intake,
) -> None:
    statuses = []
    for attempt in range(12):
        response = await intake.http.get(f"{intake.base}/upload/{str(attempt) * 43}")
        statuses.append(response.status)
    assert statuses[:10] == [404] * 10
    assert statuses[10:] == [429, 429]
    limited = await intake.http.get(f"{intake.base}/upload/{'z' * 43}")
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0
    assert (await intake.http.get(intake.link)).status == 200


async def test_chat_attachments_join_the_case_once_and_too_large_ones_get_the_link(
    intake: Intake,
) -> None:
    from bot.channels.base import Attachment, ChannelError, Inbound
    from bot.handlers.files import ingest_chat_files
    from bot.keys import PROCESSOR, WEBCHAT_CHANNEL

    app = intake.server.app
    channel = app[WEBCHAT_CHANNEL]
    contents = {"lab-ref": pdf("chat lab"), "ct-ref": pydicom_file("CT_small.dcm")}

    async def fetch(attachment: Attachment) -> AsyncIterator[bytes]:
        if attachment.ref == "huge-ref":
            raise ChannelError("file is too big")
        yield contents[attachment.ref]

    channel.fetch = fetch  # type: ignore[method-assign]
    (contact,) = await rows(intake.settings.database_url, Contact)
    receipt = await app[PROCESSOR].receive(Inbound(
        channel="webchat", external_id=contact.external_id, provider_key="msg:files-1",
        attachments=(Attachment("lab-ref", "hemogram.pdf", "application/pdf"),
                     Attachment("ct-ref", "ct.dcm"), Attachment("huge-ref", "video.mp4"))))
    await app[PROCESSOR].close()  # the processor fetched the files after its commit
    await ingest_chat_files(app, contact.id, receipt.event_id)  # again: nothing new

    documents = await intake.documents()
    assert sorted((d.filename, d.kind) for d in documents) == [
        ("ct.dcm", "imaging_dicom"), ("hemogram.pdf", "lab_results")]
    assert all(d.inspection["source"] == "chat" for d in documents)
    chat = await intake.chat()
    assert chat.count("Files received for your request") == 1
    assert "We could not receive this file here" in chat
    assert "secure upload link we sent you" in chat  # a link is live: it is not replaced


def _summary_of(status: dict[str, Any]) -> dict[str, bool]:
    return {item["kind"]: item["done"] for item in status["checklist"]}


async def test_an_arabic_case_gets_a_right_to_left_page_in_arabic(intake: Intake) -> None:
    from storage.db import Database
    from storage.unit_of_work import UnitOfWork

    database = Database(intake.settings.database_url)
    try:
        async with UnitOfWork(database) as uow:
            case = (await uow.session.execute(select(Case))).scalar_one()
            case.language = "ar"
            await uow.commit()
    finally:
        await database.dispose()
    page = await intake.http.get(intake.link)
    html = await page.text()
    assert 'lang="ar"' in html and 'dir="rtl"' in html
    assert _summary_of(await intake.tus.status())["referral_letter"] is False


async def test_a_body_without_length_counts_by_the_bytes_received(intake: Intake) -> None:
    data = pydicom_file("MR_small.dcm")
    created = await intake.tus.create(len(data), filename="MR_small.dcm")
    url = intake.tus.absolute(created.headers["Location"])

    async def chunked() -> AsyncIterator[bytes]:
        for begin in range(0, 5000, 1000):
            yield data[begin:begin + 1000]

    response = await intake.http.patch(url, data=chunked(), headers={
        "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
        "Content-Type": "application/offset+octet-stream"})
    assert response.status == 204 and response.headers["Upload-Offset"] == "5000"
    rest = await intake.tus.patch(url, 5000, data[5000:])
    assert rest.status == 204
    (document,) = await intake.documents()
    assert document.is_dicom and document.valid and document.size == len(data)


async def test_erasure_and_abandoned_uploads_leave_no_bytes_behind(intake: Intake) -> None:
    from bot.documents.inspection import purge_case_uploads
    from bot.documents.uploads import UPLOADS
    from storage.db import Database
    from storage.unit_of_work import UnitOfWork

    await intake.tus.send(pydicom_file("CT_small.dcm"), chunk=10_000, filename="ct.dcm")
    await intake.tus.send(pdf("lab"), filename="lab.pdf")
    created = await intake.tus.create(100, filename="never finished.pdf")
    url = intake.tus.absolute(created.headers["Location"])
    assert (await intake.tus.patch(url, 0, b"%PDF" + bytes(46))).status == 204
    service = intake.server.app[UPLOADS]
    assert await service.expire_abandoned(timedelta(0)) == 1
    assert (await intake.tus.head(url)).status == 404
    on_disk = {path.name for path in intake.stored_objects()}
    assert len(on_disk) == 4 + 1  # four CT pieces and the lab report

    database = Database(intake.settings.database_url)
    try:
        async with UnitOfWork(database) as uow:
            case = (await uow.session.execute(select(Case))).scalar_one()
            keys = await purge_case_uploads(uow.session, case.id)
            await uow.commit()
    finally:
        await database.dispose()
    assert on_disk <= set(keys)
    for key in keys:
        await service.store.delete(key)
    assert intake.stored_objects() == []
    assert await rows(intake.settings.database_url, UploadSession) == []


async def test_a_zip_storing_a_pdf_uncompressed_is_still_unpacked(intake: Intake) -> None:
    stored = io.BytesIO()
    with zipfile.ZipFile(stored, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("letter.pdf", pdf("letter"))
        archive.writestr("lab.pdf", pdf("lab"))
    await intake.tus.send(stored.getvalue(), filename="scans.zip")
    assert sorted(d.filename for d in await intake.documents()) == ["lab.pdf", "letter.pdf"]
