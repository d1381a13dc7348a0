"""Every plural message, in every language, picks the CLDR form for the count it shows."""

from __future__ import annotations

import gettext
import re

import pytest
from babel.messages.catalog import Message
from babel.messages.plurals import get_plural

from bot.i18n.catalog import Catalogs, po_path, read_catalog
from bot.i18n.workflow import PROJECT_ROOT
from intake.vocabulary import LANGUAGES

COUNTS = (0, 1, 2, 3, 5, 11, 21, 100, 101, 1_000_000)

CATALOGS = Catalogs()


def plural_entries(lang: str) -> list[Message]:
    catalog = read_catalog(po_path(PROJECT_ROOT / "locales", lang), lang)
    return [message for message in catalog if isinstance(message.id, (list, tuple))]


def cldr_form_index(lang: str, count: int) -> int:
    """The form gettext must pick: Babel's CLDR rule for the language, not the .po header."""
    return int(gettext.c2py(get_plural(lang).plural_expr)(count))


def fill(form: str, count: int) -> str:
    """Substitute the count the way the renderer and the templates do (plain digits here)."""
    text = form.replace("%(num)d", str(count))
    return re.sub(r"\{(count|limit)\}", str(count), text)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("count", COUNTS)
def test_each_plural_message_renders_the_cldr_form_for_the_count(lang: str, count: int) -> None:
    entries = plural_entries(lang)
    assert entries, "the catalogs hold plural messages"
    index = cldr_form_index(lang, count)
    for message in entries:
        singular, plural = message.id[0], message.id[1]
        rendered = CATALOGS.ngettext(lang, singular, plural, count)
        assert rendered == message.string[index], (lang, count, singular)
        assert rendered.strip()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_plural_message_has_one_form_per_category(lang: str) -> None:
    for message in plural_entries(lang):
        assert len(message.string) == get_plural(lang).num_plurals, message.id
        assert all(form.strip() for form in message.string), message.id


def test_french_says_de_after_a_million() -> None:
    for message in plural_entries("fr"):
        many = fill(CATALOGS.ngettext("fr", message.id[0], message.id[1], 1_000_000), 1_000_000)
        if "1000000" in many and "non lu" not in many:
            assert re.search(r"1000000 (de |d')", many), many


def test_russian_uses_the_singular_form_for_21_and_the_genitive_plural_for_11() -> None:
    message = next(m for m in plural_entries("ru") if m.id[0] == "{count} image")
    assert CATALOGS.ngettext("ru", *message.id[:2], 21) == message.string[0]
    assert CATALOGS.ngettext("ru", *message.id[:2], 11) == message.string[2]
    assert CATALOGS.ngettext("ru", *message.id[:2], 3) == message.string[1]


def test_arabic_uses_the_accusative_form_from_11_to_99_and_the_genitive_from_100() -> None:
    message = next(m for m in plural_entries("ar") if m.id[0] == "{count} file: {problem}")
    assert CATALOGS.ngettext("ar", *message.id[:2], 11).startswith("{count} ملفًا")
    assert CATALOGS.ngettext("ar", *message.id[:2], 100).startswith("{count} ملف:")
    assert CATALOGS.ngettext("ar", *message.id[:2], 101).startswith("{count} ملف:")
