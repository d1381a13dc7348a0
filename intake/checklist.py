"""The documents a case needs, and which of them are still missing.

`checklist_for(answers)` builds the list for one case:

==================  ====================================================================
item                required when
==================  ====================================================================
referral letter     always
imaging (DICOM)     the specialty is imaging-driven: oncology, cardiology, neurology,
                    orthopaedics, transplant (optional otherwise)
imaging report      never: useful next to the images, never a substitute for them
laboratory results  always (last 6-12 months, with the laboratory's normal ranges)
pathology report    oncology, or an aggressive cancer reported in another specialty
operative report    never: the intake does not ask about past operations, and "surgery
                    proposed" means it has not happened; requiring a report that may not
                    exist would keep the file incomplete for ever
treatment history   always; typed in the chat (`answers["treatment_history"]`) counts too
==================  ====================================================================

Matching is strict where it matters: the imaging item is satisfied only by a valid DICOM image
whose series was judged diagnostic (`intake.imaging`: not screenshots, key images, a
localizer or an incomplete stack) and whose modality the specialty reads
(`IMAGING_MODALITIES`: cross-sectional and projection imaging, plus ultrasound for
cardiology); a PDF radiology report, or a report sent as DICOM, does not. An invalid document
satisfies nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from intake.imaging import CROSS_SECTIONAL, PROJECTION, assess_inspections
from intake.prompts import N_, Text
from intake.vocabulary import Specialty, Urgency

__all__ = [
    "IMAGING_DRIVEN",
    "IMAGING_MODALITIES",
    "ChecklistItem",
    "ItemKind",
    "ReceivedDocument",
    "checklist_for",
    "imaging_modalities",
    "is_complete",
    "is_satisfied",
    "missing_items",
    "received_from",
]


class ItemKind(StrEnum):
    """What a document is; the values are stored on checklist rows and uploaded files."""

    REFERRAL_LETTER = "referral_letter"
    IMAGING_DICOM = "imaging_dicom"
    IMAGING_REPORT = "imaging_report"
    LAB_RESULTS = "lab_results"
    OPERATIVE_REPORT = "operative_report"
    PATHOLOGY_REPORT = "pathology_report"
    TREATMENT_HISTORY = "treatment_history"
    OTHER = "other"


IMAGING_DRIVEN = frozenset(
    {
        Specialty.ONCOLOGY,
        Specialty.CARDIOLOGY,
        Specialty.NEUROLOGY,
        Specialty.ORTHOPAEDICS,
        Specialty.TRANSPLANT,
    }
)


# Which modalities satisfy the imaging item, per specialty; the default reads any
# cross-sectional or projection study. Echocardiography is how cardiology images the heart.
DEFAULT_IMAGING_MODALITIES = CROSS_SECTIONAL | PROJECTION
IMAGING_MODALITIES: Mapping[Specialty, frozenset[str]] = MappingProxyType(
    {Specialty.CARDIOLOGY: DEFAULT_IMAGING_MODALITIES | {"US"}}
)


@dataclass(frozen=True)
class ChecklistItem:
    """One document the case needs, with what to tell the family about it."""

    kind: ItemKind
    required: bool
    label: Text
    hint: Text
    modalities: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ReceivedDocument:
    """What the file inspection concluded about one received document.

    `diagnostic` is the verdict on the document's series (`intake.imaging`); `modality` its
    DICOM modality. Both only matter for the imaging item.
    """

    kind: ItemKind
    is_dicom: bool = False
    valid: bool = True
    modality: str | None = None
    diagnostic: bool = False


_WORDING: Mapping[ItemKind, tuple[str, str]] = MappingProxyType(
    {
        ItemKind.REFERRAL_LETTER: (
            N_("Referral letter"),
            N_(
                "A letter or summary from the treating doctor with the diagnosis and the "
                "question asked; a recent discharge summary is fine too."
            ),
        ),
        ItemKind.IMAGING_DICOM: (
            N_("Imaging (DICOM)"),
            N_(
                "The images themselves (DICOM, e.g. the CD/DVD from the hospital), not only "
                "the PDF report."
            ),
        ),
        ItemKind.IMAGING_REPORT: (
            N_("Imaging reports"),
            N_("The radiologist's written reports of the scans, if you have them."),
        ),
        ItemKind.LAB_RESULTS: (
            N_("Laboratory results"),
            N_(
                "Blood and other laboratory results of the last 6 to 12 months, with the "
                "normal ranges printed by the laboratory."
            ),
        ),
        ItemKind.PATHOLOGY_REPORT: (
            N_("Pathology report"),
            N_("The report on any biopsy or tissue removed, with the date it was taken."),
        ),
        ItemKind.OPERATIVE_REPORT: (
            N_("Operative report"),
            N_("If the patient had an operation for this problem: the surgeon's report."),
        ),
        ItemKind.TREATMENT_HISTORY: (
            N_("Treatment history"),
            N_(
                "Every medicine with its generic name, dose and how long it was taken, and "
                "past treatments such as chemotherapy, radiotherapy or operations. You may "
                "also type it here in the chat."
            ),
        ),
        ItemKind.OTHER: (
            N_("Other documents"),
            N_("Anything else the treating doctor thinks is useful."),
        ),
    }
)


def _item(
    kind: ItemKind, required: bool, modalities: frozenset[str] = frozenset()
) -> ChecklistItem:
    label, hint = _WORDING[kind]
    return ChecklistItem(kind, required, Text(label), Text(hint), modalities)


def _specialty(answers: Mapping[str, object]) -> Specialty | None:
    raw = answers.get("specialty")
    try:
        return Specialty(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def _reports_aggressive_cancer(answers: Mapping[str, object]) -> bool:
    raw = answers.get("urgency")
    values = [raw] if isinstance(raw, str) else raw
    return isinstance(values, list | tuple | set | frozenset) and any(
        str(v) == Urgency.AGGRESSIVE_CANCER.value for v in values
    )


def _typed_treatment_history(answers: Mapping[str, object]) -> bool:
    text = answers.get("treatment_history")
    return isinstance(text, str) and bool(text.strip())


def imaging_modalities(specialty: Specialty | None) -> frozenset[str]:
    """The modalities whose diagnostic series satisfy the imaging item for a specialty."""
    if specialty is None:
        return DEFAULT_IMAGING_MODALITIES
    return IMAGING_MODALITIES.get(specialty, DEFAULT_IMAGING_MODALITIES)


def checklist_for(answers: Mapping[str, object]) -> tuple[ChecklistItem, ...]:
    """Build the document checklist for a case from its intake answers."""
    specialty = _specialty(answers)
    cancer = specialty is Specialty.ONCOLOGY or _reports_aggressive_cancer(answers)
    return (
        _item(ItemKind.REFERRAL_LETTER, required=True),
        _item(ItemKind.IMAGING_DICOM, required=specialty in IMAGING_DRIVEN,
              modalities=imaging_modalities(specialty)),
        _item(ItemKind.IMAGING_REPORT, required=False),
        _item(ItemKind.LAB_RESULTS, required=True),
        _item(ItemKind.PATHOLOGY_REPORT, required=cancer),
        _item(ItemKind.OPERATIVE_REPORT, required=False),
        _item(ItemKind.TREATMENT_HISTORY, required=True),
    )


def _satisfies(doc: ReceivedDocument, item: ChecklistItem) -> bool:
    kind = item.kind
    if not doc.valid:
        return False
    if kind is ItemKind.IMAGING_DICOM:
        modalities = item.modalities or DEFAULT_IMAGING_MODALITIES
        return (
            doc.kind is ItemKind.IMAGING_DICOM
            and doc.is_dicom
            and doc.diagnostic
            and (doc.modality or "").upper() in modalities
        )
    if kind is ItemKind.IMAGING_REPORT:
        # Something filed as imaging that turned out not to be DICOM is a report (a PDF).
        return doc.kind is ItemKind.IMAGING_REPORT or (
            doc.kind is ItemKind.IMAGING_DICOM and not doc.is_dicom
        )
    return doc.kind is kind


def is_satisfied(
    item: ChecklistItem,
    received: Iterable[ReceivedDocument],
    answers: Mapping[str, object] | None = None,
) -> bool:
    """Tell whether one checklist item is covered, to tick it in the family's list."""
    if item.kind is ItemKind.TREATMENT_HISTORY and _typed_treatment_history(answers or {}):
        return True
    return any(_satisfies(doc, item) for doc in received)


def missing_items(
    items: Iterable[ChecklistItem],
    received: Iterable[ReceivedDocument],
    answers: Mapping[str, object] | None = None,
    *,
    required_only: bool = False,
) -> tuple[ChecklistItem, ...]:
    """The items still to send, in checklist order, so the family knows what to look for.

    Optional items are included unless `required_only`; check `item.required` to tell them
    apart when talking to the family.
    """
    docs = tuple(received)
    return tuple(
        item
        for item in items
        if (item.required or not required_only) and not is_satisfied(item, docs, answers)
    )


def is_complete(
    items: Iterable[ChecklistItem],
    received: Iterable[ReceivedDocument],
    answers: Mapping[str, object] | None = None,
) -> bool:
    """Tell whether every required document is in, so the case may become `file_complete`."""
    return not missing_items(items, received, answers, required_only=True)


def received_from(
    rows: Iterable[tuple[str, bool, bool, Mapping[str, Any]]],
) -> list[ReceivedDocument]:
    """Stored documents (kind, is_dicom, valid, inspection) as the checklist sees them.

    Each DICOM document carries its series' verdict, judged over all the rows given, so pass
    every document of the case.
    """
    known = [row for row in rows if row[0] in ItemKind._value2member_map_]
    verdicts = assess_inspections(info for _, is_dicom, _, info in known if is_dicom)
    received = []
    for kind, is_dicom, valid, info in known:
        verdict = verdicts.get(str(info.get("series_uid") or "")) if is_dicom else None
        received.append(ReceivedDocument(
            ItemKind(kind), bool(is_dicom), bool(valid),
            modality=verdict.modality if verdict else None,
            diagnostic=verdict.diagnostic if verdict else False,
        ))
    return received
