"""Anytime commands and language names: recognised as whole messages, never inside answers."""

from __future__ import annotations

import pytest
from babel import Locale

from intake.commands import (
    Command,
    command_help,
    match_command,
    match_language_name,
    slash_name,
)
from intake.vocabulary import LANGUAGES

PHRASES: dict[Command, dict[str, list[str]]] = {
    Command.HELP: {
        "en": ["help", "Help!", "help please"],
        "fr": ["aide", "Aidez-moi"],
        "nl": ["hulp", "Help"],
        "ru": ["помощь", "Помогите"],
        "tr": ["yardım", "YARDIM", "yardim"],
        "ar": ["مساعدة", "مساعده", "ساعدني"],
    },
    Command.LANGUAGE: {
        "en": ["change language", "Language"],
        "fr": ["changer de langue", "langue"],
        "nl": ["taal wijzigen", "andere taal"],
        "ru": ["сменить язык", "Язык"],
        "tr": ["dil değiştir", "dili değiştir"],
        "ar": ["تغيير اللغة", "اللغة"],
    },
    Command.STATUS: {
        "en": ["status", "where is my case?"],
        "fr": ["statut", "où en est mon dossier ?"],
        "nl": ["status", "waar staat mijn dossier"],
        "ru": ["статус", "статус заявки"],
        "tr": ["durum", "başvuru durumu"],
        "ar": ["حالة الطلب", "الحالة"],
    },
    Command.HUMAN: {
        "en": ["talk to a person", "human", "agent", "Talk to a human please"],
        "fr": ["parler à quelqu'un", "un humain", "conseiller"],
        "nl": ["met iemand praten", "medewerker"],
        "ru": ["поговорить с человеком", "оператор"],
        "tr": ["temsilci", "müşteri temsilcisi", "biriyle konuşmak istiyorum"],
        "ar": ["موظف", "أريد التحدث مع شخص", "خدمة العملاء"],
    },
    Command.BACK: {
        "en": ["back", "go back", "edit", "Back."],
        "fr": ["retour", "revenir", "modifier"],
        "nl": ["terug", "vorige vraag"],
        "ru": ["назад", "Назад", "вернуться"],
        "tr": ["geri", "GERİ", "geri dön"],
        "ar": ["رجوع", "السؤال السابق", "تعديل"],
    },
    Command.RESTART: {
        "en": ["restart", "start over"],
        "fr": ["recommencer", "tout recommencer"],
        "nl": ["opnieuw beginnen", "opnieuw"],
        "ru": ["начать заново", "заново"],
        "tr": ["baştan başla", "yeniden başlat"],
        "ar": ["ابدأ من جديد", "إعادة البدء"],
    },
    Command.STOP_REMINDERS: {
        "en": ["stop reminders", "STOP"],
        "fr": ["arrêter les rappels", "plus de rappels"],
        "nl": ["geen herinneringen", "stop herinneringen"],
        "ru": ["отключить напоминания", "стоп"],
        "tr": ["hatırlatmaları durdur", "hatirlatmalari durdur"],
        "ar": ["إيقاف التذكيرات", "توقف"],
    },
    Command.ERASE: {
        "en": ["erase my data", "delete my data"],
        "fr": ["supprimer mes données", "effacer mes donnees"],
        "nl": ["verwijder mijn gegevens", "mijn gegevens wissen"],
        "ru": ["удалить мои данные", "удалите мои данные"],
        "tr": ["verilerimi sil", "bilgilerimi silin"],
        "ar": ["احذف بياناتي", "امسح بياناتي"],
    },
    Command.PRICES: {
        "en": ["prices", "price", "cost", "How much?"],
        "fr": ["prix", "tarifs", "combien ça coûte ?"],
        "nl": ["prijzen", "kosten", "wat kost het?"],
        "ru": ["цены", "сколько стоит?"],
        "tr": ["fiyat", "ücret", "ne kadar?"],
        "ar": ["الأسعار", "كم السعر؟", "الاسعار"],
    },
    Command.NEW_LINK: {
        "en": ["new link", "link"],
        "fr": ["nouveau lien", "lien"],
        "nl": ["nieuwe link", "link"],
        "ru": ["новая ссылка", "ссылка"],
        "tr": ["yeni bağlantı", "yeni link"],
        "ar": ["رابط جديد", "الرابط"],
    },
    Command.LETTER: {
        "en": ["records letter", "I cannot get my scans"],
        "fr": ["lettre", "je n'arrive pas à obtenir mon dossier"],
        "nl": ["brief", "ik krijg mijn beelden niet"],
        "ru": ["письмо", "мне не дают снимки"],
        "tr": ["dilekçe", "filmlerimi alamıyorum"],
        "ar": ["رسالة", "لا أستطيع الحصول على الأشعة"],
    },
}


def test_every_command_has_phrases_in_every_language_here() -> None:
    assert set(PHRASES) == set(Command)
    assert all(set(by_language) == set(LANGUAGES) for by_language in PHRASES.values())


@pytest.mark.parametrize(
    ("command", "language", "typed"),
    [
        (command, language, typed)
        for command, by_language in PHRASES.items()
        for language, phrases in by_language.items()
        for typed in phrases
    ],
)
def test_every_command_is_recognised_in_every_language(
    command: Command, language: str, typed: str
) -> None:
    assert match_command(typed) is command


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("/help", Command.HELP),
        ("/language", Command.LANGUAGE),
        ("/lang", Command.LANGUAGE),
        ("/lang fr", Command.LANGUAGE),
        ("/status", Command.STATUS),
        ("/human", Command.HUMAN),
        ("/agent", Command.HUMAN),
        ("/back", Command.BACK),
        ("/edit", Command.BACK),
        ("/restart", Command.RESTART),
        ("/stop", Command.STOP_REMINDERS),
        ("/erase", Command.ERASE),
        ("/delete", Command.ERASE),
        ("/prices", Command.PRICES),
        ("/link", Command.NEW_LINK),
        ("/HELP", Command.HELP),
        ("/help@SecondOpinionBot", Command.HELP),
        ("/status@second_opinion_bot", Command.STATUS),
        ("  /back  ", Command.BACK),
        ("?", Command.HELP),
    ],
)
def test_slash_commands_are_recognised_with_or_without_a_bot_name(
    typed: str, command: Command
) -> None:
    assert match_command(typed) is command


@pytest.mark.parametrize("typed", ["/start", "/start abc123", "/unknown", "/"])
def test_start_and_unknown_slash_commands_are_not_anytime_commands(typed: str) -> None:
    assert match_command(typed) is None


@pytest.mark.parametrize(
    "typed",
    [
        "no",
        "yes",
        "1",
        "2",
        "oncology",
        "my father",
        "oui",
        "nee",
        "да",
        "evet",
        "نعم",
        "لا",
        "France",
        "03/03/1980",
        "back pain",
        "he had a heart attack, please help him",
        "Mon père a besoin d'aide pour son dossier",
        "Hoeveel kost een tweede mening voor mijn moeder?",
        "",
        "👍",
        "English",
    ],
)
def test_ordinary_answers_are_not_commands(typed: str) -> None:
    assert match_command(typed) is None


def test_the_help_lists_every_command_once_with_a_description() -> None:
    listed = [command for command, _ in command_help()]
    assert sorted(listed) == sorted(Command)
    assert len(listed) == len(set(listed))
    assert all(text.msgid.endswith(".") for _, text in command_help())


def test_each_command_has_a_slash_name_that_is_recognised() -> None:
    for command in Command:
        assert match_command(f"/{slash_name(command)}") is command


@pytest.mark.parametrize(
    ("display", "language"),
    [(display, language) for display in LANGUAGES for language in LANGUAGES],
)
def test_each_languages_name_in_each_language_is_recognised(display: str, language: str) -> None:
    name = Locale.parse(display).languages[language]
    assert match_language_name(name) == language
    assert match_language_name(name.upper()) == language


@pytest.mark.parametrize(
    ("typed", "language"),
    [
        ("français", "fr"),
        ("french", "fr"),
        ("francais", "fr"),
        ("Fransızca", "fr"),
        ("FRANSIZCA", "fr"),
        ("французский", "fr"),
        ("الفرنسية", "fr"),
        ("Frans", "fr"),
        ("عربي", "ar"),
        ("العربية", "ar"),
        ("Arabic", "ar"),
        ("Arapça", "ar"),
        ("Türkçe", "tr"),
        ("turkce", "tr"),
        ("turkish", "tr"),
        ("Nederlands", "nl"),
        ("Dutch", "nl"),
        ("néerlandais", "nl"),
        ("Vlaams", "nl"),
        ("русский", "ru"),
        ("Русский", "ru"),
        ("по-русски", "ru"),
        ("English", "en"),
        ("İngilizce", "en"),
        ("in English please", "en"),
        ("en français", "fr"),
        ("بالعربي", "ar"),
    ],
)
def test_native_and_colloquial_language_names_are_recognised(typed: str, language: str) -> None:
    assert match_language_name(typed) == language


@pytest.mark.parametrize("code", LANGUAGES)
def test_a_language_code_alone_is_recognised(code: str) -> None:
    assert match_language_name(code) == code
    assert match_language_name(code.upper()) == code


@pytest.mark.parametrize(
    "typed", ["pt", "German", "", "my father speaks French at home", "1", "no", "fr en"]
)
def test_other_languages_codes_and_sentences_are_not_language_names(typed: str) -> None:
    assert match_language_name(typed) is None
