"""A whole intake in each of the six languages: every reply translated, dates and prices local."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import polib
import pytest
from babel.dates import format_date

from bot.i18n.catalog import Catalogs
from bot.i18n.render import Renderer
from bot.settings import Settings
from tests.e2e.chat_client import ChatFamily, texts
from tests.e2e.test_webchat_intake import start_server

LOCALES = ["ar", "fr", "en", "nl", "ru", "tr"]

# What a family types in its own language; choices are tapped (keys).
TYPED = {
    "ar": {"name": "أمينة بن علي", "country": "المغرب", "proposal": "عملية جراحية في القلب",
           "questions": "هل الجراحة ضرورية؟", "skip": "تخطي", "treatment": "فوروسيميد ١٠ ملغ",
           "doctor": "د. كريم العلمي", "hospital": "مستشفى ابن رشد"},
    "fr": {"name": "Amina Benali", "country": "Maroc", "proposal": "Une opération du cœur",
           "questions": "L'opération est-elle nécessaire ?", "skip": "passer",
           "treatment": "Furosémide 10 mg", "doctor": "Dr Karim Alami",
           "hospital": "CHU Ibn Rochd"},
    "en": {"name": "Amina Benali", "country": "Morocco", "proposal": "Heart surgery",
           "questions": "Is surgery necessary?", "skip": "skip", "treatment": "Furosemide 10 mg",
           "doctor": "Dr Karim Alami", "hospital": "CHU Ibn Rochd"},
    "nl": {"name": "Amina Benali", "country": "Marokko", "proposal": "Een hartoperatie",
           "questions": "Is de operatie nodig?", "skip": "overslaan",
           "treatment": "Furosemide 10 mg", "doctor": "Dr. Karim Alami",
           "hospital": "CHU Ibn Rochd"},
    "ru": {"name": "Амина Бенали", "country": "Марокко", "proposal": "Операция на сердце",
           "questions": "Нужна ли операция?", "skip": "пропустить",
           "treatment": "Фуросемид 10 мг", "doctor": "Доктор Карим Алами",
           "hospital": "Больница Ибн Рошд"},
    "tr": {"name": "Amina Benali", "country": "Fas", "proposal": "Kalp ameliyatı",
           "questions": "Ameliyat gerekli mi?", "skip": "geç", "treatment": "Furosemid 10 mg",
           "doctor": "Dr. Karim Alami", "hospital": "İbn Rüşd Hastanesi"},
}


def script(lang: str) -> list[tuple[str, str]]:
    """The answers of one intake, in `lang`."""
    t = TYPED[lang]
    return [
        ("tap", lang), ("tap", "yes"), ("tap", "parent"), ("say", t["name"]),
        ("say", "14/05/2015"), ("tap", "female"), ("say", t["country"]), ("tap", "cardiology"),
        ("tap", "surgery"), ("say", t["proposal"]), ("say", t["questions"]), ("say", t["skip"]),
        ("tap", "none"), ("tap", "written_video"), ("tap", lang), ("say", t["treatment"]),
        ("say", t["doctor"]), ("say", t["hospital"]), ("say", "k.alami@example.org"),
        ("tap", "yes"),
    ]


def english_sentences() -> list[str]:
    """Source sentences long enough that seeing one verbatim means it was not translated."""
    catalog = polib.pofile("locales/messages.pot")
    out = []
    for entry in catalog:
        plain = re.sub(r"\{[^}]*\}", "\x00", entry.msgid)
        for piece in plain.split("\x00"):
            if len(piece.split()) >= 4:
                out.append(piece.strip())
    return out


@pytest.mark.parametrize("lang", LOCALES)
async def test_a_whole_intake_reads_entirely_in_the_familys_language(
    settings: Settings, lang: str
) -> None:
    server, base = await start_server(settings)
    family = await ChatFamily.open(base, accept_language=lang)
    replies: list[dict[str, Any]] = []
    try:
        greeting = await family.replies()
        replies += greeting
        for how, value in script(lang):
            got = await (family.tap(value) if how == "tap" else family.say(value))
            assert got, f"{lang}: no reply to {value!r}"
            replies += got
        summary = texts(replies[-1:])
        submitted = await family.tap("confirm")
        replies += submitted
    finally:
        await family.close()
        await server.close()

    born = format_date(date(2015, 5, 14), format="long", locale=lang).replace(" ", "\xa0")
    assert born in summary, (lang, summary)
    assert TYPED[lang]["name"] in summary
    renderer = Renderer(Catalogs())
    price = renderer.price_range(Decimal(800), Decimal(1800), "EUR", lang)  # co-review package
    assert price in texts(submitted), (lang, texts(submitted))
    assert "SO-" in texts(submitted)
    assert "/upload/" in texts(submitted)
    if lang != "en":
        everything = texts(replies[1:])  # the greeting is asked before the language is known
        leaked = [s for s in english_sentences() if s in everything]
        assert leaked == [], (lang, leaked[:5])
