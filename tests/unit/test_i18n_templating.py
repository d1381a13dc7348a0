"""Pages rendered per request language from one shared Jinja2 environment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bot.i18n.catalog import Catalogs, po_path
from bot.web.templating import make_jinja_env, render_page

Render = Callable[[str], str]

PAGE = """\
<html lang="{{ lang }}" dir="{{ dir }}">
<h1>{{ _("Upload your documents") }}</h1>
<p>{{ _("Hello %(name)s", name=name) }}</p>
<p>{{ ngettext("%(num)d file received", "%(num)d files received", count) }}</p>
<p>{% trans %}Case {{ reference }}{% endtrans %}</p>
</html>
"""


def write_catalog(locales_dir: Path, lang: str, entries: dict[object, object]) -> None:
    catalog = Catalog(locale=lang, fuzzy=False)
    for msgid, msgstr in entries.items():
        catalog.add(msgid, msgstr)
    path = po_path(locales_dir, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fileobj:
        write_po(fileobj, catalog)


@pytest.fixture
def catalogs(tmp_path: Path) -> Catalogs:
    locales = tmp_path / "locales"
    write_catalog(
        locales,
        "ar",
        {
            "Upload your documents": "حمّل مستنداتك",
            "Hello %(name)s": "مرحبا %(name)s",
            "Case %(reference)s": "الملف %(reference)s",
        },
    )
    write_catalog(
        locales,
        "ru",
        {
            "Hello %(name)s": "Здравствуйте, %(nom)s",
            ("%(num)d file received", "%(num)d files received"): (
                "%(num)d файл получен",
                "%(num)d файла получено",
                "%(num)d файлов получено",
            ),
        },
    )
    return Catalogs(locales)


@pytest.fixture
def render(tmp_path: Path, catalogs: Catalogs) -> Render:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "page.html").write_text(PAGE, encoding="utf-8")
    env = make_jinja_env(catalogs, templates)

    def render(lang: str) -> str:
        return render_page(
            env, catalogs, "page.html", lang, name="<b>Amira</b>", count=5, reference="BX-7"
        )

    return render


def test_arabic_page_is_right_to_left_and_translated(render: Render) -> None:
    page = render("ar")

    assert '<html lang="ar" dir="rtl">' in page
    assert "حمّل مستنداتك" in page
    assert "الملف BX-7" in page


def test_variables_are_escaped_inside_translations(render: Render) -> None:
    page = render("ar")

    assert "مرحبا &lt;b&gt;Amira&lt;/b&gt;" in page


def test_each_render_speaks_its_own_language_on_a_shared_environment(render: Render) -> None:
    arabic, english = render("ar"), render("en")

    assert "حمّل مستنداتك" in arabic
    assert "<h1>Upload your documents</h1>" in english
    assert '<html lang="en" dir="ltr">' in english


def test_template_plural_uses_the_language_rule(render: Render) -> None:
    assert "5 файлов получено" in render("ru")


def test_broken_template_translation_falls_back_to_english(render: Render) -> None:
    assert "Hello &lt;b&gt;Amira&lt;/b&gt;" in render("ru")


def test_pages_that_count_in_the_browser_get_every_cldr_form() -> None:
    from bot.i18n.catalog import Catalogs
    from bot.web.templating import gettext_callables, plural_samples

    assert plural_samples("fr") == {"one": 0, "other": 2, "many": 1_000_000}
    assert set(plural_samples("ar")) == {"zero", "one", "two", "few", "many", "other"}
    assert set(plural_samples("ru")) == {"one", "few", "many"}
    assert set(plural_samples("tr")) == {"one", "other"}
    forms = gettext_callables(Catalogs(), "fr")["plural_forms"](
        "{done} of {count} file sent", "{done} of {count} files sent"
    )
    assert forms == {
        "one": "{done} sur {count} fichier envoyé",
        "other": "{done} sur {count} fichiers envoyés",
        "many": "{done} sur {count} de fichiers envoyés",
    }
