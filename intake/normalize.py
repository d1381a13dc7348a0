"""Folding typed text so answers in six languages and many keyboards compare equal.

The folded form is for *matching only*: it drops accents, Arabic diacritics and letter
variants that families type interchangeably. Never store or show it.
"""

from __future__ import annotations

import unicodedata

# Tashkeel, Quranic annotation marks, superscript alef and tatweel: optional in typed Arabic.
_ARABIC_OPTIONAL = frozenset(
    [chr(c) for c in range(0x0610, 0x061B)]
    + [chr(c) for c in range(0x064B, 0x0660)]
    + ["\u0670", "\u0640"]
    + [chr(c) for c in range(0x06D6, 0x06DD)]
    + [chr(c) for c in range(0x06DF, 0x06E9)]
    + [chr(c) for c in range(0x06EA, 0x06EE)]
)

# Letters written interchangeably; Persian keyboards give kaf/yeh variants.
_LETTER_VARIANTS = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ة": "ه",
        "ى": "ي",
        "ی": "ي",
        "ک": "ك",
        "ھ": "ه",
        "ё": "е",
        "ı": "i",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ħ": "h",
        "æ": "ae",
        "œ": "oe",
        "‘": "'",
        "’": "'",
        "ʼ": "'",
        "`": "'",
        "´": "'",
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "–": "-",
        "—": "-",
        "―": "-",
        "−": "-",
    }
)

# Emoji presentation selectors, skin tones and the keycap mark ("1️⃣" is typed as "1").
_EMOJI_MODIFIERS = frozenset(
    [chr(c) for c in range(0xFE00, 0xFE10)]
    + [chr(c) for c in range(0x1F3FB, 0x1F400)]
    + ["\u20e3"]
)


def _is_latin(char: str) -> bool:
    code = ord(char)
    return code < 0x0250 or 0x1E00 <= code <= 0x1EFF


def to_ascii_digits(text: str) -> str:
    """Turn Arabic-Indic, Persian and other decimal digits into 0-9 so numbers parse alike."""
    if text.isascii():
        return text
    return "".join(
        str(unicodedata.decimal(char)) if not char.isascii() and char.isdecimal() else char
        for char in text
    )


def _strip_latin_accents(text: str) -> str:
    out: list[str] = []
    after_latin = False
    for char in text:
        if unicodedata.combining(char):
            # A stray combining mark after a Latin letter is an accent; elsewhere (й) it is not.
            if not after_latin:
                out.append(char)
            continue
        if _is_latin(char) and not char.isascii():
            base = "".join(
                part
                for part in unicodedata.normalize("NFD", char)
                if not unicodedata.combining(part)
            )
            out.append(base)
        else:
            out.append(char)
        after_latin = _is_latin(char)
    return "".join(out)


def _fold_once(text: str) -> str:
    # Turkish İ/ı must go before casefold, which would turn İ into "i" + combining dot.
    text = unicodedata.normalize("NFKC", text).replace("İ", "i").replace("ı", "i")
    text = unicodedata.normalize("NFKC", text.casefold())
    text = to_ascii_digits(text)
    text = "".join(
        char
        for char in text
        if char not in _ARABIC_OPTIONAL
        and char not in _EMOJI_MODIFIERS
        and unicodedata.category(char) != "Cf"
    )
    text = _strip_latin_accents(text.translate(_LETTER_VARIANTS))
    return " ".join(text.split())


def fold(text: str) -> str:
    """Give the matching form of a typed answer, so case, accents and script variants agree."""
    folded = _fold_once(text)
    # Casefolding and NFKC can expose new foldable characters; settle on a fixed point.
    for _ in range(3):
        again = _fold_once(folded)
        if again == folded:
            break
        folded = again
    return folded


def fold_words(text: str) -> str:
    """Fold and keep only letters, digits and single spaces, so "Oui !" matches "oui"."""
    out: list[str] = []
    for char in fold(text):
        category = unicodedata.category(char)
        if category[0] in "PSZC":
            out.append(" ")
        elif category[0] != "M" or (out and out[-1] != " "):
            # A mark is kept only on the letter it belongs to, not on a dropped symbol.
            out.append(char)
    return " ".join("".join(out).split())


def is_meaningful(text: str) -> bool:
    """Tell words and numbers apart from empty, whitespace, emoji or punctuation-only input."""
    return any(unicodedata.category(char)[0] in "LN" for char in text)
