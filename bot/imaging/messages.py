"""What the family is told about imaging a radiologist cannot read, and what to ask for.

The verdicts come from `intake.imaging`; this module turns them into language-neutral
`Text` for the family's summary of a batch of files (and the upload page's notes): a study
is ticked only when one of its series is readable, otherwise the family learns at once what
went wrong and gets a sentence to forward to the hospital.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.documents.messages import StudyLine, modality_text, studies, study_text
from intake.checklist import ItemKind
from intake.imaging import Category, Finding, SeriesVerdict
from intake.prompts import N_, Text
from storage.tables import Document

__all__ = [
    "ask_hospital_text",
    "dicom_report_line",
    "imaging_lines",
    "missing_images_text",
    "study_name",
    "unusable_study_text",
]


_ASK_FOR_STUDY = {
    Category.SCREEN_CAPTURE: N_(
        "{study}: these look like screenshots, not the scan itself. Please ask the imaging "
        "department for the complete study on CD/DVD in DICOM format (all images)."
    ),
    Category.KEY_IMAGES: N_(
        "{study}: only a few selected images arrived, not the whole scan. Please ask the "
        "imaging department for the complete study on CD/DVD in DICOM format (all images)."
    ),
    Category.LOCALIZER: N_(
        "{study}: only the positioning images (scout views) arrived, not the scan itself. "
        "Please ask the imaging department for the complete study on CD/DVD in DICOM format "
        "(all images)."
    ),
    Category.KEY_OBJECTS: N_(
        "{study}: only a list of key images arrived, without the images themselves. Please "
        "ask the imaging department for the complete study on CD/DVD in DICOM format (all "
        "images)."
    ),
}
# When a study has several unusable series, the one closest to a readable scan speaks.
_ADVICE_ORDER = (Category.INCOMPLETE, Category.KEY_IMAGES, Category.SCREEN_CAPTURE,
                 Category.KEY_OBJECTS, Category.LOCALIZER)
_MISSING_FINDINGS = (Finding.MISSING_INSTANCES, Finding.SLICE_GAPS)


def study_name(study: StudyLine) -> Text | tuple[Text, ...]:
    """A study in the family's words, with its date: "CT scan of 2 October 2026"."""
    name = modality_text(study.modalities)
    if study.study_date is None:
        return name
    return Text.of("{study} of {date}", study=name, date=study.study_date)


def unusable_study_text(study: StudyLine) -> Text:
    """A study that arrived but cannot be read as sent: no tick."""
    series = Text.counted("{count} series", "{count} series", study.series)
    images = Text.counted("{count} image", "{count} images", study.images)
    return Text.of("{study}: {series}, {images} \u26a0", study=study_name(study),
                   series=series, images=images)


def missing_images_text(study: StudyLine, count: int) -> Text:
    """Slices missing in a series: the copy lost files, sending the disc again fixes it."""
    return Text.counted(
        "{study}: {count} image is missing. Please send the whole folder of the disc again; "
        "what has arrived is kept.",
        "{study}: {count} images are missing. Please send the whole folder of the disc "
        "again; what has arrived is kept.", count, study=study_name(study))


def ask_hospital_text(study: StudyLine) -> Text:
    """A sentence the family can forward to the hospital as it is."""
    return Text.of(
        "You may forward this request to the hospital:\n\u201cFor a second medical opinion, "
        "please provide the complete examination ({study}) on CD/DVD in DICOM format: all "
        "series and all images, in original quality (not screenshots or selected images). "
        "Thank you.\u201d",
        study=study_name(study))


def dicom_report_line(name: str) -> Text:
    """A report that arrived as a DICOM object, filed with the imaging reports."""
    return Text.of("{name}: a report in DICOM format, filed under imaging reports \u2713",
                   name=name)


def _missing(verdicts: Sequence[SeriesVerdict]) -> int:
    return sum(max((n.count or 0 for n in v.notes if n.finding in _MISSING_FINDINGS),
                   default=0) for v in verdicts if v.category is Category.INCOMPLETE)


def imaging_lines(
    documents: Sequence[Document], verdicts: Mapping[str, SeriesVerdict],
    told: frozenset[str] = frozenset(),
) -> list[Text]:
    """The studies in a batch, ticked only when readable, with what to ask for otherwise.

    `verdicts` covers the whole case: a study is readable when any of its series, sent now
    or before, is of diagnostic quality. Advice already given for every unreadable series
    of a study (`told`: series UIDs) is not repeated, as when screenshots come one per
    chat message.
    """
    lines: list[Text] = []
    forward: StudyLine | None = None
    for study in studies(documents):
        series = [v for v in verdicts.values() if v.study_uid == study.study_uid]
        usable = any(v.diagnostic for v in series)
        lines.append(study_text(study) if usable else unusable_study_text(study))
        if all(v.series_uid in told for v in series if not v.diagnostic):
            continue
        missing = _missing(series)
        if missing:
            lines.append(missing_images_text(study, missing))
            continue
        if usable:
            continue
        found = {v.category for v in series}
        category = next((c for c in _ADVICE_ORDER if c in found and c in _ASK_FOR_STUDY), None)
        if category is not None:
            lines.append(Text.of(_ASK_FOR_STUDY[category], study=study_name(study)))
            forward = forward or study
    lines += [dicom_report_line(d.filename) for d in documents
              if d.is_dicom and d.valid and d.kind == ItemKind.IMAGING_REPORT]
    if forward is not None:
        lines.append(ask_hospital_text(forward))
    return lines
