"""The records-request letter end to end: asked in the chat, delivered as a document on the
web chat and Telegram and as a link on WhatsApp, audited, shown in the inbox."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import ClientSession
from pypdf import PdfReader

from bot.settings import Settings
from intake.case import CaseStatus
from storage.tables import AuditEntry, RecordsLetter
from tests.e2e.chat_client import last_options, texts
from tests.e2e.journey_helpers import only_contact_id, seed_case_for
from tests.e2e.test_case_journey_rules import open_case_page
from tests.e2e.test_inbox import SEEDED_ANSWERS
from tests.e2e.test_telegram import TelegramFamily, start_app
from tests.e2e.test_webchat_intake import rows
from tests.e2e.test_whatsapp import ShiftedClock, World
from tests.e2e.test_whatsapp import start as start_whatsapp
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

LETTER_PATH = re.compile(r"/letter/[A-Za-z0-9_-]{43}\.pdf")
IN_BELGIUM = {**SEEDED_ANSWERS, "patient_country": "BE", "physician_hospital": None}
IN_TURKEY = {**SEEDED_ANSWERS, "patient_country": "TR",
             "physician_hospital": "Ankara Şehir Hastanesi"}


def pdf_text(data: bytes) -> str:
    """The PDF's text, whitespace collapsed."""
    reader = PdfReader(io.BytesIO(data))
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages)
                  .replace("\u00a0", " "))


async def download(base: str, url: str) -> tuple[int, str, bytes]:
    """Open a letter link on the running app (the link names the public address)."""
    path = LETTER_PATH.search(url)
    assert path is not None, url
    async with ClientSession() as http:
        response = await http.get(base + path.group(0))
        return response.status, response.content_type, await response.read()


async def test_on_the_web_chat_the_family_gets_the_letter_as_a_document_the_inbox_sees_it(
    settings: Settings, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async for opened in open_case_page(settings, CaseStatus.AWAITING_DOCUMENTS, IN_BELGIUM):
        family, base = opened.family, opened.base
        await family.replies()
        asked = await family.say("I cannot get my scans")
        assert "In which language should it be written?" in texts(asked)
        assert last_options(asked) == ["ar", "fr", "en", "nl", "ru", "tr"]
        hospital = await family.tap("fr")
        assert "What is the name of the hospital" in texts(hospital)
        done = await family.say("Hôpital Erasme")

        (document,) = [m["document"] for m in done if m.get("document")]
        assert document["filename"].startswith("records-request-SO-")
        assert "/letter/" not in texts(done)  # a document, not a link in the text
        status, content_type, data = await download(base, document["url"])
        assert (status, content_type) == (200, "application/pdf")
        text = pdf_text(data)
        for phrase in ("Amira Benali", "14 mai 2015", "Hôpital Erasme", "RGPD",
                       "article 15 du règlement (UE) 2016/679", "DICOM"):
            assert phrase in text, phrase

        (letter,) = await rows(settings.database_url, RecordsLetter)
        assert (letter.language, letter.legal_basis, letter.downloads) == ("fr", "gdpr", 1)
        actions = [e.action for e in await rows(settings.database_url, AuditEntry,
                                                AuditEntry.case_id == letter.case_id)]
        assert "letter_prepared" in actions and "letter_downloaded" in actions

        page = await opened.page.open()
        assert "Records-request letters" in page and "Hôpital Erasme" in page
        assert "cites the GDPR" in page

        forged = "/letter/" + "A" * 43 + ".pdf"
        assert (await download(base, forged))[0] == 404

        # Erasing the family's data takes the letters and their links with it.
        await family.say("erase my data")
        await family.say("yes")
        assert await rows(settings.database_url, RecordsLetter) == []
        assert (await download(base, document["url"]))[0] == 404
    logged = caplog.text
    assert "Amira" not in logged and "Erasme" not in logged and "2015-05-14" not in logged


async def test_on_telegram_the_fake_bot_api_receives_the_letter_as_a_document(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    running = await start_app(tg_settings)
    base = f"http://127.0.0.1:{running.server.port}"
    async with ClientSession() as session:
        family = TelegramFamily(fake, session, running.webhook)
        try:
            await family.say("/start")
            contact_id = await only_contact_id(tg_settings.database_url)
            await seed_case_for(tg_settings.database_url, contact_id,
                                CaseStatus.AWAITING_DOCUMENTS, IN_TURKEY)
            asked = await family.say("/records_letter")
            assert asked[-1].callback_datas() == ["c:ar", "c:fr", "c:en", "c:nl", "c:ru",
                                                  "c:tr"]
            done = await family.tap("tr")
            (sent,) = [m for m in done if m.document]
            assert "Print it, sign it" in sent.text
            (call,) = fake.calls_of("sendDocument")
            assert call["document"] == sent.document
            status, content_type, data = await download(base, str(sent.document))
        finally:
            await running.close()
    assert (status, content_type) == (200, "application/pdf")
    text = pdf_text(data)
    for phrase in ("Amira Benali", "14 Mayıs 2015", "Ankara Şehir Hastanesi",
                   "6698 sayılı Kişisel Verilerin Korunması Kanunu", "otuz gün"):
        assert phrase in text, phrase


@pytest.fixture
async def whatsapp(settings: Settings) -> AsyncIterator[World]:
    """The app with WhatsApp on, against the fake Twilio API."""
    async with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as api:
        world = await start_whatsapp(settings, api, ShiftedClock())
        try:
            yield world
        finally:
            await world.server.close()
            await world.db.dispose()


async def test_on_whatsapp_the_family_gets_an_expiring_link_to_the_letter(
    whatsapp: World, settings: Settings,
) -> None:
    await whatsapp.write("Hello")
    contact_id = await only_contact_id(settings.database_url)
    answers: dict[str, Any] = {**SEEDED_ANSWERS, "patient_country": "MA"}
    await seed_case_for(settings.database_url, contact_id, CaseStatus.AWAITING_DOCUMENTS,
                        answers)
    asked = await whatsapp.write("letter")
    assert "In which language should it be written?" in asked[-1]
    replies = await whatsapp.choose("en")
    body = "\n".join(replies)
    assert "The link works for 30 days:" in body
    link = LETTER_PATH.search(body)
    assert link is not None and body.count("https://intake.example.org/letter/") == 1
    status, _, data = await download(whatsapp.url, link.group(0))
    assert status == 200
    text = pdf_text(data)
    assert "Amira Benali" in text and "CHU Ibn Rochd" in text
    # Morocco: no law we can cite exactly, so none is named.
    assert "right to obtain a copy of their own medical records" in text
    assert "GDPR" not in text and "KVKK" not in text

    whatsapp.clock.advance(timedelta(days=31))
    assert (await download(whatsapp.url, link.group(0)))[0] == 410
