"""Imaging a radiologist can read, end to end: upload page (tus), chat files, inbox previews.

Each test runs the whole intake first, then sends generated studies (`tests.dicom_factory`)
the way families do, on the configured database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime

import pytest
from aiohttp import ClientSession
from pydicom.uid import JPEGBaseline8Bit
from sqlalchemy import select

from bot.documents.uploads import UPLOADS
from bot.messaging.erasure import erase_case
from bot.settings import Settings
from storage.db import Database
from storage.tables import AuditEntry, Case, Contact, Document
from storage.unit_of_work import UnitOfWork
from tests.dicom_factory import SECONDARY_CAPTURE, encapsulated_pdf_bytes, iter_study
from tests.e2e.test_inbox import InboxBrowser, add_login, visible
from tests.e2e.test_telegram import (
    CHAT,
    TELEGRAM_INTAKE,
    TelegramFamily,
    start_app,
    texts,
)
from tests.e2e.test_upload import AMIRA
from tests.e2e.test_webchat_intake import rows
from tests.e2e.upload_client import Intake, submitted
from tests.fakes.telegram_api import FakeTelegram

OCTOBER_2 = date(2026, 10, 2)
SCREENSHOTS = {"modality": "OT", "sop_class_uid": SECONDARY_CAPTURE,
               "image_type": ["DERIVED", "SECONDARY"], "samples_per_pixel": 3,
               "bits_allocated": 8, "conversion_type": "WSD", "rows": 24, "columns": 32}
ASK = ("Please ask the imaging department for the complete study on CD/DVD in DICOM format "
       "(all images).")


@pytest.fixture
async def intake(settings: Settings) -> AsyncIterator[Intake]:
    """A submitted case and its upload link (`submitted` as a fixture)."""
    async with submitted(settings) as running:
        yield running


async def send_batch(intake: Intake, batch: str, files: Iterable[tuple[str, bytes]]) -> str:
    """Send files as one selection of the upload page; what the family was told about it."""
    for name, data in files:
        await intake.tus.send(data, filename=name.rsplit("/", 1)[-1], batch=batch)
    assert (await intake.tus.done())["notified"] is True
    return await intake.chat()


async def imaging_done(intake: Intake) -> bool:
    status = await intake.tus.status()
    return {item["kind"]: item["done"] for item in status["checklist"]}["imaging_dicom"]


async def test_each_kind_of_unreadable_imaging_gets_its_own_advice_until_a_real_scan_arrives(
    intake: Intake,
) -> None:
    told = await send_batch(intake, "sc", iter_study(instances=3, study_date=OCTOBER_2,
                                                     **SCREENSHOTS, **AMIRA))
    assert "Images of October\xa02,\xa02026: 1 series, 3 images \u26a0" in told
    assert (
        f"Images of October\xa02,\xa02026: these look like screenshots, not the scan itself. "
        f"{ASK}"
    ) in told
    assert "You may forward this request to the hospital:\n\u201cFor a second medical " \
        "opinion, please provide the complete examination (Images of " \
        "October\xa02,\xa02026)" in told
    # Joined labels read in running-text case.
    assert "imaging (DICOM)" in told.rpartition("Still missing:")[2]
    assert not await imaging_done(intake)
    stored = {d.inspection["quality"]["category"] for d in await intake.documents()}
    assert stored == {"screen_capture"}

    told = await send_batch(intake, "scout", iter_study(
        instances=2, image_type=["ORIGINAL", "PRIMARY", "LOCALIZER"], **AMIRA))
    assert "only the positioning images (scout views) arrived, not the scan itself" in told

    told = await send_batch(intake, "key", iter_study(instances=5, spacing=45.0, **AMIRA))
    assert "CT scan of January\xa015,\xa02024: only a few selected images arrived" in told

    told = await send_batch(intake, "gaps", iter_study(
        instances=30, drop={10, 11}, study_date=date(2025, 3, 4), **AMIRA))
    assert "CT scan of March\xa04,\xa02025: 2 images are missing. Please send the whole " \
        "folder of the disc again" in told
    assert not await imaging_done(intake)

    told = await send_batch(intake, "pdf", [("report.dcm", encapsulated_pdf_bytes(
        b"%PDF-1.4 report", **AMIRA))])
    assert "report.dcm: a report in DICOM format, filed under imaging reports \u2713" in told
    (report,) = [d for d in await intake.documents() if d.filename == "report.dcm"]
    assert report.is_dicom and report.kind == "imaging_report"

    told = await send_batch(intake, "lossy", iter_study(
        instances=20, transfer_syntax=JPEGBaseline8Bit, bits_allocated=8, lossy=True,
        study_date=date(2026, 11, 20), **AMIRA))
    assert "CT scan of November\xa020,\xa02026: 1 series, 20 images \u2713" in told
    assert "ask the imaging department" not in told
    assert await imaging_done(intake)
    status = await intake.tus.status()
    assert {item["kind"]: item["done"] for item in status["checklist"]}["imaging_report"]
    categories = {d.inspection["quality"]["category"] for d in await intake.documents()
                  if d.is_dicom}
    assert categories == {"screen_capture", "localizer", "key_images", "incomplete", "report",
                          "diagnostic"}


async def test_slices_sent_later_complete_an_incomplete_series(intake: Intake) -> None:
    study = list(iter_study(instances=30, **AMIRA))
    first = [item for item in study if item[0] not in {study[9][0], study[10][0]}]
    told = await send_batch(intake, "first", first)
    assert "2 images are missing" in told and not await imaging_done(intake)
    told = await send_batch(intake, "rest", [study[9], study[10]])
    assert "\u2713" in told and await imaging_done(intake)
    assert {d.inspection["quality"]["category"] for d in await intake.documents()} == {
        "diagnostic"}


async def test_coordinators_see_each_series_verdict_and_an_audited_encrypted_preview(
    intake: Intake,
) -> None:
    await send_batch(intake, "sc", iter_study(instances=3, study_date=OCTOBER_2, gradient=True,
                                              **SCREENSHOTS, **AMIRA))
    await send_batch(intake, "ct", iter_study(
        instances=21, rows=64, columns=64, gradient=True, slice_thickness=8.0,
        transfer_syntax=JPEGBaseline8Bit, bits_allocated=8, lossy=True, **AMIRA))
    await send_batch(intake, "pdf", [("report.dcm", encapsulated_pdf_bytes(b"%PDF-1.4 r"))])
    login = await add_login(intake.settings.database_url)
    (contact,) = await rows(intake.settings.database_url, Contact)
    anonymous = await ClientSession().__aenter__()
    coordinator = await InboxBrowser.open(intake.base)
    try:
        documents = await intake.documents()
        middle = next(d for d in documents if d.filename == "IM00011.dcm")
        refused = await anonymous.get(f"{intake.base}/inbox/documents/{middle.id}/preview",
                                      allow_redirects=False)
        assert refused.status == 302 and "/inbox/login" in refused.headers["Location"]

        await coordinator.sign_in(login.email)
        _, page = await coordinator.get(f"/inbox/c/{contact.id}")
        text = visible(page)
        assert "Imaging series" in text
        assert "Screen captures or derived images" in text
        assert "Secondary Capture objects: pictures of a screen, not the scanner's images." \
            in text
        assert "Diagnostic quality" in text and "21 images" in text
        assert "Lossy compression: possibly not of diagnostic quality." in text
        assert "Slices thicker than 5 mm: small lesions may be missed." in text
        assert "Report, not images" in text
        assert f'src="/inbox/documents/{middle.id}/preview"' in page

        before = {p.name for p in intake.stored_objects()}
        response = await coordinator.session.get(
            f"{intake.base}/inbox/documents/{middle.id}/preview")
        png = await response.read()
        assert response.status == 200 and response.content_type == "image/png"
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert "no-store" in response.headers["Cache-Control"]
        (cached,) = {p.name for p in intake.stored_objects()} - before
        assert b"IHDR" not in (intake.settings.data_dir / "files").joinpath(
            *next(p for p in intake.stored_objects() if p.name == cached).relative_to(
                intake.settings.data_dir / "files").parts).read_bytes()
        again = await coordinator.session.get(
            f"{intake.base}/inbox/documents/{middle.id}/preview")
        assert await again.read() == png
        assert {p.name for p in intake.stored_objects()} - before == {cached}

        report = next(d for d in documents if d.filename == "report.dcm")
        missing = await coordinator.session.get(
            f"{intake.base}/inbox/documents/{report.id}/preview")
        assert missing.status == 404
    finally:
        await coordinator.close()
        await anonymous.close()

    previews = await rows(intake.settings.database_url, AuditEntry,
                          AuditEntry.action == "preview")
    assert [e.detail for e in previews] == [{"document_id": middle.id}] * 2 + [
        {"document_id": report.id}]
    assert all(e.coordinator_id == login.id and e.contact_id == contact.id for e in previews)
    (stored,) = await rows(intake.settings.database_url, Document, Document.id == middle.id)
    assert stored.inspection["preview_key"]

    database = Database(intake.settings.database_url)
    try:
        async with UnitOfWork(database) as uow:
            case = (await uow.session.execute(select(Case))).scalar_one()
            keys = await erase_case(uow.session, case, "family", datetime.now(UTC))
            await uow.commit()
    finally:
        await database.dispose()
    for key in keys:
        await intake.server.app[UPLOADS].store.delete(key)
    assert intake.stored_objects() == []  # the cached preview went with the documents


async def test_screenshots_sent_in_the_telegram_chat_leave_the_imaging_item_open(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    running = await start_app(tg_settings)
    try:
        async with ClientSession() as session:
            family = TelegramFamily(fake, session, running.webhook)
            await family.say("/start")
            for how, value in TELEGRAM_INTAKE:
                await (family.say(value) if how == "say" else
                       family.pick(value) if how == "pick" else family.tap(value))
            await family.tap("confirm")
            told: list[str] = []
            for name, data in iter_study(instances=3, study_date=OCTOBER_2, **SCREENSHOTS,
                                         **AMIRA):
                file_id = fake.add_file(data, name.rsplit("/", 1)[-1])
                await family.post(fake.document_update(CHAT, file_id, name=f"capture{file_id}",
                                                       mime_type="application/octet-stream"))
                told.append(texts(await family.replies()))
    finally:
        await running.close()

    first = told[0]
    assert "Images of October\xa02,\xa02026: 1 series, 1 image \u26a0" in first
    assert f"these look like screenshots, not the scan itself. {ASK}" in first
    assert "You may forward this request to the hospital" in first
    for later in told[1:]:  # one screenshot per message: the advice is given once
        assert "1 image \u26a0" in later and "screenshots" not in later
        assert "imaging (DICOM)" in later.rpartition("Still missing:")[2]
    (case,) = await rows(tg_settings.database_url, Case)
    assert case.status == "awaiting_documents"
    documents = await rows(tg_settings.database_url, Document)
    assert len(documents) == 3 and all(d.inspection["source"] == "chat" for d in documents)
    assert {d.inspection["quality"]["category"] for d in documents} == {"screen_capture"}
