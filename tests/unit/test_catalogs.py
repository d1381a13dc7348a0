"""The translation gate: catalogs fresh, placeholders intact, plurals right, nothing missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

from bot.i18n.catalog import Catalogs, po_path, read_catalog
from bot.i18n.workflow import PROJECT_ROOT, main, plural_rule_difference, pot_path
from intake.vocabulary import LANGUAGES

SOURCE = """\
from intake.prompts import Text

# TRANSLATORS: greets the family by first name
GREETING = Text.of("Hello {name}", name="x")


def files(n):
    return Text.counted("{count} file", "{count} files", n)
"""


def test_real_catalogs_are_up_to_date_and_every_language_is_complete(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["check", "--require-complete", ",".join(LANGUAGES)])

    assert status == 0, capsys.readouterr().err


def test_real_catalogs_compile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile-check"]) == 0, capsys.readouterr().err


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A tiny project with the real babel.cfg, extracted and updated."""
    shutil.copy(PROJECT_ROOT / "babel.cfg", tmp_path / "babel.cfg")
    (tmp_path / "intake").mkdir()
    (tmp_path / "intake" / "messages.py").write_text(SOURCE, encoding="utf-8")
    root = ["--root", str(tmp_path)]
    assert main([*root, "extract"]) == 0
    assert main([*root, "update"]) == 0
    return tmp_path


def translate(root: Path, lang: str, translations: dict[str, object], fuzzy: bool = False) -> None:
    path = po_path(root / "locales", lang)
    with path.open("rb") as fileobj:
        catalog = read_po(fileobj, locale=lang)
    for msgid, msgstr in translations.items():
        message = catalog[msgid]
        message.string = msgstr
        if fuzzy:
            message.flags.add("fuzzy")
    with path.open("wb") as fileobj:
        write_po(fileobj, catalog)


def check(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    status = main(["--root", str(root), "check", *args])
    return status, capsys.readouterr().err


def test_extraction_finds_text_of_and_counted_with_translator_comments(project: Path) -> None:
    with pot_path(project).open("rb") as fileobj:
        template = read_po(fileobj)

    greeting = template["Hello {name}"]
    assert "TRANSLATORS: greets the family by first name" in greeting.auto_comments
    assert template["{count} file"].id == ("{count} file", "{count} files")


def test_new_catalogs_carry_each_language_plural_rule(project: Path) -> None:
    forms = {}
    for lang in ("ar", "ru", "fr", "nl", "en", "tr"):
        with po_path(project / "locales", lang).open("rb") as fileobj:
            forms[lang] = read_po(fileobj, locale=lang).num_plurals

    assert forms == {"ar": 6, "ru": 3, "fr": 3, "nl": 2, "en": 2, "tr": 2}


def test_long_translator_comments_do_not_make_the_template_look_stale(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    comment = "# TRANSLATORS: " + "a long explanation for translators " * 5
    source = project / "intake" / "messages.py"
    source.write_text(SOURCE + comment + '\nBYE = Text.of("Goodbye")\n', encoding="utf-8")
    assert main(["--root", str(project), "extract"]) == 0
    assert main(["--root", str(project), "update"]) == 0

    assert check(project, capsys) == (0, "")


def test_extract_leaves_an_unchanged_template_untouched(project: Path) -> None:
    before = pot_path(project).read_bytes()

    assert main(["--root", str(project), "extract"]) == 0

    assert pot_path(project).read_bytes() == before


def test_english_catalog_is_filled_with_the_source(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check(project, capsys, "--require-complete", "en") == (0, "")


def test_renamed_brace_placeholder_is_caught(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    translate(project, "fr", {"Hello {name}": "Bonjour {nom}"})

    status, errors = check(project, capsys)

    assert status == 1
    assert "unknown placeholder(s) ['nom']" in errors
    assert "missing placeholder(s) ['name']" in errors


def test_untranslated_plural_counts_as_missing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    translate(project, "fr", {"Hello {name}": "Bonjour {name}"})

    status, errors = check(project, capsys, "--require-complete", "fr")

    assert status == 1
    assert "fr: untranslated '{count} file'" in errors
    assert "Hello {name}" not in errors


def test_partly_translated_plural_counts_as_missing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    translate(
        project,
        "ru",
        {"Hello {name}": "Здравствуйте, {name}", "{count} file": ("{count} файл", "", "")},
    )

    status, errors = check(project, capsys, "--require-complete", "ru")

    assert status == 1
    assert "ru: untranslated '{count} file'" in errors


def test_complete_catalog_with_plural_forms_passes(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    translate(
        project,
        "ar",
        {
            "Hello {name}": "مرحبا {name}",
            # The singular and dual forms name the number in words, without {count}.
            "{count} file": (
                "{count} ملف",
                "ملف واحد",
                "ملفان",
                "{count} ملفات",
                "{count} ملفًا",
                "{count} ملف",
            ),
        },
    )

    assert check(project, capsys, "--require-complete", "ar,en") == (0, "")


def test_fuzzy_entries_fail_the_check(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    translate(project, "nl", {"Hello {name}": "Hallo {name}"}, fuzzy=True)

    status, errors = check(project, capsys)

    assert status == 1
    assert "nl: fuzzy entry 'Hello {name}'" in errors


def test_wrong_plural_header_fails_the_check(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = po_path(project / "locales", "ru")
    text = path.read_text(encoding="utf-8")
    start = text.index('"Plural-Forms:')
    end = text.index('"MIME-Version')
    path.write_text(
        text[:start] + '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n' + text[end:],
        encoding="utf-8",
    )

    status, errors = check(project, capsys)

    assert status == 1
    assert "ru: Plural-Forms 'nplurals=2; plural=(n != 1);' disagrees" in errors
    assert "a different number of forms" in errors


# The headers Babel 2.18 wrote: the same CLDR rules for Russian and Arabic in other words, the
# old two-form French rule, and Arabic with "many" and "other" in the other order.
RU_2_18 = "(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2)"
AR_2_18 = (
    "(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : "
    "n%100>=0 && n%100<=2 ? 4 : 5)"
)


def test_a_rule_written_differently_with_the_same_meaning_passes() -> None:
    assert plural_rule_difference(3, RU_2_18, "ru") is None


@pytest.mark.parametrize(
    ("lang", "num_plurals", "expr", "first_difference"),
    [
        ("ar", 6, AR_2_18, 11),  # 11–99 is "many" (index 4) in CLDR, index 5 in the old header
        ("fr", 3, "(n > 1 ? 2 : n == 1 ? 0 : 1)", 0),
        ("fr", 3, "(n == 0 || n == 1) ? 0 : 2", 1_000_000),  # "many" forgotten
        ("fr", 2, "(n > 1)", -1),
        ("tr", 1, "0", -1),
    ],
)
def test_a_rule_that_means_something_else_fails(
    lang: str, num_plurals: int, expr: str, first_difference: int
) -> None:
    assert plural_rule_difference(num_plurals, expr, lang) == first_difference


def test_every_catalog_rule_means_the_installed_cldr_rule() -> None:
    for lang in LANGUAGES:
        catalog = read_catalog(po_path(PROJECT_ROOT / "locales", lang), lang)
        assert plural_rule_difference(catalog.num_plurals, catalog.plural_expr, lang) is None


def test_new_source_string_makes_the_template_out_of_date(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = project / "intake" / "messages.py"
    source.write_text(SOURCE + 'BYE = Text.of("Goodbye")\n', encoding="utf-8")

    status, errors = check(project, capsys)

    assert status == 1
    assert "messages.pot is out of date" in errors


def test_update_keeps_translations_and_adds_new_strings(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    translate(project, "fr", {"Hello {name}": "Bonjour {name}"})
    source = project / "intake" / "messages.py"
    source.write_text(SOURCE + 'BYE = Text.of("Goodbye")\n', encoding="utf-8")

    assert main(["--root", str(project), "extract"]) == 0
    assert main(["--root", str(project), "update"]) == 0

    assert check(project, capsys, "--require-complete", "en") == (0, "")
    catalogs = Catalogs(project / "locales")
    assert catalogs.gettext("fr", "Hello {name}") == "Bonjour {name}"
    assert catalogs.gettext("en", "Goodbye") == "Goodbye"


def test_runtime_catalogs_skip_fuzzy_and_incomplete_entries(project: Path) -> None:
    translate(project, "nl", {"Hello {name}": "Hallo {name}"}, fuzzy=True)
    translate(project, "ru", {"{count} file": ("{count} файл", "", "")})

    catalogs = Catalogs(project / "locales")

    assert catalogs.gettext("nl", "Hello {name}") == "Hello {name}"
    assert catalogs.ngettext("ru", "{count} file", "{count} files", 5) == "{count} files"
