"""Whose a DICOM file seems to be: the patient in its header against the case's patient,
tolerant of spelling, word order, titles and scripts; a mismatch is flagged, never refused."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import date
from difflib import SequenceMatcher
from enum import StrEnum
from typing import NamedTuple

from bot.imaging.reading import DicomReport
from intake.normalize import fold_words


class Match(StrEnum):
    """Whether a DICOM file's patient looks like the case's patient."""

    MATCH = "match"
    MISMATCH = "mismatch"
    UNKNOWN = "unknown"


_PLACEHOLDER_NAMES = frozenset(
    {
        "anonymous",
        "anonymized",
        "anonymised",
        "anon",
        "unknown",
        "patient",
        "noname",
        "test",
        "xxx",
        "na",
        "none",
    }
)
_TITLES = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "miss",
        "dr",
        "prof",
        "mme",
        "mlle",
        "dhr",
        "mevr",
        "bay",
        "bayan",
        "sayin",
        "г-н",
        "г-жа",
    }
)
_VOWELS = str.maketrans("", "", "aeiouy")


class _Cover(NamedTuple):
    strong: int
    weak: int
    unmatched: int


def _words(text: str) -> list[str]:
    return [w for w in fold_words(text).split() if w not in _TITLES]


def _pn_components(name: str) -> list[list[str]]:
    """Family, given and middle names of each PN group ("Yamada^Tarou=山田^太郎")."""
    out = []
    for group in name.split("="):
        for component in group.split("^")[:3]:
            words = _words(component)
            if words:
                out.append(words)
    return out


def _with_joined(components: list[list[str]]) -> set[str]:
    """Tokens plus adjacent pairs joined, so "Al-Hassan" meets "Alhassan"."""
    tokens = {w for words in components for w in words}
    for words in components:
        tokens.update(a + b for a, b in zip(words, words[1:], strict=False))
    return tokens


def _skeleton(word: str) -> str:
    out: list[str] = []
    for char in word.translate(_VOWELS):
        if not out or out[-1] != char:
            out.append(char)
    return "".join(out)


def _near(a: str, b: str) -> bool:
    """Spelling variants (Mohammed/Muhammad, Yusuf/Youssef) or an initial."""
    if len(a) == 1 or len(b) == 1:
        return a[0] == b[0]
    if len(a) < 3 or len(b) < 3:
        return False
    skeleton = _skeleton(a)
    if len(skeleton) >= 2 and skeleton == _skeleton(b) and a[0] == b[0]:
        return True
    return SequenceMatcher(None, a, b).ratio() >= 0.75


def _cover(tokens: Iterable[str], other: set[str]) -> _Cover:
    strong = weak = unmatched = 0
    for token in tokens:
        if token in other and len(token) > 1:
            strong += 1
        elif any(_near(token, o) for o in other):
            weak += 1
        else:
            unmatched += 1
    return _Cover(strong, weak, unmatched)


def _scripts(tokens: Iterable[str]) -> set[str]:
    found = set()
    for token in tokens:
        for char in token:
            if char.isalpha():
                found.add(unicodedata.name(char, "?").split()[0])
    return found


def _name_match(dicom_name: str, case_name: str) -> Match:
    components = _pn_components(dicom_name)
    dicom = [w for words in components for w in words]
    case = _words(case_name)
    if not dicom or not case or set(dicom) <= _PLACEHOLDER_NAMES:
        return Match.UNKNOWN
    if not _scripts(dicom) & _scripts(case):
        return Match.UNKNOWN  # "PETROV^IVAN" against "Иван Петров": no transliteration here
    case_cover = _cover(case, _with_joined(components))
    dicom_cover = _cover(dicom, _with_joined([case]))
    covered = [c for c in (case_cover, dicom_cover) if c.unmatched == 0]
    if not covered:
        return Match.MISMATCH
    single = len(case) == 1 and len(dicom) == 1
    if any(c.weak == 0 and (c.strong >= 2 or single) for c in covered):
        return Match.MATCH
    return Match.UNKNOWN


def identity_matches(report: DicomReport, patient_name: str, birth_date: date | None) -> Match:
    """Compare a file's patient with the case's, to flag (never reject) someone else's scan.

    Names are compared loosely: case, accents and word order are ignored and hyphenated names
    meet their joined spelling; spelling variants and initials give UNKNOWN, not MATCH.
    Different birth dates are a MISMATCH whatever the names say.
    """
    dicom_birth = report.patient_birth_date
    if birth_date is not None and dicom_birth is not None and birth_date != dicom_birth:
        return Match.MISMATCH
    return _name_match(report.patient_name or "", patient_name or "")
