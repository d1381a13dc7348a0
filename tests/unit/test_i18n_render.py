"""Rendering language-neutral messages: translation, plurals, locale formats, fallbacks."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bot.i18n.catalog import Catalogs, po_path
from bot.i18n.negotiate import text_direction
from bot.i18n.render import (
    RenderedOption,
    RenderedPrompt,
    Renderer,
    isolate,
    numbered_text,
)
from intake.prompts import Option, Prompt, Text

FILES = ("{count} file received", "{count} files received")


def write_catalog(
    locales_dir: Path, lang: str, entries: dict[str | tuple[str, str], object], **flags: bool
) -> None:
    """Write a small .po file; `fuzzy=True` marks every entry fuzzy."""
    catalog = Catalog(locale=lang, fuzzy=False)
    for msgid, msgstr in entries.items():
        catalog.add(msgid, msgstr, flags=("fuzzy",) if flags.get("fuzzy") else ())
    path = po_path(locales_dir, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fileobj:
        write_po(fileobj, catalog)


@pytest.fixture
def renderer(tmp_path: Path) -> Renderer:
    write_catalog(
        tmp_path,
        "ru",
        {FILES: ("{count} файл получен", "{count} файла получено", "{count} файлов получено")},
    )
    write_catalog(
        tmp_path,
        "fr",
        {
            "Your case {reference} is open.": "Votre dossier {reference} est ouvert.",
            "Oncology": "Oncologie",
            "Cardiology": "Cardiologie",
            "Neurology": "Neurologie",
            "Which specialty?": "Quelle spécialité ?",
            "Hello {name}": "Bonjour {nom}",
            "Seen on {day}": "Vu le {day}",
        },
    )
    write_catalog(tmp_path, "ar", {"Your case {reference} is open.": "ملفك {reference} مفتوح."})
    return Renderer(Catalogs(locales_dir=tmp_path))


def test_text_with_parameters_renders_in_english(renderer: Renderer) -> None:
    text = Text.of("Case {reference} has {pages} pages.", reference="BX-7F3K", pages=1234)

    assert renderer.text(text, "en") == "Case BX-7F3K has 1,234 pages."


def test_nested_text_parameter_renders_in_the_same_language(renderer: Renderer) -> None:
    text = Text.of("Your case {reference} is open.", reference=Text.of("Oncology"))

    assert renderer.text(text, "fr") == "Votre dossier Oncologie est ouvert."


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1, "1 файл получен"),
        (2, "2 файла получено"),
        (5, "5 файлов получено"),
        (11, "11 файлов получено"),
        (21, "21 файл получен"),
    ],
)
def test_russian_plural_picks_the_form_for_the_count(
    renderer: Renderer, count: int, expected: str
) -> None:
    assert renderer.text(Text.counted(*FILES, count), "ru") == expected


def test_untranslated_plural_falls_back_to_english_forms(renderer: Renderer) -> None:
    assert renderer.text(Text.counted(*FILES, 1), "tr") == "1 file received"
    assert renderer.text(Text.counted(*FILES, 3), "nl") == "3 files received"


def test_arabic_is_written_right_to_left() -> None:
    assert text_direction("ar") == "rtl"
    assert text_direction("fr") == "ltr"


def test_ltr_tokens_are_isolated_only_in_arabic() -> None:
    assert isolate("BX-7F3K", "ar") == "\u2068BX-7F3K\u2069"
    assert isolate("BX-7F3K", "ru") == "BX-7F3K"


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("fr", "Vu le 5\xa0mars\xa02026"), ("tr", "Seen on 5\xa0Mart\xa02026")],
)
def test_dates_are_written_the_locale_way(renderer: Renderer, lang: str, expected: str) -> None:
    assert renderer.text(Text.of("Seen on {day}", day=date(2026, 3, 5)), lang) == expected


def test_aware_datetimes_are_shown_in_brussels_time(renderer: Renderer) -> None:
    noon_utc = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)

    rendered = renderer.text(Text.of("Call at {when}", when=noon_utc), "fr")

    assert "12:00" in rendered


def test_naive_datetimes_are_refused(renderer: Renderer) -> None:
    naive = datetime(2026, 7, 1, 10, 0)  # noqa: DTZ001 - the point of the test

    with pytest.raises(ValueError, match="naive"):
        renderer.text(Text.of("Call at {when}", when=naive), "en")


def test_lists_of_texts_are_joined_the_locale_way(renderer: Renderer) -> None:
    names = (Text.of("Oncology"), Text.of("Cardiology"), Text.of("Neurology"))

    rendered = renderer.text(Text.of("Seen on {day}", day=names), "fr")

    assert rendered == "Vu le oncologie, cardiologie et neurologie"


@pytest.fixture(scope="module")
def real_renderer() -> Renderer:
    return Renderer(Catalogs())


def test_price_range_in_french_names_the_euro_once(real_renderer: Renderer) -> None:
    rendered = real_renderer.price_range(Decimal("350"), Decimal("1200"), "EUR", "fr")

    assert rendered.count("€") == 1
    assert rendered.replace("\u202f", " ").replace("\xa0", " ") == "de 350 à 1 200 €"


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "€350–\u2060650"),
        ("nl", "€\xa0350–\u2060650"),
        ("tr", "350–\u2060650\xa0€"),
        ("ru", "от\xa0350\xa0до\xa0650\xa0€"),
        ("ar", "من\xa0350\xa0إلى\xa0650\xa0€"),
    ],
)
def test_price_range_follows_the_languages_own_pattern(
    real_renderer: Renderer, lang: str, expected: str
) -> None:
    assert real_renderer.price_range(Decimal("350"), Decimal("650"), "EUR", lang) == expected


@pytest.mark.parametrize("lang", ["ar", "fr", "en", "nl", "ru", "tr"])
def test_a_price_range_has_no_place_where_a_line_may_break(
    real_renderer: Renderer, lang: str
) -> None:
    rendered = real_renderer.price_range(Decimal("700"), Decimal("1200"), "EUR", lang)

    assert " " not in rendered
    assert "–" not in rendered or "–\u2060" in rendered


def test_arabic_groups_thousands_with_a_space_no_reader_takes_for_a_decimal_mark(
    real_renderer: Renderer,
) -> None:
    rendered = real_renderer.price_range(Decimal("700"), Decimal("1200"), "EUR", "ar")

    assert "1\u202f200" in rendered
    assert "1,200" not in rendered and "1.200" not in rendered


def test_price_with_cents_keeps_them(renderer: Renderer) -> None:
    assert renderer.money(Decimal("99.50"), "EUR", "fr") == "99,50\xa0€"


def test_broken_translation_falls_back_to_english_and_logs_only_the_msgid(
    renderer: Renderer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        rendered = renderer.text(Text.of("Hello {name}", name="Amira"), "fr")

    assert rendered == "Hello Amira"
    assert "Hello {name}" in caplog.text
    assert "Amira" not in caplog.text


def test_unknown_language_renders_in_english(renderer: Renderer) -> None:
    assert renderer.text(Text.of("Oncology"), "pt") == "Oncology"


def test_prompt_renders_text_and_option_labels(renderer: Renderer) -> None:
    prompt = Prompt(
        Text.of("Which specialty?"),
        (Option("oncology", Text.of("Oncology")), Option("cardiology", Text.of("Cardiology"))),
    )

    rendered = renderer.prompt(prompt, "fr")

    assert rendered == RenderedPrompt(
        "Quelle spécialité ?",
        (RenderedOption("oncology", "Oncologie"), RenderedOption("cardiology", "Cardiologie")),
        multiple=False,
    )


def test_numbered_text_lists_options_for_channels_without_buttons() -> None:
    rendered = RenderedPrompt(
        "Which specialty?",
        (RenderedOption("oncology", "Oncology"), RenderedOption("cardiology", "Cardiology")),
    )

    assert numbered_text(rendered) == "Which specialty?\n\n1. Oncology\n2. Cardiology"


def test_numbered_text_without_options_is_the_text() -> None:
    assert numbered_text(RenderedPrompt("Thank you.")) == "Thank you."
