"""Which of our six languages to speak first, from the hints each channel gives us.

Every hint here is a prior, never the answer: the bot always offers its language menu and
persists the family's explicit choice, which then wins over everything else.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from babel import Locale

from intake.vocabulary import DEFAULT_LANGUAGE, LANGUAGES

Direction = Literal["rtl", "ltr"]

# Country calling code -> language, as a weak prior for WhatsApp (Twilio sends no language).
# Codes shared by countries whose families are likely to prefer different languages among our
# six are left out on purpose, so the caller falls back to the next hint or the menu:
# Belgium (+32: Dutch or French), Switzerland (+41), Luxembourg (+352), Cyprus (+357),
# Ukraine (+380).
# The Maghreb (+212 Morocco, +213 Algeria, +216 Tunisia) maps to French: it is the working
# language of medicine and of the records families there will upload, and Arabic is one tap
# away in the language menu of the first message.
CALLING_CODE_LANGUAGES: dict[str, str] = {
    # English
    "1": "en",  # NANP: United States, Canada, Caribbean
    "44": "en",  # United Kingdom
    "353": "en",  # Ireland
    "61": "en",  # Australia
    "64": "en",  # New Zealand
    # French
    "33": "fr",  # France
    "377": "fr",  # Monaco
    "212": "fr",  # Morocco
    "213": "fr",  # Algeria
    "216": "fr",  # Tunisia
    # Dutch
    "31": "nl",  # Netherlands
    "597": "nl",  # Suriname
    # Russian
    "7": "ru",  # Russia, Kazakhstan
    "375": "ru",  # Belarus
    "996": "ru",  # Kyrgyzstan
    # Turkish
    "90": "tr",  # Türkiye (and Northern Cyprus, +90 392)
    # Arabic: members of the Arab League outside the Maghreb
    "20": "ar",  # Egypt
    "218": "ar",  # Libya
    "222": "ar",  # Mauritania
    "249": "ar",  # Sudan
    "252": "ar",  # Somalia
    "253": "ar",  # Djibouti
    "269": "ar",  # Comoros
    "961": "ar",  # Lebanon
    "962": "ar",  # Jordan
    "963": "ar",  # Syria
    "964": "ar",  # Iraq
    "965": "ar",  # Kuwait
    "966": "ar",  # Saudi Arabia
    "967": "ar",  # Yemen
    "968": "ar",  # Oman
    "970": "ar",  # Palestine
    "971": "ar",  # United Arab Emirates
    "973": "ar",  # Bahrain
    "974": "ar",  # Qatar
}

_PHONE = re.compile(r"\+?(\d{7,15})")
_SEPARATORS = re.compile(r"[\s\-()]")


def _known(tag: str | None) -> str | None:
    """Reduce a language tag ("ru-RU", "fr_BE", "AR") to one of ours, if it is one."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else None


@lru_cache(maxsize=32)
def text_direction(lang: str) -> Direction:
    """Say whether a language is written right-to-left, for `dir=` and bidi isolation."""
    return "rtl" if Locale.parse(lang).text_direction == "rtl" else "ltr"


def from_accept_language(header: str | None) -> str | None:
    """Pick the browser's most preferred language among ours from `Accept-Language`."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        lang = _known(tag)
        if lang is not None and quality > 0:
            ranked.append((-quality, position, lang))
    return min(ranked)[2] if ranked else None


def from_telegram_code(code: str | None) -> str | None:
    """Map Telegram's `User.language_code` (an IETF tag, often absent) to one of ours."""
    return _known(code)


def from_phone_number(number: str | None) -> str | None:
    """Guess a language from the country calling code of an E.164 number or WhatsApp `From`.

    Accepts "+32470123456", "whatsapp:+905321234567" and Twilio's `WaId` (digits without
    "+"). A WhatsApp id that is not a phone number ("whatsapp:US.ABC123") gives None.
    """
    if not number:
        return None
    value = number.strip()
    if value.lower().startswith("whatsapp:"):
        value = value[len("whatsapp:") :]
    match = _PHONE.fullmatch(_SEPARATORS.sub("", value))
    if match is None:
        return None
    digits = match.group(1)
    for length in (3, 2, 1):
        lang = CALLING_CODE_LANGUAGES.get(digits[:length])
        if lang is not None:
            return lang
    return None


def choose_language(
    explicit: str | None = None,
    telegram_code: str | None = None,
    phone: str | None = None,
    accept_language: str | None = None,
) -> str:
    """Pick the language to speak: explicit choice, Telegram, phone prefix, browser, else en."""
    for guess in (
        _known(explicit),
        from_telegram_code(telegram_code),
        from_phone_number(phone),
        from_accept_language(accept_language),
    ):
        if guess is not None:
            return guess
    return DEFAULT_LANGUAGE
