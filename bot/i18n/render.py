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
from intake.prompts import Lines, Prompt, Territory, Text

logger = logging.getLogger(__name__)

DEFAULT_TIMEZONE: tzinfo = ZoneInfo("Europe/Brussels")

FIRST_STRONG_ISOLATE = "\u2068"
POP_DIRECTIONAL_ISOLATE = "\u2069"
RANGE_DASH = "\u2013"


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
        """Format a published price range with the currency once: "350–650 €", "€ 350–650"."""
        lang = self.catalogs.resolve(lang)
        low_text = self.money(low, currency, lang)
        high_text = self.money(high, currency, lang)
        symbol = get_currency_symbol(currency, locale=lang)
        if low_text.endswith(symbol) and high_text.endswith(symbol):
            return low_text[: -len(symbol)].rstrip() + RANGE_DASH + high_text
        if low_text.lstrip("\u200f\u200e").startswith(symbol) and high_text.lstrip(
            "\u200f\u200e"
        ).startswith(symbol):
            start = high_text.index(symbol) + len(symbol)
            return low_text + RANGE_DASH + high_text[start:].lstrip()
        return f"{low_text} {RANGE_DASH} {high_text}"

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
        if isinstance(value, (list, tuple)):
            return format_list([str(self._value(item, lang, tz)) for item in value], locale=lang)
        if isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError("naive datetime passed to a message; the domain must use aware")
            return format_datetime(value, format="medium", tzinfo=tz, locale=lang)
        if isinstance(value, date):
            return format_date(value, format="long", locale=lang)
        if isinstance(value, bool):
            return value
        if isinstance(value, (Decimal, int, float)):
            return format_decimal(value, locale=lang)
        return value
