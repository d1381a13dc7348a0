"""The translation workflow: extract, update, compile-check and the CI gate `check`.

Extraction follows `babel.cfg` (its sections carry the keywords and the `TRANSLATORS:` comment
tag, so a plain `pybabel extract -F babel.cfg -o locales/messages.pot .` agrees with us).
Everything runs through Babel's Python API, from the project root.
"""

from __future__ import annotations

import argparse
import gettext
import string
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po

from bot.i18n.catalog import DOMAIN, is_translated, po_path, read_catalog
from intake.vocabulary import LANGUAGES

PROJECT = "intake-bot"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SOURCE_LANGUAGE = "en"
# `plural_forms(singular, plural)` in templates: every form of a plural message, for pages
# that count in the browser (`pybabel extract -k plural_forms:1,2` agrees).
KEYWORDS = {**DEFAULT_KEYWORDS, "plural_forms": (1, 2)}
WIDTH = 76  # pybabel's default, so a manual pybabel run rewrites nothing


def _locales_dir(root: Path) -> Path:
    return root / "locales"


def pot_path(root: Path) -> Path:
    """Where the extracted template lives."""
    return _locales_dir(root) / f"{DOMAIN}.pot"


def extract_catalog(root: Path) -> Catalog:
    """Extract every marked string under `root` into a fresh template catalog."""
    with (root / "babel.cfg").open(encoding="utf-8") as fileobj:
        method_map, options_map = parse_mapping_cfg(fileobj, "babel.cfg")  # type: ignore[no-untyped-call]
    catalog = Catalog(project=PROJECT, version="", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        root, method_map, options_map, keywords=KEYWORDS
    ):
        location = (Path(filename).as_posix(), lineno)
        catalog.add(message, None, [location], auto_comments=comments, context=context)
    return catalog


def _read_pot(path: Path) -> Catalog:
    with path.open("rb") as fileobj:
        return read_po(fileobj)


def _serialize(catalog: Catalog, **options: bool) -> bytes:
    buffer = BytesIO()
    write_po(buffer, catalog, width=WIDTH, **options)
    return buffer.getvalue()


def _write_if_changed(path: Path, content: bytes) -> bool:
    if path.is_file() and path.read_bytes() == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return True


def _ids(catalog: Catalog) -> set[tuple[object, str | None]]:
    """The message ids (plural ids included) a catalog holds, obsolete entries aside."""
    return {
        (
            tuple(message.id) if isinstance(message.id, (tuple, list)) else message.id,
            message.context,
        )
        for message in catalog
        if message.id
    }


def _signature(catalog: Catalog, with_locations: bool) -> set[tuple[object, ...]]:
    """What translators see of a template: ids, translator comments (and locations)."""
    return {
        (
            tuple(message.id) if isinstance(message.id, (tuple, list)) else message.id,
            message.context,
            # write_po wraps long comments into several lines; compare the words only.
            " ".join(" ".join(message.auto_comments).split()),
            tuple(message.locations) if with_locations else (),
        )
        for message in catalog
        if message.id
    }


def extract(root: Path) -> bool:
    """Write `locales/messages.pot`; leave it untouched (and its date) when nothing changed."""
    fresh = extract_catalog(root)
    path = pot_path(root)
    if path.is_file() and _signature(_read_pot(path), True) == _signature(fresh, True):
        return False
    return _write_if_changed(path, _serialize(fresh))


def _fill_source_language(catalog: Catalog) -> None:
    """English is the source language: its translation is the msgid itself."""
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, (tuple, list)):
            singular, plural = message.id[0], message.id[1]
            message.string = tuple(
                singular if form == 0 else plural for form in range(catalog.num_plurals)
            )
        else:
            message.string = message.id
        message.flags.discard("fuzzy")


def update(
    root: Path,
    languages: Iterable[str] = LANGUAGES,
    fuzzy_matching: bool = False,
    ignore_obsolete: bool = False,
) -> list[str]:
    """Merge the template into every language's catalog, creating missing ones."""
    changed: list[str] = []
    for lang in languages:
        # A fresh template each time: `Catalog.update` adopts the template's Message objects.
        template = _read_pot(pot_path(root))
        path = po_path(_locales_dir(root), lang)
        if path.is_file():
            catalog = read_catalog(path, lang)
            # Fuzzy matches would fail `check` until reviewed; by default an edited source
            # string simply becomes untranslated (and falls back to English at runtime).
            catalog.update(template, no_fuzzy_matching=not fuzzy_matching)
        else:
            # Not `read_po(pot, locale=lang)` like `pybabel init`: that warns on every plural
            # entry of a language with a different number of forms (Turkish has one).
            catalog = Catalog(
                locale=lang,
                domain=DOMAIN,
                project=PROJECT,
                charset="utf-8",
                revision_date=datetime.now(UTC),
                fuzzy=False,
            )
            catalog.update(template, no_fuzzy_matching=True)
        if lang == SOURCE_LANGUAGE:
            _fill_source_language(catalog)
        # No `#:` locations in the language catalogs (the template keeps them): a moved line of
        # code then changes nothing in six files, and parallel work merges cleanly.
        content = _serialize(catalog, ignore_obsolete=ignore_obsolete, omit_header=False,
                             no_location=True)
        if _write_if_changed(path, content):
            changed.append(lang)
    return changed


def brace_fields(text: str) -> set[str] | None:
    """The `{name}` fields of a str.format string, or None when it cannot be parsed."""
    try:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError:
        return None


def _is_template_only(message: Message) -> bool:
    return bool(message.locations) and all(
        filename.endswith(".html") for filename, _ in message.locations
    )


def placeholder_problems(message: Message) -> list[str]:
    """Compare `{name}` fields of a translation with its msgid (Babel only checks `%(name)s`).

    A plural form may leave out `{count}` ("one file" in Arabic's singular and dual forms) but
    no other field, and no form may bring in a field the source does not have.
    """
    if not message.id or "python-format" in message.flags or _is_template_only(message):
        return []
    if isinstance(message.id, (tuple, list)):
        sources = [brace_fields(part) for part in message.id]
        translations = list(message.string) if isinstance(message.string, tuple) else []
        required_missing_ok = {"count"}
    else:
        sources = [brace_fields(message.id)]
        translations = [message.string] if isinstance(message.string, str) else []
        required_missing_ok = set()
    if any(fields is None for fields in sources):
        return []  # a source that str.format cannot parse is not a brace-format message
    allowed = set().union(*(fields for fields in sources if fields is not None))
    problems: list[str] = []
    for form in translations:
        if not form:
            continue
        fields = brace_fields(form)
        if fields is None:
            problems.append(f"unbalanced braces in {form!r}")
            continue
        if unknown := fields - allowed:
            problems.append(f"unknown placeholder(s) {sorted(unknown)} in {form!r}")
        if missing := allowed - required_missing_ok - fields:
            problems.append(f"missing placeholder(s) {sorted(missing)} in {form!r}")
    return problems


def _label(message: Message) -> str:
    msgid = message.id[0] if isinstance(message.id, (tuple, list)) else message.id
    return repr(msgid)


def compile_problems(catalog: Catalog, lang: str) -> list[str]:
    """Everything that would make a catalog compile wrong: Babel's checks and ours."""
    problems: list[str] = []
    for message, errors in catalog.check():
        problems.extend(f"{lang}: {_label(message)}: {error}" for error in errors)
    for message in catalog:
        problems.extend(
            f"{lang}: {_label(message)}: {problem}" for problem in placeholder_problems(message)
        )
    try:
        write_mo(BytesIO(), catalog, use_fuzzy=False)
    except Exception as error:  # any compile failure is a problem to report, not a crash
        problems.append(f"{lang}: does not compile: {error}")
    return problems


def compile_check(root: Path, languages: Iterable[str] = LANGUAGES) -> list[str]:
    """Compile every catalog in memory and list the errors."""
    problems: list[str] = []
    for lang in languages:
        path = po_path(_locales_dir(root), lang)
        if not path.is_file():
            problems.append(f"{lang}: missing catalog {path.relative_to(root)}")
            continue
        problems.extend(compile_problems(read_catalog(path, lang), lang))
    return problems


PLURAL_CHECK_RANGE = range(0, 1_000_001)


def plural_rule_difference(
    num_plurals: int, plural_expr: str, lang: str, counts: Iterable[int] = PLURAL_CHECK_RANGE
) -> int | None:
    """The first count that a catalog's plural rule puts in another form than CLDR's, or None.

    Rules are compared by meaning, not by the text of the header: Babel releases rewrite the
    same CLDR rule in other words (Russian, Arabic), which must not fail CI, while a real
    change of categories (French "many", Turkish one/other) must.
    """
    expected = get_plural(lang)
    if num_plurals != expected.num_plurals:
        return -1
    if plural_expr.strip("() ;") == expected.plural_expr.strip("() ;"):
        return None
    ours = gettext.c2py(plural_expr)
    theirs = gettext.c2py(expected.plural_expr)
    return next((n for n in counts if ours(n) != theirs(n)), None)


def _plural_header_problems(catalog: Catalog, lang: str) -> list[str]:
    difference = plural_rule_difference(catalog.num_plurals, catalog.plural_expr, lang)
    if difference is None:
        return []
    expected = get_plural(lang).plural_forms
    where = "a different number of forms" if difference < 0 else f"another form for n={difference}"
    return [
        f"{lang}: Plural-Forms {catalog.plural_forms!r} disagrees with the CLDR rule of the "
        f"installed Babel ({where}); expected the meaning of {expected!r}"
    ]


def check(
    root: Path,
    languages: Iterable[str] = LANGUAGES,
    require_complete: Iterable[str] = (),
) -> list[str]:
    """The CI gate: fresh template and catalogs, no fuzzy, right placeholders and plurals."""
    languages = list(languages)
    required = set(require_complete)
    problems: list[str] = []
    path = pot_path(root)
    if not path.is_file():
        return [f"missing template {path.relative_to(root)}; run `extract`"]
    template = _read_pot(path)
    if _signature(template, False) != _signature(extract_catalog(root), False):
        problems.append(f"{path.relative_to(root)} is out of date with the source; run `extract`")
    wanted = _ids(template)
    for lang in languages:
        catalog_path = po_path(_locales_dir(root), lang)
        if not catalog_path.is_file():
            problems.append(f"{lang}: missing catalog; run `update`")
            continue
        catalog = read_catalog(catalog_path, lang)
        if _ids(catalog) != wanted:
            problems.append(f"{lang}: out of date with {path.name}; run `update`")
        if catalog.fuzzy:
            problems.append(f"{lang}: the catalog header is marked fuzzy")
        problems.extend(
            f"{lang}: fuzzy entry {_label(message)}"
            for message in catalog
            if message.id and message.fuzzy
        )
        problems.extend(_plural_header_problems(catalog, lang))
        problems.extend(compile_problems(catalog, lang))
        if lang in required:
            problems.extend(
                f"{lang}: untranslated {_label(message)}"
                for message in catalog
                if message.id and not is_translated(message)
            )
    return problems


def _language_list(value: str) -> list[str]:
    languages = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [lang for lang in languages if lang not in LANGUAGES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown language(s): {', '.join(unknown)}")
    return languages


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intake-bot i18n", description=__doc__)
    parser.add_argument(
        "--root", type=Path, default=PROJECT_ROOT, help="project root (holds babel.cfg)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("extract", help="extract marked strings into locales/messages.pot")
    updating = commands.add_parser("update", help="merge messages.pot into every catalog")
    updating.add_argument("--fuzzy-matching", action="store_true")
    updating.add_argument("--ignore-obsolete", action="store_true")
    commands.add_parser("compile-check", help="compile every catalog in memory")
    checking = commands.add_parser("check", help="fail unless catalogs are fresh and correct")
    checking.add_argument(
        "--require-complete",
        type=_language_list,
        default=[],
        metavar="LANGS",
        help="comma-separated languages that must have every entry translated",
    )
    return parser


def _report(problems: Sequence[str], ok_message: str) -> int:
    for problem in problems:
        sys.stderr.write(f"{problem}\n")
    if problems:
        sys.stderr.write(f"{len(problems)} problem(s)\n")
        return 1
    sys.stdout.write(f"{ok_message}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one workflow command; the exit status is what CI looks at."""
    args = _parser().parse_args(argv)
    root: Path = args.root.resolve()
    if args.command == "extract":
        changed = extract(root)
        state = "written" if changed else "unchanged"
        sys.stdout.write(f"{pot_path(root).relative_to(root)} {state}\n")
        return 0
    if args.command == "update":
        changed_languages = update(
            root, fuzzy_matching=args.fuzzy_matching, ignore_obsolete=args.ignore_obsolete
        )
        sys.stdout.write(f"updated: {', '.join(changed_languages) or 'nothing'}\n")
        return 0
    if args.command == "compile-check":
        return _report(compile_check(root), "all catalogs compile")
    return _report(check(root, require_complete=args.require_complete), "catalogs are up to date")


if __name__ == "__main__":
    sys.exit(main())
