"""The records-request letter: a family asks the first hospital for a copy of the patient's
records and of the imaging in DICOM, citing the patient's right of access where we know the
law that grants it.

Only laws we can cite exactly are cited: the GDPR in the EU/EEA; in Turkey the KVKK and the
Patient Rights Regulation. Elsewhere the letter names the patient's right to their own records
in neutral words and invents no statute. The domain says what the letter contains;
`bot.journey.letter_pdf` renders it in the hospital's language and lays it out as a PDF.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from intake.prompts import Text

HOSPITAL_MAX_LENGTH = 200

# The 27 EU member states and the three EEA states that apply the GDPR (Iceland,
# Liechtenstein, Norway), as ISO 3166 alpha-2 codes.
EEA = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    "IS", "LI", "NO",
})


class LegalBasis(StrEnum):
    """Which law the letter cites for the patient's right of access."""

    GDPR = "gdpr"
    KVKK = "kvkk"
    NONE = "none"


def legal_basis(country: str | None) -> LegalBasis:
    """The law that gives a patient living in `country` access to their records, where known."""
    code = (country or "").upper()
    if code in EEA:
        return LegalBasis.GDPR
    if code == "TR":
        return LegalBasis.KVKK
    return LegalBasis.NONE


_BASIS_TEXT: dict[LegalBasis, Text] = {
    LegalBasis.GDPR: Text.of(
        "This request is made under the patient's right of access to their personal data, "
        "Article 15 of the General Data Protection Regulation (EU) 2016/679 (GDPR). Under "
        "Article 12(3) GDPR, the request must be answered without undue delay and in any "
        "event within one month of its receipt. Under Article 15(3) GDPR, the first copy is "
        "provided free of charge."),
    LegalBasis.KVKK: Text.of(
        "This request is made under Article 11 of the Turkish Law No. 6698 on the Protection "
        "of Personal Data (KVKK), which gives the patient the right to learn whether their "
        "personal data are processed and to request information about them, and under "
        "Article 16 of the Patient Rights Regulation, which allows the patient, directly or "
        "through a representative, to examine their records and obtain a copy of them. Under "
        "Article 13 of Law No. 6698, the request must be concluded as soon as possible and "
        "within thirty days at the latest, free of charge unless the operation involves an "
        "additional cost under the tariff set by the Personal Data Protection Board."),
    LegalBasis.NONE: Text.of(
        "This request is made under the patient's right to obtain a copy of their own "
        "medical records. I would be grateful if you could answer it as soon as possible."),
}


@dataclass(frozen=True)
class LetterContent:
    """Everything the letter says, as messages to render in the hospital's language."""

    title: Text
    date_line: Text
    addressee: Text
    patient_lines: tuple[Text, ...]
    body: tuple[Text, ...]
    closing: tuple[Text, ...]
    signature_lines: tuple[Text, ...]
    basis: LegalBasis


def letter_content(patient_name: str, birth_date: str, hospital: str, today: str,
                   basis: LegalBasis) -> LetterContent:
    """The letter for one patient; `birth_date` and `today` come already formatted for the
    letter's language (the domain does not format dates)."""
    return LetterContent(
        title=Text.of("Request for a copy of medical records and imaging"),
        date_line=Text.of("Date: {date}", date=today),
        addressee=Text.of("To: {hospital}, medical records department", hospital=hospital),
        patient_lines=(
            Text.of("Patient: {name}", name=patient_name),
            Text.of("Date of birth: {birth_date}", birth_date=birth_date),
        ),
        body=(
            Text.of("Dear Sir or Madam,"),
            Text.of(
                "I request a complete copy of the medical records of the patient named above "
                "held by your hospital, including consultation and hospital reports, operation "
                "and pathology reports, laboratory results and the reports of imaging "
                "examinations."),
            Text.of(
                "I also request a copy of all imaging studies (for example CT, MRI, PET, X-ray "
                "and ultrasound) in their original DICOM format, on a CD, DVD or USB drive or "
                "by secure electronic transfer. Printed images or JPEG files are not "
                "sufficient: the images are to be reviewed by specialists for a second medical "
                "opinion."),
            _BASIS_TEXT[basis],
            Text.of(
                "Please send the copies to the address below or let me know when they can be "
                "collected. If I sign as the patient's representative, proof of my authority "
                "is enclosed."),
        ),
        closing=(
            Text.of("Thank you in advance."),
            Text.of("Yours faithfully,"),
        ),
        signature_lines=(
            Text.of("Name of the signatory:"),
            Text.of("Signing as: the patient / the patient's legal representative"),
            Text.of("Address or e-mail for the reply:"),
            Text.of("Signature:"),
        ),
        basis=basis,
    )


def letter_details(answers: Mapping[str, Any]) -> tuple[str, str] | None:
    """The patient's name and ISO date of birth from the intake answers, or None while either
    is still missing (the letter is useless without them)."""
    name, born = answers.get("patient_name"), answers.get("patient_birth_date")
    if not isinstance(name, str) or not name.strip() or not isinstance(born, str):
        return None
    try:
        date.fromisoformat(born)
    except ValueError:
        return None
    return name.strip(), born


def clean_hospital(text: str) -> str | None:
    """A hospital name as typed, on one line; None when empty or too long to be a name."""
    name = " ".join(text.split())
    return name if 0 < len(name) <= HOSPITAL_MAX_LENGTH else None
