"""Switching language in the middle of an intake keeps every answer and goes on in the new one."""

from __future__ import annotations

from aiohttp import ClientSession

from bot.settings import Settings
from storage.tables import Case
from tests.e2e.chat_client import ChatFamily, last_options, texts
from tests.e2e.test_telegram import TelegramFamily, rows, start_app
from tests.e2e.test_telegram import texts as telegram_texts
from tests.e2e.test_webchat_intake import ENGLISH_INTAKE, answer, start_server
from tests.fakes.telegram_api import FakeTelegram


async def test_writing_a_language_name_mid_intake_switches_and_keeps_the_answers(
    settings: Settings,
) -> None:
    server, base = await start_server(settings)
    family = await ChatFamily.open(base)
    try:
        await family.replies()
        for how, value in ENGLISH_INTAKE[:5]:  # up to the date of birth
            await answer(family, how, value)
        replies = await family.say("Français")
        assert family.lang == "fr" and family.dir == "ltr"
        assert "Nous continuons en français" in texts(replies)
        assert "sexe" in replies[-1]["text"]  # the same question, now in French
        assert last_options(replies) == ["female", "male", "other"]
        await family.tap("female")
        replies = await family.say("عربي")
        assert family.lang == "ar" and family.dir == "rtl"
        assert "العربية" in texts(replies)
        replies = await family.say("Maroc")  # a country named in French still counts
        assert family.lang == "ar", texts(replies)
        assert last_options(replies)[0] == "oncology"
    finally:
        await family.close()
        await server.close()
    (case,) = await rows(settings.database_url, Case)
    assert case.answers["patient_name"] == "Amira Benali"
    assert case.answers["patient_birth_date"] == "2015-05-14"
    assert case.answers["patient_sex"] == "female"
    assert case.answers["patient_country"] == "MA"
    assert case.language == "ar"


async def test_switching_language_on_telegram_mid_intake(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    running = await start_app(tg_settings)
    try:
        async with ClientSession() as session:
            family = TelegramFamily(fake, session, running.webhook)
            await family.say("/start")
            await family.tap("en")
            await family.tap("yes")
            await family.tap("patient")
            replies = await family.say("Nederlands")
            assert "Nederlands" in telegram_texts(replies)
            assert "naam" in replies[-1].text.lower()  # the name question, in Dutch
            replies = await family.say("Jan Peeters")
            assert "geboortedatum" in telegram_texts(replies).lower()
    finally:
        await running.close()
    (case,) = await rows(tg_settings.database_url, Case)
    assert case.answers["role"] == "patient"
    assert case.answers["patient_name"] == "Jan Peeters"
    assert case.language == "nl"
