"""Who reviews a case: one specialist, two specialists together, or the tumour board.

The rules, in order:

1. Oncology goes to the multidisciplinary tumour board when the situation is complex, when
   surgery was proposed (cancer surgery decisions are multidisciplinary by standard of care),
   or when the family reports an aggressive cancer; otherwise to one medical oncologist.
   An aggressive-cancer signal in any other specialty also goes to the board, with that
   specialty's reviewer added to it (a brain tumour under "neurology" is still cancer).
2. Transplant questions are always co-reviewed by a transplant surgeon and a transplant
   physician: the decision is both surgical and medical.
3. In other specialties, proposed surgery or a complex situation brings a co-review by the
   pair below; anything else goes to the single reviewer.

   ============  =====================  ==============================================
   specialty     single reviewer        co-review pair
   ============  =====================  ==============================================
   cardiology    cardiology             interventional cardiology + cardiac surgery
   orthopaedics  orthopaedic surgery    orthopaedic surgery + physical & rehab medicine
   neurology     neurology              neurology + neurosurgery
   paediatrics   general paediatrics    general paediatrics + paediatric surgery
   other         internal medicine      internal medicine + general surgery
   ============  =====================  ==============================================

   Orthopaedics pairs with physical and rehabilitation medicine, not neurosurgery: the
   intake does not say whether the spine is involved, and whether to operate at all is the
   usual question; the coordinator may still change the reviewers.
4. A patient under 18 on `today`, or the paediatrics specialty, makes the case paediatric:
   every reviewer is replaced by its paediatric counterpart where one exists.
5. The case is urgent when the family reported any urgency other than "none".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TypeVar

from intake.errors import UnknownReviewer
from intake.prompts import N_, Text
from intake.vocabulary import Situation, Specialty, Urgency

__all__ = [
    "ADULT_AGE",
    "Reviewer",
    "RouteKind",
    "Routing",
    "age_on",
    "route",
    "specialty_label",
]

ADULT_AGE = 18
_E = TypeVar("_E", bound=StrEnum)


class RouteKind(StrEnum):
    """How many minds look at the file."""

    SINGLE_SPECIALIST = "single_specialist"
    CO_REVIEW = "co_review"
    TUMOUR_BOARD = "tumour_board"


class Reviewer(StrEnum):
    """The reviewing specialties; values are the stable keys stored with a case."""

    MEDICAL_ONCOLOGY = "medical_oncology"
    SURGICAL_ONCOLOGY = "surgical_oncology"
    RADIATION_ONCOLOGY = "radiation_oncology"
    RADIOLOGY = "radiology"
    PATHOLOGY = "pathology"
    CARDIOLOGY = "cardiology"
    INTERVENTIONAL_CARDIOLOGY = "interventional_cardiology"
    CARDIAC_SURGERY = "cardiac_surgery"
    ORTHOPAEDIC_SURGERY = "orthopaedic_surgery"
    PHYSICAL_REHABILITATION_MEDICINE = "physical_rehabilitation_medicine"
    NEUROLOGY = "neurology"
    NEUROSURGERY = "neurosurgery"
    TRANSPLANT_SURGERY = "transplant_surgery"
    TRANSPLANT_MEDICINE = "transplant_medicine"
    INTERNAL_MEDICINE = "internal_medicine"
    GENERAL_SURGERY = "general_surgery"
    GENERAL_PAEDIATRICS = "general_paediatrics"
    PAEDIATRIC_SURGERY = "paediatric_surgery"
    PAEDIATRIC_ONCOLOGY = "paediatric_oncology"
    PAEDIATRIC_RADIOLOGY = "paediatric_radiology"
    PAEDIATRIC_CARDIOLOGY = "paediatric_cardiology"
    PAEDIATRIC_CARDIAC_SURGERY = "paediatric_cardiac_surgery"
    PAEDIATRIC_ORTHOPAEDICS = "paediatric_orthopaedics"
    PAEDIATRIC_NEUROLOGY = "paediatric_neurology"
    PAEDIATRIC_NEUROSURGERY = "paediatric_neurosurgery"
    PAEDIATRIC_TRANSPLANT_SURGERY = "paediatric_transplant_surgery"
    PAEDIATRIC_TRANSPLANT_MEDICINE = "paediatric_transplant_medicine"


@dataclass(frozen=True)
class Routing:
    """The routing decision for a case, with the reason shown to coordinators."""

    kind: RouteKind
    specialties: tuple[Reviewer, ...]
    paediatric: bool
    urgent: bool
    reason: Text


_R = Reviewer

_TUMOUR_BOARD = (
    _R.MEDICAL_ONCOLOGY,
    _R.SURGICAL_ONCOLOGY,
    _R.RADIATION_ONCOLOGY,
    _R.RADIOLOGY,
    _R.PATHOLOGY,
)

_SINGLE: dict[Specialty, Reviewer] = {
    Specialty.ONCOLOGY: _R.MEDICAL_ONCOLOGY,
    Specialty.CARDIOLOGY: _R.CARDIOLOGY,
    Specialty.ORTHOPAEDICS: _R.ORTHOPAEDIC_SURGERY,
    Specialty.NEUROLOGY: _R.NEUROLOGY,
    Specialty.TRANSPLANT: _R.TRANSPLANT_SURGERY,
    Specialty.PAEDIATRICS: _R.GENERAL_PAEDIATRICS,
    Specialty.OTHER: _R.INTERNAL_MEDICINE,
}

_PAIR: dict[Specialty, tuple[Reviewer, Reviewer]] = {
    Specialty.CARDIOLOGY: (_R.INTERVENTIONAL_CARDIOLOGY, _R.CARDIAC_SURGERY),
    Specialty.ORTHOPAEDICS: (_R.ORTHOPAEDIC_SURGERY, _R.PHYSICAL_REHABILITATION_MEDICINE),
    Specialty.NEUROLOGY: (_R.NEUROLOGY, _R.NEUROSURGERY),
    Specialty.TRANSPLANT: (_R.TRANSPLANT_SURGERY, _R.TRANSPLANT_MEDICINE),
    Specialty.PAEDIATRICS: (_R.GENERAL_PAEDIATRICS, _R.PAEDIATRIC_SURGERY),
    Specialty.OTHER: (_R.INTERNAL_MEDICINE, _R.GENERAL_SURGERY),
}

_PAEDIATRIC: dict[Reviewer, Reviewer] = {
    _R.MEDICAL_ONCOLOGY: _R.PAEDIATRIC_ONCOLOGY,
    _R.SURGICAL_ONCOLOGY: _R.PAEDIATRIC_SURGERY,
    _R.RADIOLOGY: _R.PAEDIATRIC_RADIOLOGY,
    _R.CARDIOLOGY: _R.PAEDIATRIC_CARDIOLOGY,
    _R.INTERVENTIONAL_CARDIOLOGY: _R.PAEDIATRIC_CARDIOLOGY,
    _R.CARDIAC_SURGERY: _R.PAEDIATRIC_CARDIAC_SURGERY,
    _R.ORTHOPAEDIC_SURGERY: _R.PAEDIATRIC_ORTHOPAEDICS,
    _R.NEUROLOGY: _R.PAEDIATRIC_NEUROLOGY,
    _R.NEUROSURGERY: _R.PAEDIATRIC_NEUROSURGERY,
    _R.TRANSPLANT_SURGERY: _R.PAEDIATRIC_TRANSPLANT_SURGERY,
    _R.TRANSPLANT_MEDICINE: _R.PAEDIATRIC_TRANSPLANT_MEDICINE,
    _R.INTERNAL_MEDICINE: _R.GENERAL_PAEDIATRICS,
    _R.GENERAL_SURGERY: _R.PAEDIATRIC_SURGERY,
}

_LABELS: dict[Reviewer, str] = {
    _R.MEDICAL_ONCOLOGY: N_("Medical oncology"),
    _R.SURGICAL_ONCOLOGY: N_("Surgical oncology"),
    _R.RADIATION_ONCOLOGY: N_("Radiation oncology"),
    _R.RADIOLOGY: N_("Radiology"),
    _R.PATHOLOGY: N_("Pathology"),
    _R.CARDIOLOGY: N_("Cardiology"),
    _R.INTERVENTIONAL_CARDIOLOGY: N_("Interventional cardiology"),
    _R.CARDIAC_SURGERY: N_("Cardiac surgery"),
    _R.ORTHOPAEDIC_SURGERY: N_("Orthopaedic surgery"),
    _R.PHYSICAL_REHABILITATION_MEDICINE: N_("Physical and rehabilitation medicine"),
    _R.NEUROLOGY: N_("Neurology"),
    _R.NEUROSURGERY: N_("Neurosurgery"),
    _R.TRANSPLANT_SURGERY: N_("Transplant surgery"),
    _R.TRANSPLANT_MEDICINE: N_("Transplant medicine"),
    _R.INTERNAL_MEDICINE: N_("Internal medicine"),
    _R.GENERAL_SURGERY: N_("General surgery"),
    _R.GENERAL_PAEDIATRICS: N_("General paediatrics"),
    _R.PAEDIATRIC_SURGERY: N_("Paediatric surgery"),
    _R.PAEDIATRIC_ONCOLOGY: N_("Paediatric oncology"),
    _R.PAEDIATRIC_RADIOLOGY: N_("Paediatric radiology"),
    _R.PAEDIATRIC_CARDIOLOGY: N_("Paediatric cardiology"),
    _R.PAEDIATRIC_CARDIAC_SURGERY: N_("Paediatric cardiac surgery"),
    _R.PAEDIATRIC_ORTHOPAEDICS: N_("Paediatric orthopaedics"),
    _R.PAEDIATRIC_NEUROLOGY: N_("Paediatric neurology"),
    _R.PAEDIATRIC_NEUROSURGERY: N_("Paediatric neurosurgery"),
    _R.PAEDIATRIC_TRANSPLANT_SURGERY: N_("Paediatric transplant surgery"),
    _R.PAEDIATRIC_TRANSPLANT_MEDICINE: N_("Paediatric transplant medicine"),
}


def specialty_label(key: Reviewer | str) -> Text:
    """Name a reviewing specialty for the family and the inbox."""
    try:
        return Text(_LABELS[Reviewer(key)])
    except ValueError:
        raise UnknownReviewer(key) from None


def age_on(birth_date: date, today: date) -> int:
    """Completed years of age on `today`, to decide whether the patient is a child."""
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - before_birthday


def _birth_date(answers: Mapping[str, object]) -> date | None:
    raw = answers.get("patient_birth_date")
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            return None
    return None


def _urgencies(answers: Mapping[str, object]) -> frozenset[str]:
    raw = answers.get("urgency")
    if raw is None:
        return frozenset()
    if isinstance(raw, str):
        return frozenset({raw})
    if isinstance(raw, list | tuple | set | frozenset):
        return frozenset(str(item) for item in raw)
    return frozenset()


def _enum_answer(answers: Mapping[str, object], key: str, enum: type[_E]) -> _E | None:
    raw = answers.get(key)
    try:
        return enum(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def _paediatric_variants(reviewers: tuple[Reviewer, ...]) -> tuple[Reviewer, ...]:
    mapped = (_PAEDIATRIC.get(r, r) for r in reviewers)
    return tuple(dict.fromkeys(mapped))


def _decide(
    specialty: Specialty, situation: Situation | None, aggressive: bool
) -> tuple[RouteKind, tuple[Reviewer, ...], Text]:
    board, co, single = RouteKind.TUMOUR_BOARD, RouteKind.CO_REVIEW, RouteKind.SINGLE_SPECIALIST
    surgery = situation is Situation.SURGERY
    complex_ = situation is Situation.COMPLEX
    if specialty is Specialty.ONCOLOGY:
        if complex_:
            why = N_("A complex cancer case is discussed by the multidisciplinary tumour board.")
            return board, _TUMOUR_BOARD, Text(why)
        if surgery:
            why = N_("Cancer surgery decisions are taken by the multidisciplinary tumour board.")
            return board, _TUMOUR_BOARD, Text(why)
        if aggressive:
            why = N_("An aggressive cancer is discussed by the multidisciplinary tumour board.")
            return board, _TUMOUR_BOARD, Text(why)
        why = N_("A medical oncologist reviews the file.")
        return single, (_R.MEDICAL_ONCOLOGY,), Text(why)
    if aggressive:
        members = tuple(dict.fromkeys((*_TUMOUR_BOARD, _SINGLE[specialty])))
        if specialty is Specialty.OTHER:
            members = _TUMOUR_BOARD
        why = N_("An aggressive cancer is discussed by the multidisciplinary tumour board.")
        return board, members, Text(why)
    if specialty is Specialty.TRANSPLANT:
        why = N_("A transplant surgeon and a transplant physician review the file together.")
        return co, _PAIR[specialty], Text(why)
    if surgery:
        why = N_("Proposed surgery is reviewed by two specialists together.")
        return co, _PAIR[specialty], Text(why)
    if complex_:
        why = N_("A complex situation is reviewed by two specialists together.")
        return co, _PAIR[specialty], Text(why)
    return single, (_SINGLE[specialty],), Text(N_("One specialist reviews the file."))


def route(answers: Mapping[str, object], today: date) -> Routing:
    """Decide who reviews the case from the intake answers; `today` dates the patient's age."""
    specialty = _enum_answer(answers, "specialty", Specialty) or Specialty.OTHER
    situation = _enum_answer(answers, "situation", Situation)
    urgencies = _urgencies(answers)
    aggressive = Urgency.AGGRESSIVE_CANCER.value in urgencies
    urgent = bool(urgencies - {Urgency.NONE.value})
    born = _birth_date(answers)
    minor = born is not None and age_on(born, today) < ADULT_AGE
    paediatric = minor or specialty is Specialty.PAEDIATRICS
    kind, reviewers, reason = _decide(specialty, situation, aggressive)
    if paediatric:
        reviewers = _paediatric_variants(reviewers)
    return Routing(kind, reviewers, paediatric, urgent, reason)
