"""The upload page in a real headless Chromium, on a phone-sized screen, against the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Page, Route, expect
from pydicom.data import get_testdata_file
from sqlalchemy import select

from bot.settings import Settings
from bot.web import upload as upload_web
from storage.db import Database
from storage.tables import Case, Document, UploadSession
from storage.unit_of_work import UnitOfWork
from tests.dicom_factory import write_dicomdir_folder, write_study
from tests.e2e.browser import new_phone_page, open_browser, screenshot
from tests.e2e.chat_client import ChatFamily, texts
from tests.e2e.test_webchat_intake import rows
from tests.e2e.upload_client import link_for, pdf, start, submit_case

pytestmark = pytest.mark.browser


@dataclass
class Running:
    """The app with a submitted case and its upload link."""

    settings: Settings
    family: ChatFamily
    link: str


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[Running]:
    """A case submitted through the web chat, and the link the family received."""
    server, base = await start(settings)
    family = await ChatFamily.open(base)
    try:
        await submit_case(family, settings.database_url)
        yield Running(settings, family, await link_for(settings.database_url, base))
    finally:
        await family.close()
        await server.close()


def _file(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    assert path is not None
    return Path(str(path))


async def _wait_all_received(page: Page, count: int) -> None:
    await expect(page.locator("#files .file--done")).to_have_count(count, timeout=30_000)
    await expect(page.locator("#overall")).to_have_attribute("value", "100")
    await expect(page.locator("#all-done")).to_be_visible()


async def test_a_family_sends_files_from_a_phone_and_sees_the_checklist_tick(
    running: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small pieces, so that a file goes in several PATCH requests and one can be cut off.
    monkeypatch.setattr(upload_web, "CHUNK_BYTES", 16 * 1024)
    lab = tmp_path / "Blood tests.pdf"
    lab.write_bytes(pdf("lab"))
    letter = tmp_path / "Referral letter Dr Alami.pdf"
    letter.write_bytes(pdf("letter"))
    cut = {"done": False}

    async def cut_one_piece(route: Route) -> None:
        request = route.request
        if request.method == "PATCH" and request.headers.get("upload-offset") == "16384" \
                and not cut["done"]:
            cut["done"] = True
            await route.abort("connectionreset")
            return
        await route.continue_()

    async with open_browser() as browser:
        page = await new_phone_page(browser, "en-GB")
        await page.route("**/upload/*/files/*", cut_one_piece)
        await page.goto(running.link)
        await expect(page.locator("html")).to_have_attribute("dir", "ltr")
        checklist = page.locator("#checklist")
        await expect(checklist.locator('[data-kind="imaging_dicom"]')).not_to_have_class(
            "checklist__item is-done")
        pick = page.get_by_role("button", name="Choose files")
        await expect(pick).to_be_enabled()
        # pydicom's one-slice CT is a key image at best: the generated stack is the scan.
        stack = write_study(tmp_path / "ct", instances=12).paths
        await page.locator("#files-input").set_input_files(
            [str(_file("CT_small.dcm")), str(lab), str(letter), *map(str, stack)])

        await _wait_all_received(page, 3 + len(stack))
        assert cut["done"], "the test meant to cut one PATCH off"
        for kind in ("imaging_dicom", "lab_results", "referral_letter", "treatment_history"):
            await expect(checklist.locator(f'[data-kind="{kind}"]')).to_have_class(
                "checklist__item is-done")
        await expect(page.locator("#complete")).to_be_visible()
        await expect(page.locator("#notes")).to_contain_text("CT scan")
        await screenshot(page, "upload-phone-complete")

    uploads = await rows(running.settings.database_url, UploadSession)
    ct = next(u for u in uploads if u.filename == "CT_small.dcm")
    assert [p["size"] for p in ct.parts][:2] == [16384, 16384]  # resumed, not restarted
    documents = await rows(running.settings.database_url, Document)
    assert len(documents) == 3 + 12
    (case,) = await rows(running.settings.database_url, Case)
    assert case.status == "file_complete"
    chat = texts(await running.family.replies(wait=5))
    assert chat.count("Files received for your request") == 1
    assert "Your file is now complete" in chat


async def test_a_cd_folder_goes_up_whole_and_the_viewer_program_is_left_out(
    running: Running, tmp_path: Path
) -> None:
    disc = tmp_path / "CDROM"
    write_dicomdir_folder(disc, instances=3, series=1)
    (disc / "VIEWER").mkdir()
    (disc / "VIEWER" / "viewer.exe").write_bytes(b"MZ" + bytes(100))
    (disc / "AUTORUN.INF").write_text("[autorun]\n")
    async with open_browser() as browser:
        page = await new_phone_page(browser, "en-GB")
        await page.goto(running.link)
        await page.locator("#folder-input").set_input_files(str(disc))
        await _wait_all_received(page, 4)
        await expect(page.locator("#skipped")).to_contain_text("2")
        await expect(page.locator("#notes")).to_contain_text(
            "all 3 images listed on the disc arrived")
        await screenshot(page, "upload-phone-cd-folder")
    documents = await rows(running.settings.database_url, Document)
    assert len(documents) == 4 and not any(d.filename.endswith(".exe") for d in documents)


async def test_an_arabic_case_gets_its_upload_page_right_to_left(running: Running) -> None:
    database = Database(running.settings.database_url)
    try:
        async with UnitOfWork(database) as uow:
            case = (await uow.session.execute(select(Case))).scalar_one()
            case.language = "ar"
            await uow.commit()
    finally:
        await database.dispose()
    async with open_browser() as browser:
        page = await new_phone_page(browser, "ar")
        await page.goto(running.link)
        html = page.locator("html")
        await expect(html).to_have_attribute("dir", "rtl")
        await expect(html).to_have_attribute("lang", "ar")
        # Right to left: the checklist's tick circle sits at the right of its line.
        item = page.locator("#checklist .checklist__item").first
        mark = await item.locator(".checklist__mark").bounding_box()
        text = await item.locator(".checklist__text").bounding_box()
        assert mark is not None and text is not None and mark["x"] > text["x"]
        await page.locator("#files-input").set_input_files([str(_file("MR_small.dcm"))])
        await _wait_all_received(page, 1)
        await screenshot(page, "upload-phone-arabic")


async def test_small_files_go_in_batches_a_cut_batch_is_sent_again_and_a_bad_file_fails_alone(
    running: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of at most 5 files, so that twelve instances and two PDFs take several.
    monkeypatch.setattr(upload_web, "BATCH_FILES", 5)
    stack = write_study(tmp_path / "ct", instances=12).paths
    lab = tmp_path / "Blood tests.pdf"
    lab.write_bytes(pdf("lab"))
    fake = tmp_path / "report.pdf"
    fake.write_bytes(b"MZ" + bytes(300))  # a program, whatever its name says
    seen = {"batches": 0, "files": 0, "cut": False}

    async def cut_first_batch(route: Route) -> None:
        seen["batches"] += 1
        if not seen["cut"]:
            seen["cut"] = True
            await route.abort("connectionreset")
            return
        await route.continue_()

    async def count_creations(route: Route) -> None:
        seen["files"] += 1
        await route.continue_()

    async with open_browser() as browser:
        page = await new_phone_page(browser, "en-GB")
        await page.route("**/upload/*/batch", cut_first_batch)
        await page.route("**/upload/*/files", count_creations)
        await page.goto(running.link)
        await page.locator("#files-input").set_input_files(
            [*map(str, stack[:6]), str(fake), str(lab), *map(str, stack[6:])])
        await expect(page.locator("#files .file--done")).to_have_count(13, timeout=30_000)
        failed = page.locator("#files .file--failed")
        await expect(failed).to_have_count(1)
        await expect(failed).to_contain_text("report.pdf")
        await expect(failed).to_contain_text("This type of file is not accepted")
        await expect(page.locator("#notes")).to_contain_text("CT scan")
        await screenshot(page, "upload-phone-batches")

    assert seen["cut"] and seen["files"] == 0  # all small: no tus creation at all
    assert seen["batches"] >= 1 + 3  # the cut one sent again, and 14 files in batches of 5
    uploads = await rows(running.settings.database_url, UploadSession)
    assert len(uploads) == 13 and {u.status for u in uploads} == {"complete"}
    documents = await rows(running.settings.database_url, Document)
    assert sorted(d.kind for d in documents) == ["imaging_dicom"] * 12 + ["lab_results"]
    chat = texts(await running.family.replies(wait=5))
    assert chat.count("Files received for your request") == 1
