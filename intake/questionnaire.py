"""The intake questionnaire as data: steps, their answer types, options and branching."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from intake.prompts import N_, LanguageName, Option, Text
from intake.vocabulary import LANGUAGES, Role, Service, Sex, Situation, Specialty, Urgency

Answers = Mapping[str, Any]

# A family that consented under an earlier version is not asked again mid-intake: the version
# they agreed to stays recorded with their consent.
CONSENT_VERSION = "2026-12-v2"

LANGUAGE_NAMES: Mapping[str, str] = {
    "ar": "العربية",
    "fr": "Français",
    "en": "English",
    "nl": "Nederlands",
    "ru": "Русский",
    "tr": "Türkçe",
}


class StepKind(StrEnum):
    """How an answer is read."""

    CHOICE = "choice"
    MULTI = "multi"
    TEXT = "text"
    NAME = "name"
    DATE = "date"
    COUNTRY = "country"
    CONTACT = "contact"
    YES_NO = "yes_no"


def _always(_: Answers) -> bool:
    return True


@dataclass(frozen=True)
class Step:
    """One question of the intake."""

    key: str
    kind: StepKind
    question: Text
    options: tuple[Option, ...] = ()
    optional: bool = False
    when: Callable[[Answers], bool] = field(default=_always, compare=False)
    exclusive: frozenset[str] = frozenset()
    question_to_patient: Text | None = None
    max_length: int = 3000

    def applies(self, answers: Answers) -> bool:
        """Whether the branching rules ask this step for these answers."""
        return self.when(answers)

    def question_for(self, answers: Answers) -> Text:
        """The wording addressed to the patient themself, or to whoever writes for them."""
        if self.question_to_patient is not None and answers.get("role") == Role.PATIENT:
            return self.question_to_patient
        return self.question


def _option(key: str, label: str) -> Option:
    return Option(key, Text(label))


def language_options() -> tuple[Option, ...]:
    """The six languages, each named in its own language (never translated)."""
    return tuple(Option(code, Text(LANGUAGE_NAMES[code])) for code in LANGUAGES)


def report_language_options() -> tuple[Option, ...]:
    """The six languages named for the reader, each with its own name in brackets."""
    return tuple(
        Option(code, Text("{language}", MappingProxyType(
            {"language": LanguageName(code, capitalised=True)})))
        for code in LANGUAGES
    )


def is_doctor(answers: Answers) -> bool:
    """The person writing is the treating doctor."""
    return answers.get("role") == Role.DOCTOR


def age_on(birth_date_iso: str | None, today: date) -> int | None:
    """Age in whole years on `today`, or None when the birth date is unknown."""
    if not birth_date_iso:
        return None
    born = date.fromisoformat(birth_date_iso)
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


YES_NO_OPTIONS = (_option("yes", N_("Yes")), _option("no", N_("No")))

STEPS: tuple[Step, ...] = (
    Step(
        "role",
        StepKind.CHOICE,
        Text.of("Who is writing to us?"),
        (
            _option(Role.PATIENT, N_("I am the patient")),
            _option(Role.PARENT, N_("A parent of the patient")),
            _option(Role.RELATIVE, N_("Another relative or friend")),
            _option(Role.DOCTOR, N_("The treating doctor")),
        ),
    ),
    Step(
        "patient_name",
        StepKind.NAME,
        Text.of("What is the patient's full name, as written in the medical documents?"),
        question_to_patient=Text.of(
            "What is your full name, as written in your medical documents?"
        ),
    ),
    Step(
        "patient_birth_date",
        StepKind.DATE,
        Text.of("What is the patient's date of birth? (for example 24/03/1975)"),
        question_to_patient=Text.of("What is your date of birth? (for example 24/03/1975)"),
    ),
    Step(
        "patient_sex",
        StepKind.CHOICE,
        Text.of("What is the patient's sex?"),
        (
            _option(Sex.FEMALE, N_("Female")),
            _option(Sex.MALE, N_("Male")),
            _option(Sex.OTHER, N_("Other / prefer not to say")),
        ),
        question_to_patient=Text.of("What is your sex?"),
    ),
    Step(
        "patient_country",
        StepKind.COUNTRY,
        Text.of("In which country does the patient live?"),
        question_to_patient=Text.of("In which country do you live?"),
    ),
    Step(
        "specialty",
        StepKind.CHOICE,
        Text.of("Which medical area is the question about?"),
        (
            _option(Specialty.ONCOLOGY, N_("Oncology (cancer)")),
            _option(Specialty.CARDIOLOGY, N_("Cardiology (heart)")),
            _option(Specialty.TRANSPLANT, N_("Transplant")),
            _option(Specialty.ORTHOPAEDICS, N_("Orthopaedics / spine")),
            _option(Specialty.NEUROLOGY, N_("Neurology / neurosurgery")),
            _option(Specialty.PAEDIATRICS, N_("Paediatrics (child)")),
            _option(Specialty.OTHER, N_("Other")),
        ),
    ),
    Step(
        "specialty_other",
        StepKind.TEXT,
        Text.of("Which medical area or condition is it? Please describe it in a few words."),
        when=lambda a: a.get("specialty") == Specialty.OTHER,
        max_length=300,
    ),
    Step(
        "situation",
        StepKind.CHOICE,
        Text.of("What best describes the situation?"),
        (
            _option(Situation.SURGERY, N_("Major surgery has been recommended")),
            _option(Situation.DIAGNOSIS, N_("The diagnosis is uncertain or has changed")),
            _option(Situation.COMPLEX, N_("A complex case involving several specialists")),
            _option(Situation.OTHER, N_("Something else")),
        ),
    ),
    Step(
        "local_proposal",
        StepKind.TEXT,
        Text.of(
            "What have the patient's doctors proposed so far (treatment, operation or "
            "tests)? Please describe it in your own words."
        ),
        question_to_patient=Text.of(
            "What have your doctors proposed so far (treatment, operation or tests)? "
            "Please describe it in your own words."
        ),
    ),
    Step(
        "questions",
        StepKind.TEXT,
        Text.of(
            "What exactly would you like the specialist to answer? Write your question(s) in "
            "your own words. For example: \u201cIs surgery necessary?\u201d, \u201cIs there a "
            "less invasive alternative?\u201d, \u201cIs the diagnosis definitive?\u201d"
        ),
    ),
    Step(
        "goals",
        StepKind.TEXT,
        Text.of(
            "What matters most to the patient and to you, and what worries you? (optional "
            "\u2014 type \u201cskip\u201d to go on)"
        ),
        optional=True,
        question_to_patient=Text.of(
            "What matters most to you, and what worries you? (optional \u2014 type "
            "\u201cskip\u201d to go on)"
        ),
    ),
    Step(
        "urgency",
        StepKind.MULTI,
        Text.of("Does any of these apply to the patient's situation? You may choose several."),
        (
            _option(Urgency.AGGRESSIVE_CANCER, N_("An aggressive cancer is suspected")),
            _option(Urgency.CARDIAC, N_("A time-sensitive heart problem")),
            _option(Urgency.TREATMENT_SOON, N_("Treatment or surgery is planned within 2 weeks")),
            _option(Urgency.NONE, N_("None of these")),
        ),
        exclusive=frozenset({Urgency.NONE}),
        question_to_patient=Text.of(
            "Does any of these apply to your situation? You may choose several."
        ),
    ),
    Step(
        "service",
        StepKind.CHOICE,
        Text.of("Which service would you like?"),
        (
            _option(Service.WRITTEN, N_("A written opinion")),
            _option(
                Service.WRITTEN_VIDEO,
                N_("A written opinion and a 30\u201345 minute video consultation"),
            ),
            _option(Service.IN_PERSON, N_("A visit or treatment in Belgium")),
        ),
    ),
    Step(
        "report_language",
        StepKind.CHOICE,
        Text.of("In which language would you like to receive the written opinion?"),
        report_language_options(),
    ),
    Step(
        "treatment_history",
        StepKind.TEXT,
        Text.of(
            "Which treatments has the patient received so far? Please give each medicine's "
            "active substance (for example paracetamol rather than a brand name), the dose "
            "and how long it was taken, if you know them. (optional \u2014 type "
            "\u201cskip\u201d if you will send documents instead)"
        ),
        optional=True,
        question_to_patient=Text.of(
            "Which treatments have you received so far? Please give each medicine's active "
            "substance (for example paracetamol rather than a brand name), the dose and how "
            "long it was taken, if you know them. (optional \u2014 type \u201cskip\u201d if "
            "you will send documents instead)"
        ),
    ),
    Step(
        "physician_name",
        StepKind.NAME,
        Text.of("What is the name of the treating physician?"),
        optional=True,
        question_to_patient=Text.of("What is the name of your treating physician?"),
    ),
    Step(
        "physician_hospital",
        StepKind.TEXT,
        Text.of("In which hospital or practice does the treating physician work?"),
        optional=True,
        max_length=300,
    ),
    Step(
        "physician_contact",
        StepKind.CONTACT,
        Text.of("How can we reach the treating physician? (e-mail or phone number; optional)"),
        optional=True,
    ),
    Step(
        "share_with_physician",
        StepKind.YES_NO,
        Text.of("May we send the written opinion to the treating physician as well?"),
        YES_NO_OPTIONS,
        when=lambda a: not is_doctor(a),
    ),
)

STEP_BY_KEY: Mapping[str, Step] = {step.key: step for step in STEPS}
FIRST_STEP = STEPS[0].key

# The doctor writing is the treating physician: their own details replace these questions.
DOCTOR_WORDING: Mapping[str, Text] = {
    "physician_name": Text.of("What is your name, doctor?"),
    "physician_hospital": Text.of("In which hospital or practice do you work?"),
    "physician_contact": Text.of("How can we reach you? (e-mail or phone number)"),
}


def question_of(step: Step, answers: Answers) -> Text:
    """The wording of a step for whoever is writing."""
    if is_doctor(answers) and step.key in DOCTOR_WORDING:
        return DOCTOR_WORDING[step.key]
    return step.question_for(answers)


def next_step(answers: Answers, after: str | None = None) -> Step | None:
    """The first step after `after` (or from the start) that applies and is unanswered."""
    started = after is None
    for step in STEPS:
        if not started:
            started = step.key == after
            continue
        if step.applies(answers) and step.key not in answers:
            return step
    return None


def first_unanswered(answers: Answers) -> Step | None:
    """The first applicable step without an answer, scanning the whole questionnaire."""
    return next(
        (step for step in STEPS if step.applies(answers) and step.key not in answers), None
    )


def prune(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Drop answers to steps that no longer apply after an earlier answer changed."""
    kept = dict(answers)
    for step in STEPS:
        if step.key in kept and not step.applies(kept):
            del kept[step.key]
    return kept


def applicable_steps(answers: Answers) -> tuple[Step, ...]:
    """The steps the branching rules ask for these answers (for progress and review)."""
    return tuple(step for step in STEPS if step.applies(answers))
