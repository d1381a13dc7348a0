"""Choosing the first language from channel hints."""

from __future__ import annotations

import pytest

from bot.i18n.negotiate import (
    choose_language,
    from_accept_language,
    from_phone_number,
    from_telegram_code,
    text_direction,
)
from intake.vocabulary import LANGUAGES


@pytest.mark.parametrize(
    ("code", "expected"),
    [("ar", "ar"), ("ru-RU", "ru"), ("fr_BE", "fr"), ("NL", "nl"), ("pt-br", None), ("", None)],
)
def test_telegram_language_code_maps_to_one_of_ours(code: str, expected: str | None) -> None:
    assert from_telegram_code(code) == expected


def test_missing_telegram_code_gives_no_hint() -> None:
    assert from_telegram_code(None) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr-BE,fr;q=0.9,en;q=0.8", "fr"),
        ("de-DE,de;q=0.9,tr;q=0.7,en;q=0.5", "tr"),
        ("en;q=0.4, ar;q=0.9", "ar"),
        ("de, es;q=0.8", None),
        ("ru;q=0, nl;q=0.1", "nl"),
        ("*", None),
        ("", None),
        ("fr;q=abc, en;q=0.2", "en"),
    ],
)
def test_accept_language_picks_the_best_of_our_languages(
    header: str, expected: str | None
) -> None:
    assert from_accept_language(header) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("whatsapp:+33612345678", "fr"),
        ("+31612345678", "nl"),
        ("+79161234567", "ru"),
        ("+905321234567", "tr"),
        ("+966501234567", "ar"),
        ("whatsapp:+201001234567", "ar"),
        ("+447700900123", "en"),
        ("+12025550123", "en"),
        ("+212612345678", "fr"),
        ("905321234567", "tr"),
        ("+32 470 12 34 56", None),
        ("+41791234567", None),
        ("+491701234567", None),
        ("whatsapp:US.ABC123", None),
        ("", None),
        ("+123", None),
    ],
)
def test_phone_country_code_is_a_weak_language_prior(number: str, expected: str | None) -> None:
    assert from_phone_number(number) == expected


def test_explicit_choice_wins_over_every_hint() -> None:
    chosen = choose_language(
        explicit="nl", telegram_code="ru", phone="+905321234567", accept_language="fr"
    )

    assert chosen == "nl"


def test_hints_are_tried_in_order_telegram_phone_browser() -> None:
    assert choose_language(telegram_code="pt-br", phone="+905321234567") == "tr"
    assert choose_language(phone="+32470123456", accept_language="fr-BE,nl;q=0.5") == "fr"
    assert choose_language(explicit="xx", telegram_code="ar") == "ar"


def test_without_any_hint_the_default_is_english() -> None:
    assert choose_language() == "en"
    assert choose_language(phone="whatsapp:US.ABC123", accept_language="de") == "en"


def test_only_arabic_is_right_to_left() -> None:
    right_to_left = [lang for lang in LANGUAGES if text_direction(lang) == "rtl"]

    assert right_to_left == ["ar"]
