"""Attack: programs, web pages and scripts sent as "documents" must never reach coordinators.

Before the allow-list, `.bat`, `.hta`, `.html`, `.svg` and an `.exe` carrying `%PDF-` in its
first kilobyte were accepted as text or PDF, ticked checklist items and downloaded under the
family's chosen name.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import pytest
from aiohttp import ClientSession

from bot.channels.telegram import TELEGRAM
from bot.keys import DATABASE, FILES
from bot.settings import Settings
from storage.files import chunks_from_file
from storage.tables import Document, Message
from storage.unit_of_work import UnitOfWork
from tests.e2e.test_telegram import TelegramFamily, texts
from tests.e2e.upload_client import pdf
from tests.fakes.telegram_api import FakeTelegram
from tests.security.conftest import Site, open_site

CHAT = 5550777
EXE_WITH_PDF_MARKER = b"MZ\x90\x00\x03" + bytes(120) + b"%PDF-1.7\n" + b"\x00\xcc" * 600
ATTACKS: list[tuple[str, bytes]] = [
    ("invoice.bat", b"@echo off\r\ndel /q C:\\Users\\*\r\n"),
    ("scan.hta", b"<hta:application id=x><script>new ActiveXObject('WScript.Shell')</script>"),
    ("report.html", b"<!doctype html><script>fetch('/inbox/audit')</script>"),
    ("chart.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    ("setup.exe", EXE_WITH_PDF_MARKER),
]
# Harmless-looking names on the same bytes: refused by what the bytes are.
DISGUISED: list[tuple[str, bytes]] = [
    ("Blood tests.pdf", EXE_WITH_PDF_MARKER),
    ("notes.txt", b"Results attached <iframe src=//evil.example></iframe>"),
    ("labs.txt", b"@echo off\r\nstart http://evil.example\r\n"),
    ("referral.pdf", b"\xef\xbb\xbf<svg onload=alert(1)>"),
]
REFUSED = {
    "en": "This type of file is not accepted.",
    "fr": "Ce type de fichier n'est pas accepté.",
    "nl": "Dit bestandstype wordt niet aanvaard.",
    "ru": "Файлы такого типа не принимаются.",
    "tr": "Bu dosya türü kabul edilmiyor.",
    "ar": "هذا النوع من الملفات غير مقبول.",
}
DOCX_TYPES = (
    b'<?xml version="1.0"?><Types><Override PartName="/word/document.xml" ContentType='
    b'"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    b"</Types>"
)


def zipped(members: dict[str, bytes]) -> bytes:
    """A ZIP archive of these members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


async def family_messages(site: Site) -> str:
    """What the bot wrote to the seeded family, as stored."""
    found = await site.rows(Message, Message.contact_id == site.contact_id,
                            Message.direction == "out")
    return "\n".join(m.text for m in found)


async def test_dangerous_names_and_disguised_bytes_are_refused_at_the_upload_link(
    settings: Settings,
) -> None:
    site = await open_site(settings, language="fr")
    try:
        before = await site.tus.status()
        for name, data in ATTACKS:
            response = await site.tus.create(len(data), filename=name)
            assert response.status == 415, name
            body = await response.json()
            assert body["code"] == "unsupported_type"
            assert body["error"].startswith(REFUSED["fr"])
        for name, data in DISGUISED:
            created = await site.tus.create(len(data), filename=name)
            assert created.status == 201, name
            url = site.tus.absolute(created.headers["Location"])
            refused = await site.tus.patch(url, 0, data)
            assert refused.status == 415, name
            assert (await refused.json())["error"].startswith(REFUSED["fr"])
            assert (await site.tus.head(url)).status == 404  # nothing left to resume
        status = await site.tus.status()
    finally:
        await site.close()
    assert await site.documents() == []
    assert status["checklist"] == before["checklist"]  # nothing ticked
    assert {u.status for u in await site.uploads()} == {"refused"}
    objects = site.settings.data_dir / "files" / "objects"
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


@pytest.mark.parametrize("lang", sorted(REFUSED))
async def test_the_refusal_is_written_in_the_familys_language(
    settings: Settings, lang: str,
) -> None:
    site = await open_site(settings, language=lang)
    try:
        response = await site.tus.create(10, filename="setup.exe")
        body = await response.json()
    finally:
        await site.close()
    assert response.status == 415
    assert body["error"].startswith(REFUSED[lang])


async def test_zip_members_pass_the_same_allow_list_and_download_typed_by_their_content(
    site: Site,
) -> None:
    docx = zipped({"[Content_Types].xml": DOCX_TYPES, "word/document.xml": b"<w:document/>"})
    archive = zipped({
        "CD/Blood tests March.pdf": pdf("labs"),
        "CD/letter.docx": docx,
        "CD/notes.txt": "Hémoglobine 13,5 g/dl\r\n".encode(),
        "CD/viewer.hta": ATTACKS[1][1],
        "CD/index.html": ATTACKS[2][1],
        "CD/readme.txt": b"<script>document.location='//evil.example'</script>",
        "CD/autorun.pdf": EXE_WITH_PDF_MARKER,
    })
    await site.tus.send(archive, filename="hospital.zip", batch="z")
    await site.tus.done()
    documents = {d.filename: d for d in await site.documents()}
    assert set(documents) == {"Blood tests March.pdf", "letter.docx", "notes.txt"}
    assert {n: d.detected_type for n, d in documents.items()} == {
        "Blood tests March.pdf": "pdf", "letter.docx": "docx", "notes.txt": "text"}
    assert "4 files: " + REFUSED["en"] in await family_messages(site)

    browser = await site.coordinator()
    try:
        served: dict[str, Any] = {}
        for name, document in documents.items():
            response = await browser.session.get(
                f"{site.base}/inbox/documents/{document.id}")
            assert response.status == 200
            served[name] = (response.headers["Content-Type"],
                            response.headers["Content-Disposition"],
                            response.headers["X-Content-Type-Options"])
            assert "sandbox" in response.headers["Content-Security-Policy"]
    finally:
        await browser.close()
    for name, (_type, disposition, nosniff) in served.items():
        document = documents[name]
        extension = {"pdf": "pdf", "docx": "docx", "text": "txt"}[document.detected_type]
        assert disposition == f'attachment; filename="{site.reference}-{document.id}.{extension}"'
        assert nosniff == "nosniff"
        assert name not in disposition
    assert served["Blood tests March.pdf"][0] == "application/pdf"
    assert served["notes.txt"][0] == "text/plain; charset=utf-8"
    assert served["letter.docx"][0] == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")


async def test_a_document_stored_before_type_detection_still_downloads_safely(
    site: Site,
) -> None:
    store = site.app[FILES]
    stored: dict[str, int] = {}
    database = site.app[DATABASE]
    for name, data in [("page.html", ATTACKS[2][1]), ("report.pdf", pdf("old"))]:
        kept = await store.put(chunks_from_file(io.BytesIO(data)), max_size=1 << 20)
        async with UnitOfWork(database) as uow:
            document = Document(case_id=site.case_id, kind="other", filename=name,
                                content_type="text/html", size=kept.size, sha256=kept.sha256,
                                storage_key=kept.key)
            uow.session.add(document)
            await uow.commit()
            stored[name] = document.id
    browser = await site.coordinator()
    try:
        page = await browser.session.get(f"{site.base}/inbox/documents/{stored['page.html']}")
        report = await browser.session.get(f"{site.base}/inbox/documents/{stored['report.pdf']}")
        assert page.status == report.status == 200
        assert await page.read() == ATTACKS[2][1]
    finally:
        await browser.close()
    assert page.headers["Content-Type"] == "application/octet-stream"
    assert re.fullmatch(rf'attachment; filename="SO-\w+-{stored["page.html"]}\.bin"',
                        page.headers["Content-Disposition"])
    assert report.headers["Content-Type"] == "application/pdf"
    assert report.headers["Content-Disposition"].endswith(f'-{stored["report.pdf"]}.pdf"')


async def test_files_sent_in_a_telegram_chat_pass_the_same_allow_list(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    site = await open_site(tg_settings, channel="telegram", external_id=str(CHAT))
    try:
        assert TELEGRAM in site.app
        async with ClientSession() as session:
            webhook = f"{site.base}/webhooks/telegram"
            family = TelegramFamily(fake, session, webhook, chat_id=CHAT)
            for name, data, mime in [
                ("report.html", ATTACKS[2][1], "text/html"),
                ("Blood tests.pdf", EXE_WITH_PDF_MARKER, "application/pdf"),
                ("chart.svg", ATTACKS[3][1], "image/svg+xml"),
                ("Referral letter.pdf", pdf("referral"), "application/pdf"),
            ]:
                file_id = fake.add_file(data, name)
                await family.post(fake.document_update(CHAT, file_id, name=name,
                                                       mime_type=mime))
                await family.replies()
            chat = texts(fake.to(CHAT))
    finally:
        await site.close()
    (document,) = await site.documents()
    assert (document.filename, document.detected_type, document.kind) == (
        "Referral letter.pdf", "pdf", "referral_letter")
    for refused in ("report.html", "Blood tests.pdf", "chart.svg"):
        assert f"{refused}: {REFUSED['en']}" in chat
