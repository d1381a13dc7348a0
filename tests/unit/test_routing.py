"""Routing: single specialist, co-review or tumour board, adult or paediatric."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake.errors import DomainError, UnknownReviewer
from intake.routing import Reviewer, RouteKind, Routing, age_on, route, specialty_label
from intake.vocabulary import Situation, Specialty, Urgency

TODAY = date(2026, 6, 15)


def answers(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "role": "patient",
        "patient_birth_date": "1970-03-02",
        "specialty": "cardiology",
        "situation": "diagnosis",
        "urgency": ["none"],
        "service": "written",
    }
    base.update(overrides)
    return base


def routed(**overrides: object) -> Routing:
    return route(answers(**overrides), TODAY)


def test_a_plain_cardiology_question_goes_to_one_cardiologist() -> None:
    result = routed()
    assert result.kind is RouteKind.SINGLE_SPECIALIST
    assert result.specialties == ("cardiology",)
    assert not result.paediatric
    assert not result.urgent


def test_proposed_heart_surgery_is_co_reviewed_by_cardiologist_and_surgeon() -> None:
    result = routed(situation="surgery")
    assert result.kind is RouteKind.CO_REVIEW
    assert result.specialties == ("interventional_cardiology", "cardiac_surgery")


@pytest.mark.parametrize("situation", ["complex", "surgery"])
def test_oncology_with_surgery_or_complexity_goes_to_the_tumour_board(situation: str) -> None:
    result = routed(specialty="oncology", situation=situation)
    assert result.kind is RouteKind.TUMOUR_BOARD
    assert result.specialties[0] is Reviewer.MEDICAL_ONCOLOGY
    assert {"surgical_oncology", "radiation_oncology", "pathology"} <= set(result.specialties)


def test_an_aggressive_cancer_goes_to_the_tumour_board_and_is_urgent() -> None:
    result = routed(specialty="oncology", urgency=["aggressive_cancer"])
    assert result.kind is RouteKind.TUMOUR_BOARD
    assert result.urgent


def test_a_simple_oncology_question_goes_to_a_medical_oncologist() -> None:
    result = routed(specialty="oncology", situation="diagnosis")
    assert result.kind is RouteKind.SINGLE_SPECIALIST
    assert result.specialties == ("medical_oncology",)


def test_aggressive_cancer_under_neurology_goes_to_the_board_with_a_neurologist() -> None:
    result = routed(specialty="neurology", urgency=["aggressive_cancer"])
    assert result.kind is RouteKind.TUMOUR_BOARD
    assert "neurology" in result.specialties


def test_transplant_questions_are_always_co_reviewed() -> None:
    result = routed(specialty="transplant", situation="diagnosis")
    assert result.kind is RouteKind.CO_REVIEW
    assert result.specialties == ("transplant_surgery", "transplant_medicine")


def test_orthopaedic_surgery_is_co_reviewed_with_rehabilitation_medicine() -> None:
    result = routed(specialty="orthopaedics", situation="surgery")
    assert result.kind is RouteKind.CO_REVIEW
    assert result.specialties == ("orthopaedic_surgery", "physical_rehabilitation_medicine")


def test_a_complex_neurology_case_is_co_reviewed() -> None:
    result = routed(specialty="neurology", situation="complex")
    assert result.kind is RouteKind.CO_REVIEW
    assert result.specialties == ("neurology", "neurosurgery")


def test_a_child_gets_paediatric_reviewers() -> None:
    result = routed(situation="surgery", patient_birth_date="2015-01-20")
    assert result.paediatric
    assert result.specialties == ("paediatric_cardiology", "paediatric_cardiac_surgery")


def test_a_child_with_cancer_gets_a_paediatric_tumour_board() -> None:
    result = routed(specialty="oncology", situation="complex", patient_birth_date="2019-05-05")
    assert result.kind is RouteKind.TUMOUR_BOARD
    assert result.specialties[0] is Reviewer.PAEDIATRIC_ONCOLOGY
    assert "medical_oncology" not in result.specialties


def test_the_paediatrics_specialty_is_paediatric_even_without_a_birth_date() -> None:
    overrides: dict[str, object] = {"specialty": "paediatrics"}
    data = answers(**overrides)
    del data["patient_birth_date"]
    result = route(data, TODAY)
    assert result.paediatric
    assert result.specialties == ("general_paediatrics",)


def test_the_eighteenth_birthday_makes_the_patient_an_adult() -> None:
    assert routed(patient_birth_date="2008-06-16").paediatric
    assert not routed(patient_birth_date="2008-06-15").paediatric


def test_age_counts_completed_years_including_leap_day_births() -> None:
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18


def test_any_urgency_other_than_none_makes_the_case_urgent() -> None:
    assert routed(urgency=["treatment_soon"]).urgent
    assert routed(urgency=["cardiac", "treatment_soon"]).urgent
    assert not routed(urgency=["none"]).urgent
    assert not routed(urgency=[]).urgent


def test_an_unknown_or_missing_specialty_goes_to_internal_medicine() -> None:
    assert route({}, TODAY).specialties == ("internal_medicine",)
    assert routed(specialty="astrology").specialties == ("internal_medicine",)


def test_an_unreadable_birth_date_is_ignored() -> None:
    assert not routed(patient_birth_date="last spring").paediatric


def test_every_reviewer_has_a_distinct_label() -> None:
    labels = {specialty_label(r).msgid for r in Reviewer}
    assert len(labels) == len(Reviewer)
    assert specialty_label("cardiac_surgery").msgid == "Cardiac surgery"


def test_an_unknown_reviewer_key_is_a_domain_error() -> None:
    with pytest.raises(UnknownReviewer):
        specialty_label("astrology")
    with pytest.raises(DomainError):
        specialty_label("")


intake_answers = st.fixed_dictionaries(
    {
        "specialty": st.sampled_from([s.value for s in Specialty]),
        "situation": st.sampled_from([s.value for s in Situation]),
        "urgency": st.lists(st.sampled_from([u.value for u in Urgency]), unique=True),
        "patient_birth_date": st.dates(date(1920, 1, 1), TODAY).map(date.isoformat),
    }
)


@given(intake_answers)
def test_every_routing_names_reviewers_with_labels_and_a_reason(data: dict[str, object]) -> None:
    result = route(data, TODAY)
    assert result.specialties
    assert len(set(result.specialties)) == len(result.specialties)
    assert all(specialty_label(key).msgid for key in result.specialties)
    assert result.reason.msgid
    expected = {RouteKind.SINGLE_SPECIALIST: 1, RouteKind.CO_REVIEW: 2}.get(result.kind)
    if expected is not None:
        assert len(result.specialties) == expected


@given(intake_answers)
def test_paediatric_routings_name_no_adult_only_reviewer(data: dict[str, object]) -> None:
    result = route(data, TODAY)
    adult_only = {Reviewer.MEDICAL_ONCOLOGY, Reviewer.CARDIAC_SURGERY, Reviewer.NEUROLOGY}
    if result.paediatric:
        assert not adult_only & set(result.specialties)


@given(intake_answers)
def test_oncology_is_never_co_reviewed(data: dict[str, object]) -> None:
    data["specialty"] = "oncology"
    assert route(data, TODAY).kind is not RouteKind.CO_REVIEW
