"""The closed sets of answers the intake works with; their values are stored in the database."""

from __future__ import annotations

from enum import StrEnum

LANGUAGES: tuple[str, ...] = ("ar", "fr", "en", "nl", "ru", "tr")
DEFAULT_LANGUAGE = "en"


class Role(StrEnum):
    """Who is writing to us."""

    PATIENT = "patient"
    PARENT = "parent"
    RELATIVE = "relative"
    DOCTOR = "doctor"


class Sex(StrEnum):
    """The patient's sex as the family states it."""

    FEMALE = "female"
    MALE = "male"
    OTHER = "other"


class Specialty(StrEnum):
    """The medical area of the question."""

    ONCOLOGY = "oncology"
    CARDIOLOGY = "cardiology"
    TRANSPLANT = "transplant"
    ORTHOPAEDICS = "orthopaedics"
    NEUROLOGY = "neurology"
    PAEDIATRICS = "paediatrics"
    OTHER = "other"


class Situation(StrEnum):
    """Why a second opinion is wanted."""

    SURGERY = "surgery"
    DIAGNOSIS = "diagnosis"
    COMPLEX = "complex"
    OTHER = "other"


class Urgency(StrEnum):
    """Urgency signals the family reports; NONE excludes the others."""

    AGGRESSIVE_CANCER = "aggressive_cancer"
    CARDIAC = "cardiac"
    TREATMENT_SOON = "treatment_soon"
    NONE = "none"


class Service(StrEnum):
    """The service the family asks for."""

    WRITTEN = "written"
    WRITTEN_VIDEO = "written_video"
    IN_PERSON = "in_person"
