"""Gettext catalogs compiled in memory from the `.po` files, so they can never be stale."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from intake.vocabulary import DEFAULT_LANGUAGE, LANGUAGES

logger = logging.getLogger(__name__)

DOMAIN = "messages"
DEFAULT_LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"


def po_path(locales_dir: Path, lang: str) -> Path:
    """Where the catalog of one language lives, in the layout `pybabel` also uses."""
    return locales_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def is_translated(message: Message) -> bool:
    """Say whether an entry is usable: an untranslated plural is `('', '')`, which is truthy."""
    if isinstance(message.string, (tuple, list)):
        return all(message.string)
    return bool(message.string)


def read_catalog(path: Path, lang: str) -> Catalog:
    """Parse one `.po` file for `lang`."""
    with path.open("rb") as fileobj:
        return read_po(fileobj, locale=lang, domain=DOMAIN)


def compile_catalog(catalog: Catalog) -> Translations:
    """Compile a parsed catalog in memory, leaving out fuzzy and incomplete entries.

    Incomplete plurals are dropped too: `write_mo` would keep them and `ngettext` would then
    return an empty string instead of falling back to the English source.
    """
    for message in list(catalog):
        if message.id and not is_translated(message):
            catalog.delete(message.id, context=message.context)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


class Catalogs:
    """The translations of every supported language, loaded once at start-up."""

    def __init__(
        self,
        locales_dir: Path | str | None = None,
        languages: Iterable[str] = LANGUAGES,
    ) -> None:
        self.locales_dir = Path(locales_dir) if locales_dir is not None else DEFAULT_LOCALES_DIR
        self._translations: dict[str, NullTranslations] = {}
        for lang in languages:
            self._translations[lang] = self._load(lang)

    def _load(self, lang: str) -> NullTranslations:
        path = po_path(self.locales_dir, lang)
        if not path.is_file():
            # The catalog check in CI makes this a deployment slip, not a reason to refuse to
            # start: the family still gets the English source text.
            logger.warning("i18n.catalog_missing lang=%s path=%s", lang, path)
            return NullTranslations()
        return compile_catalog(read_catalog(path, lang))

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages these catalogs were loaded for."""
        return tuple(self._translations)

    def resolve(self, lang: str | None) -> str:
        """Map a language code to one we have, falling back to the default language."""
        if lang is not None and lang in self._translations:
            return lang
        return DEFAULT_LANGUAGE

    def translations(self, lang: str | None) -> NullTranslations:
        """The gettext object for `lang` (English source strings when unknown)."""
        found = self._translations.get(self.resolve(lang))
        return found if found is not None else NullTranslations()

    def gettext(self, lang: str | None, msgid: str) -> str:
        """Translate `msgid`; a missing translation gives back the English msgid."""
        if not msgid:
            return msgid  # gettext("") would return the catalog header
        return self.translations(lang).gettext(msgid)

    def ngettext(self, lang: str | None, singular: str, plural: str, n: int) -> str:
        """Translate a plural message with the language's own plural rule."""
        return self.translations(lang).ngettext(singular, plural, n)
