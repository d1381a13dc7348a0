"""Guess the language of a family's first free text, among the six we speak.

lingua is accurate on sentences and unreliable on one or two words ("ok" reads as Turkish,
"hallo" as English), so only texts of three words or more are judged, with a minimum relative
distance that makes it abstain when unsure. Arabic and Russian are recognised by their script
without the model. The guess is only a hint: the bot always asks the family to confirm.
"""

from __future__ import annotations

import asyncio
import re
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lingua import LanguageDetector

MIN_WORDS = 3
ARABIC = re.compile(r"[\u0600-\u06FF]")
CYRILLIC = re.compile(r"[\u0400-\u04FF]")
LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)


@cache
def _detector() -> LanguageDetector:
    from lingua import Language, LanguageDetectorBuilder

    return (
        LanguageDetectorBuilder.from_languages(
            Language.ARABIC, Language.FRENCH, Language.ENGLISH, Language.DUTCH,
            Language.RUSSIAN, Language.TURKISH,
        )
        .with_minimum_relative_distance(0.25)
        .build()
    )


def _by_script(text: str) -> str | None:
    letters = LETTERS.findall(text)
    if not letters:
        return None
    arabic = sum(1 for ch in letters if ARABIC.match(ch))
    cyrillic = sum(1 for ch in letters if CYRILLIC.match(ch))
    if arabic * 2 > len(letters):
        return "ar"
    if cyrillic * 2 > len(letters):
        return "ru"
    return None


def detect_language(text: str) -> str | None:
    """The language of a text when it is clear enough to suggest, else None."""
    script = _by_script(text)
    if script is not None:
        return script
    if len(text.split()) < MIN_WORDS:
        return None
    from lingua import IsoCode639_1

    found = _detector().detect_language_of(text)
    if found is None:
        return None
    code: IsoCode639_1 = found.iso_code_639_1
    return str(code.name).lower()


async def detect_language_async(text: str) -> str | None:
    """`detect_language` off the event loop (the first call loads the models, ~1 s)."""
    return await asyncio.to_thread(detect_language, text)
