"""The inbox's own language (English unless the coordinator picks another), and formatting.

The coordinator's language is independent of the families': `?lang=fr` on any inbox page
switches it and a cookie remembers it. Dates are shown in the team's time zone.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo

from aiohttp import web
from babel import Locale
from babel.dates import format_date, format_skeleton, format_timedelta, get_datetime_format
from babel.numbers import format_decimal

from bot.keys import CATALOGS, SETTINGS
from intake.vocabulary import DEFAULT_LANGUAGE

LANG_COOKIE = "inbox_lang"
# Babel's plain "en" is American English; the team works in Brussels.
FORMAT_LOCALES = {"en": "en_GB"}


def requested_language(request: web.Request) -> str | None:
    """The language asked for in the query string, if it is one we have."""
    lang = request.query.get("lang")
    return lang if lang in request.app[CATALOGS].languages else None


def ui_language(request: web.Request) -> str:
    """The coordinator's language: the query string, then the cookie, then English."""
    lang = requested_language(request) or request.cookies.get(LANG_COOKIE)
    return lang if lang in request.app[CATALOGS].languages else DEFAULT_LANGUAGE


def ui_text(request: web.Request, msgid: str) -> str:
    """One interface message in the coordinator's language (mark msgids with `N_`)."""
    return request.app[CATALOGS].gettext(ui_language(request), msgid)


def remember_language(request: web.Request, response: web.StreamResponse) -> None:
    """Keep the language picked with `?lang=` for the next pages."""
    lang = requested_language(request)
    if lang is not None and request.cookies.get(LANG_COOKIE) != lang:
        response.set_cookie(LANG_COOKIE, lang, max_age=60 * 60 * 24 * 365, path="/inbox",
                            httponly=True, samesite="Strict",
                            secure=request.app[SETTINGS].base_url.startswith("https://"))


class Formats:
    """Dates, durations and sizes in the coordinator's locale and the team's time zone."""

    def __init__(self, lang: str, timezone: str, now: datetime) -> None:
        # Parsed once: the list formats several dates on each of its 200 rows.
        self.locale = Locale.parse(FORMAT_LOCALES.get(lang, lang))
        self.tz: tzinfo = ZoneInfo(timezone)
        self.now = now

    def when(self, moment: datetime | None) -> str:
        """Date and time, to the minute: "23 Nov 2026, 10:05"."""
        if moment is None:
            return ""
        day = format_skeleton("yMMMd", moment, tzinfo=self.tz, locale=self.locale)
        hour = format_skeleton("Hm", moment, tzinfo=self.tz, locale=self.locale)
        return str(get_datetime_format("medium", locale=self.locale)).format(hour, day)

    def day(self, value: date | datetime | None) -> str:
        """A date alone, long form."""
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.astimezone(self.tz).date()
        return format_date(value, format="long", locale=self.locale)

    def ago(self, moment: datetime | None) -> str:
        """Relative to now: "3 hours ago", "in 2 days"."""
        if moment is None:
            return ""
        return format_timedelta(moment - self.now, add_direction=True, locale=self.locale,
                                threshold=1.0)

    def iso(self, moment: datetime | None) -> str:
        """Machine-readable time for `<time datetime>`."""
        return moment.isoformat(timespec="seconds") if moment is not None else ""

    def size(self, count: int) -> str:
        """A file size: "820 kB", "3.4 MB"."""
        value = float(count)
        for unit in ("B", "kB", "MB", "GB"):
            if value < 1000 or unit == "GB":
                pattern = "#,##0" if unit == "B" else "#,##0.#"
                return f"{format_decimal(value, format=pattern, locale=self.locale)} {unit}"
            value /= 1000
        return str(count)  # pragma: no cover - the loop always returns

    def number(self, value: int) -> str:
        """A count in the locale's digits and grouping."""
        return format_decimal(value, locale=self.locale)
