"""What the family is told about imaging that cannot be read, in each of the six languages."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bot.documents.messages import studies
from bot.i18n.catalog import Catalogs
from bot.i18n.render import Renderer
from bot.imaging.messages import ask_hospital_text, imaging_lines
from intake.imaging import Category, Finding, Note, SeriesVerdict

RENDERER = Renderer(Catalogs())

# (screenshots advice, missing slices, sentence for the hospital, the study's date)
EXPECTED = {
    "ar": ("يبدو أن هذه لقطات شاشة", "هناك صورتان ناقصتان", "يمكنكم إرسال هذا الطلب إلى المستشفى",
           "2 أكتوبر 2026"),
    "fr": ("ressemblent à des captures d'écran", "il manque 2 images",
           "Vous pouvez transmettre cette demande à l'hôpital\u00a0:", "2 octobre 2026"),
    "en": ("these look like screenshots, not the scan itself", "2 images are missing",
           "You may forward this request to the hospital:", "October 2, 2026"),
    "nl": ("dit lijken schermafbeeldingen", "er ontbreken 2 beelden",
           "U kunt dit verzoek doorsturen naar het ziekenhuis:", "2 oktober 2026"),
    "ru": ("похоже, это снимки экрана", "отсутствуют 2 снимка",
           "Вы можете переслать эту просьбу в больницу:", "2 октября 2026"),
    "tr": ("ekran görüntüleri gibi görünüyor", "2 görüntü eksik",
           "Bu talebi hastaneye iletebilirsiniz:", "2 Ekim 2026"),
}


def plain(text: str) -> str:
    """Dates and numbers are held together by no-break spaces; compare the words."""
    return text.replace("\xa0", " ").replace("\u202f", " ").replace("\u2060", "")


def document(series: str, study: str, modality: str, when: str) -> Any:
    """A stored DICOM document, as far as the summary reads it."""
    return SimpleNamespace(is_dicom=True, valid=True, kind="imaging_dicom", filename="IM",
                           inspection={"study_uid": study, "series_uid": series,
                                       "modality": modality, "study_date": when})


SCREENSHOTS = [document("sc", "s1", "OT", "2026-10-02") for _ in range(3)]
GAPPED = [document("ct", "s2", "CT", "2026-10-02") for _ in range(38)]
VERDICTS = {
    "sc": SeriesVerdict("sc", "s1", "OT", Category.SCREEN_CAPTURE,
                        (Note(Finding.SECONDARY_CAPTURE),), 3),
    "ct": SeriesVerdict("ct", "s2", "CT", Category.INCOMPLETE,
                        (Note(Finding.SLICE_GAPS, count=2),), 38),
}


@pytest.mark.parametrize("lang", sorted(EXPECTED))
def test_the_family_is_told_at_once_what_to_ask_the_hospital_for(lang: str) -> None:
    lines = [RENDERER.text(t, lang) for t in imaging_lines(SCREENSHOTS + GAPPED, VERDICTS)]
    advice, missing, forward, day = (plain(part) for part in EXPECTED[lang])
    text = plain("\n".join(lines))
    assert advice in text and missing in text and forward in text and day in text
    assert "\u2713" not in text  # nothing here is readable: no tick
    assert "DICOM" in lines[-1] and "cd/dvd" in lines[-1].casefold()  # the hospital's sentence
    if lang != "en":
        assert "screenshots" not in text and "missing" not in text


def test_a_readable_study_is_ticked_and_needs_no_advice() -> None:
    ct = [document("ok", "s3", "CT", "2026-10-02") for _ in range(40)]
    readable = {"ok": SeriesVerdict("ok", "s3", "CT", Category.DIAGNOSTIC, (), 40)}
    lines = [RENDERER.text(t, "en") for t in imaging_lines(ct, readable)]
    expected = "CT scan of October 2, 2026: 1 series, 40 images \u2713"
    assert [plain(line) for line in lines] == [expected]


def test_screenshots_next_to_a_readable_series_of_the_same_study_need_no_advice() -> None:
    same_study = [document("sc", "s1", "OT", "2026-10-02"),
                  document("ok", "s1", "CT", "2026-10-02")]
    verdicts = {"sc": VERDICTS["sc"],
                "ok": SeriesVerdict("ok", "s1", "CT", Category.DIAGNOSTIC, (), 200)}
    lines = [RENDERER.text(t, "en") for t in imaging_lines(same_study, verdicts)]
    assert len(lines) == 1 and lines[0].endswith("\u2713")


def test_a_report_sent_as_dicom_is_listed_as_a_report() -> None:
    report = SimpleNamespace(is_dicom=True, valid=True, kind="imaging_report",
                             filename="report.dcm", inspection={"study_uid": "s9"})
    lines = [RENDERER.text(t, "fr") for t in imaging_lines([report], {})]
    assert lines == ["report.dcm\u00a0: compte rendu au format DICOM, classé dans les comptes "
                     "rendus d'imagerie \u2713"]


def test_the_sentence_for_the_hospital_names_the_study_and_its_date() -> None:
    text = RENDERER.text(ask_hospital_text(studies(GAPPED)[0]), "en")
    assert "the complete examination (CT scan of October 2, 2026) on CD/DVD" in plain(text)
