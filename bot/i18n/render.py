"""Render the domain's language-neutral `Text` and `Prompt` in a family's language."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.lists import format_list
from babel.numbers import format_currency, format_decimal, get_currency_symbol

from bot.i18n.catalog import Catalogs
from bot.i18n.negotiate import text_direction
from intake.prompts import LanguageName, Lines, Prompt, Running, Territory, Text

logger = logging.getLogger(__name__)

DEFAULT_TIMEZONE: tzinfo = ZoneInfo("Europe/Brussels")

FIRST_STRONG_ISOLATE = "\u2068"
POP_DIRECTIONAL_ISOLATE = "\u2069"
RANGE_DASH = "\u2013"
NO_BREAK_SPACE = "\u00a0"
WORD_JOINER = "\u2060"

# Where a comma or a full stop groups thousands for some readers and marks decimals for others
# (Maghreb readers of Arabic read "1,200" as 1.2), thousands are grouped with a narrow no-break
# space, which no reader takes for a decimal mark.
_AMBIGUOUS_GROUPING = frozenset({"ar"})
_NARROW_NO_BREAK_SPACE = "\u202f"
# Languages whose running text writes common nouns in lower case: a label joined into a
# sentence ("still missing: referral letter and laboratory results") loses its capital.
_LOWER_CASE_RUNNING_TEXT = frozenset({"en", "fr", "nl", "ru", "tr"})


@dataclass(frozen=True)
class RenderedOption:
    """One choice, ready for a channel: the stable key and the label in the family's language."""

    key: str
    label: str


@dataclass(frozen=True)
class RenderedPrompt:
    """One message in the family's language, with the choices a channel may show as buttons."""

    text: str
    options: tuple[RenderedOption, ...] = ()
    multiple: bool = False


def isolate(token: str, lang: str) -> str:
    """Wrap a left-to-right token (case reference, URL, phone) in FSI…PDI inside RTL text."""
    if text_direction(lang) == "rtl":
        return f"{FIRST_STRONG_ISOLATE}{token}{POP_DIRECTIONAL_ISOLATE}"
    return token


def running_case(label: str, lang: str) -> str:
    """A label as it reads inside a sentence: "Referral letter" becomes "referral letter" where
    the language writes common nouns in lower case; acronyms ("MRI", "DICOM") keep theirs."""
    if lang not in _LOWER_CASE_RUNNING_TEXT or len(label) < 2:
        return label
    first, second = label[0], label[1]
    if not first.isupper() or not (second.islower() or second.isspace()):
        return label
    if lang == "en" and label.startswith("I "):
        return label  # the pronoun
    # Turkish lowers the dotless I to ı and the dotted İ to i.
    turkish = {"I": "\u0131", "\u0130": "i"} if lang == "tr" else {}
    return turkish.get(first, first.lower()) + label[1:]


def unbreakable(text: str) -> str:
    """Keep a short token (a price, a range) on one line: no-break spaces, and a word joiner
    after a dash, where phones would otherwise wrap."""
    return text.replace(" ", NO_BREAK_SPACE).replace(RANGE_DASH, RANGE_DASH + WORD_JOINER)


def numbered_text(rendered: RenderedPrompt) -> str:
    """Degrade a prompt to plain text for channels that cannot show buttons: numbered options."""
    if not rendered.options:
        return rendered.text
    lines = [f"{number}. {option.label}" for number, option in enumerate(rendered.options, 1)]
    return rendered.text + "\n\n" + "\n".join(lines)


class Renderer:
    """Translates and formats domain messages; never raises on a broken translation."""

    def __init__(self, catalogs: Catalogs, tz: tzinfo = DEFAULT_TIMEZONE) -> None:
        self.catalogs = catalogs
        self.tz = tz

    def text(self, t: Text, lang: str, tz: tzinfo | None = None) -> str:
        """Translate `t` into `lang` and fill in its parameters, formatted for that locale."""
        lang = self.catalogs.resolve(lang)
        values = self._values(t.params, lang, tz or self.tz)
        if t.plural is not None and t.count is not None:
            translated = self.catalogs.ngettext(lang, t.msgid, t.plural, t.count)
            source = t.msgid if t.count == 1 else t.plural
        else:
            translated = self.catalogs.gettext(lang, t.msgid)
            source = t.msgid
        try:
            return translated.format(**values)
        except (KeyError, IndexError, ValueError, AttributeError):
            # Only the msgid: parameters may be health data.
            logger.warning("i18n.bad_translation lang=%s msgid=%r", lang, t.msgid)
        return source.format(**values)

    def prompt(self, p: Prompt, lang: str, tz: tzinfo | None = None) -> RenderedPrompt:
        """Render a prompt's text and option labels in `lang`."""
        return RenderedPrompt(
            text=self.text(p.text, lang, tz),
            options=tuple(
                RenderedOption(option.key, self.text(option.label, lang, tz))
                for option in p.options
            ),
            multiple=p.multiple,
        )

    def price_range(self, low: Decimal, high: Decimal, currency: str, lang: str) -> str:
        """Format a published price range the way the language writes one ("€350–650",
        "de 350 à 650 €", "от 350 до 650 €"), kept on one line."""
        lang = self.catalogs.resolve(lang)
        pattern = Text.of(
            # TRANSLATORS: a price range; {currency} is the currency symbol (€). Write it the
            # way prices are written in your language, e.g. "de {low} à {high} {currency}".
            "{currency}{low}\u2013{high}",
            currency=get_currency_symbol(currency, locale=lang),
            low=self.amount(low, lang),
            high=self.amount(high, lang),
        )
        return unbreakable(self.text(pattern, lang))

    def amount(self, value: Decimal, lang: str) -> str:
        """A number of a price, grouped so that no reader can take the grouping for decimals."""
        lang = self.catalogs.resolve(lang)
        digits = (0, 0) if value == value.to_integral_value() else (2, 2)
        pattern = copy.copy(Locale.parse(lang).decimal_formats[None])
        pattern.frac_prec = digits
        text = format_decimal(value, format=pattern, locale=lang, decimal_quantization=False)
        if lang in _AMBIGUOUS_GROUPING:
            group = Locale.parse(lang).number_symbols["latn"]["group"]
            text = text.replace(group, _NARROW_NO_BREAK_SPACE) if value >= 1000 else text
        return text

    def money(self, amount: Decimal, currency: str, lang: str) -> str:
        """Format an amount in the locale's currency style, without cents when it is whole."""
        lang = self.catalogs.resolve(lang)
        if amount != amount.to_integral_value():
            return format_currency(amount, currency, locale=lang)
        pattern = copy.copy(Locale.parse(lang).currency_formats["standard"])
        pattern.frac_prec = (0, 0)
        return format_currency(
            amount, currency, format=pattern, locale=lang, currency_digits=False
        )

    def _values(self, params: Mapping[str, Any], lang: str, tz: tzinfo) -> dict[str, Any]:
        return {name: self._value(value, lang, tz) for name, value in params.items()}

    def _value(self, value: Any, lang: str, tz: tzinfo) -> Any:
        if isinstance(value, Text):
            return self.text(value, lang, tz)
        if isinstance(value, Lines):
            return "\n".join(str(self._value(item, lang, tz)) for item in value.items)
        if isinstance(value, Territory):
            return Locale.parse(lang).territories.get(value.code, value.code)
        if isinstance(value, LanguageName):
            return language_name(value, lang)
        if isinstance(value, Running):
            return running_case(self.text(value.label, lang, tz), lang)
        if isinstance(value, (list, tuple)):
            return format_list(
                [running_case(str(self._value(item, lang, tz)), lang) for item in value],
                locale=lang,
            )
        if isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError("naive datetime passed to a message; the domain must use aware")
            return format_datetime(value, format="medium", tzinfo=tz, locale=lang)
        if isinstance(value, date):
            # "14 мая 2015 г.", "14 mai 2015": a date never breaks across lines.
            return format_date(value, format="long", locale=lang).replace(" ", NO_BREAK_SPACE)
        if isinstance(value, bool):
            return value
        if isinstance(value, (Decimal, int, float)):
            return format_decimal(value, locale=lang)
        return value


def language_name(name: LanguageName, lang: str) -> str:
    """A language named for the reader, with the language's own name in brackets (isolated in
    right-to-left text) when the two differ."""
    native = _capitalised(Locale.parse(name.code).languages.get(name.code, name.code))
    if name.code == lang:
        return native
    shown = Locale.parse(lang).languages.get(name.code, name.code)
    if name.capitalised:
        shown = _capitalised(shown)
    return f"{shown} ({isolate(native, lang) if text_direction(name.code) != 'rtl' else native})"


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
