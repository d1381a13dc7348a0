"""The questionnaire as data: steps, options, branching, wording and the order of questions."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intake.conversation import SUMMARY_LABELS
from intake.prompts import LanguageName
from intake.questionnaire import (
    DOCTOR_WORDING,
    FIRST_STEP,
    LANGUAGE_NAMES,
    STEP_BY_KEY,
    STEPS,
    YES_NO_OPTIONS,
    StepKind,
    age_on,
    applicable_steps,
    first_unanswered,
    is_doctor,
    language_options,
    next_step,
    prune,
    question_of,
)
from intake.vocabulary import LANGUAGES, Role, Specialty

KEYS = [step.key for step in STEPS]
WITH_OPTIONS = (StepKind.CHOICE, StepKind.MULTI, StepKind.YES_NO)


def keys_of(steps: tuple[Any, ...]) -> list[str]:
    return [step.key for step in steps]


def answered_until(stop: str, **answers: Any) -> dict[str, Any]:
    """A placeholder answer to every step before `stop`, plus `answers`."""
    filled: dict[str, Any] = {}
    for key in KEYS[: KEYS.index(stop)]:
        filled[key] = "x"
    filled.update(answers)
    return filled


# -- the data ---------------------------------------------------------------------------------


def test_step_keys_are_unique_and_indexed() -> None:
    assert len(set(KEYS)) == len(KEYS)
    assert list(STEP_BY_KEY) == KEYS
    assert all(STEP_BY_KEY[step.key] is step for step in STEPS)


def test_the_intake_starts_by_asking_who_is_writing() -> None:
    assert FIRST_STEP == "role" == STEPS[0].key


@pytest.mark.parametrize("step", [s for s in STEPS if s.options], ids=lambda s: s.key)
def test_every_step_with_options_has_unique_option_keys(step: Any) -> None:
    keys = [option.key for option in step.options]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.key)
def test_steps_read_as_choices_offer_options_and_the_others_do_not(step: Any) -> None:
    if step.kind in WITH_OPTIONS:
        assert len(step.options) >= 2
    else:
        assert step.options == ()


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.key)
def test_every_step_has_a_label_in_the_summary(step: Any) -> None:
    assert SUMMARY_LABELS[step.key]


def test_the_summary_labels_name_only_steps_of_the_questionnaire() -> None:
    assert set(SUMMARY_LABELS) == set(KEYS)


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.key)
def test_every_question_and_label_is_a_nonempty_message(step: Any) -> None:
    assert step.question.msgid.strip()
    if step.question_to_patient is not None:
        assert step.question_to_patient.msgid.strip()
    assert all(option.label.msgid.strip() for option in step.options)


def test_an_exclusive_answer_is_one_of_the_step_options() -> None:
    for step in STEPS:
        assert step.exclusive <= {option.key for option in step.options}
    assert STEP_BY_KEY["urgency"].exclusive == {"none"}


def test_only_multiple_choice_steps_have_exclusive_answers() -> None:
    assert [s.key for s in STEPS if s.exclusive] == [
        s.key for s in STEPS if s.kind is StepKind.MULTI
    ]


def test_optional_steps_are_the_ones_a_family_may_leave_to_documents() -> None:
    assert [s.key for s in STEPS if s.optional] == [
        "goals",
        "treatment_history",
        "physician_name",
        "physician_hospital",
        "physician_contact",
    ]


def test_free_text_about_the_medical_area_is_kept_short() -> None:
    assert STEP_BY_KEY["specialty_other"].max_length == 300
    assert STEP_BY_KEY["physician_hospital"].max_length == 300
    assert STEP_BY_KEY["questions"].max_length == 3000


def test_language_options_are_the_six_languages_named_in_their_own_language() -> None:
    options = language_options()
    assert [option.key for option in options] == list(LANGUAGES)
    assert [option.label.msgid for option in options] == [LANGUAGE_NAMES[c] for c in LANGUAGES]
    assert LANGUAGE_NAMES["fr"] == "Français"
    assert LANGUAGE_NAMES["nl"] == "Nederlands"


def test_the_report_language_is_chosen_among_the_six_languages_named_for_the_reader() -> None:
    options = STEP_BY_KEY["report_language"].options
    assert [option.key for option in options] == list(LANGUAGES)
    assert [option.label.params["language"] for option in options] == [
        LanguageName(code, capitalised=True) for code in LANGUAGES
    ]


def test_yes_no_options_are_yes_then_no() -> None:
    assert [option.key for option in YES_NO_OPTIONS] == ["yes", "no"]
    assert STEP_BY_KEY["share_with_physician"].options == YES_NO_OPTIONS


def test_doctor_wording_replaces_only_questions_of_the_questionnaire() -> None:
    assert set(DOCTOR_WORDING) <= set(KEYS)


# -- wording ----------------------------------------------------------------------------------


def test_a_patient_writing_for_themself_is_asked_about_themself() -> None:
    step = STEP_BY_KEY["patient_name"]
    assert question_of(step, {"role": Role.PATIENT}) == step.question_to_patient
    assert "your full name" in question_of(step, {"role": "patient"}).msgid


@pytest.mark.parametrize("role", [Role.PARENT, Role.RELATIVE, None])
def test_someone_writing_for_the_patient_is_asked_about_the_patient(role: Role | None) -> None:
    step = STEP_BY_KEY["patient_name"]
    answers = {} if role is None else {"role": role}
    assert question_of(step, answers) == step.question
    assert "the patient's full name" in question_of(step, answers).msgid


@pytest.mark.parametrize("key", sorted(DOCTOR_WORDING))
def test_the_treating_doctor_is_asked_for_their_own_details(key: str) -> None:
    step = STEP_BY_KEY[key]
    assert question_of(step, {"role": Role.DOCTOR}) == DOCTOR_WORDING[key]
    assert question_of(step, {"role": Role.PARENT}) == step.question


def test_steps_without_special_wording_read_the_same_for_everyone() -> None:
    step = STEP_BY_KEY["situation"]
    for role in Role:
        assert question_of(step, {"role": role}) == step.question


def test_only_the_treating_doctor_role_is_a_doctor() -> None:
    assert is_doctor({"role": Role.DOCTOR})
    assert is_doctor({"role": "doctor"})
    assert not is_doctor({"role": Role.PATIENT})
    assert not is_doctor({})


# -- ages -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("born", "today", "age"),
    [
        ("1975-03-24", date(2026, 11, 21), 51),
        ("2000-11-21", date(2026, 11, 21), 26),
        ("2000-11-22", date(2026, 11, 21), 25),
        ("2000-02-29", date(2026, 2, 28), 25),
        ("2000-02-29", date(2026, 3, 1), 26),
        ("2026-11-21", date(2026, 11, 21), 0),
    ],
)
def test_age_counts_whole_years_up_to_the_birthday(born: str, today: date, age: int) -> None:
    assert age_on(born, today) == age


@pytest.mark.parametrize("born", [None, ""])
def test_age_is_unknown_without_a_birth_date(born: str | None) -> None:
    assert age_on(born, date(2026, 11, 21)) is None


# -- branching --------------------------------------------------------------------------------


def test_the_first_question_is_asked_first() -> None:
    step = next_step({})
    assert step is not None
    assert step.key == "role"
    assert first_unanswered({}) is step


def test_next_step_follows_the_questionnaire_order() -> None:
    step = next_step({"role": Role.PARENT}, after="role")
    assert step is not None
    assert step.key == "patient_name"


def test_next_step_skips_questions_already_answered() -> None:
    answers = {"role": Role.PARENT, "patient_birth_date": "1975-03-24"}
    step = next_step(answers, after="patient_name")
    assert step is not None
    assert step.key == "patient_sex"


def test_next_step_does_not_look_back_at_earlier_unanswered_questions() -> None:
    answers = {"role": Role.PARENT, "situation": "surgery"}
    step = next_step(answers, after="situation")
    assert step is not None
    assert step.key == "local_proposal"
    first = first_unanswered(answers)
    assert first is not None
    assert first.key == "patient_name"


def test_the_other_medical_area_is_described_only_when_chosen() -> None:
    before = answered_until("specialty")
    other = next_step({**before, "specialty": Specialty.OTHER}, after="specialty")
    oncology = next_step({**before, "specialty": Specialty.ONCOLOGY}, after="specialty")
    assert other is not None
    assert oncology is not None
    assert other.key == "specialty_other"
    assert oncology.key == "situation"


def test_the_treating_doctor_is_not_asked_to_share_the_opinion_with_themself() -> None:
    doctor = answered_until("share_with_physician", role=Role.DOCTOR)
    parent = answered_until("share_with_physician", role=Role.PARENT)
    assert next_step(doctor, after="physician_contact") is None
    assert first_unanswered(doctor) is None
    step = next_step(parent, after="physician_contact")
    assert step is not None
    assert step.key == "share_with_physician"


def test_nothing_is_next_after_the_last_question() -> None:
    assert next_step({}, after=KEYS[-1]) is None


def test_nothing_is_unanswered_once_every_applicable_question_is_answered() -> None:
    answers = {key: "x" for key in KEYS}
    answers["role"] = Role.PARENT
    answers["specialty"] = Specialty.OTHER
    assert first_unanswered(answers) is None


def test_an_unanswered_optional_question_is_still_asked() -> None:
    answers = answered_until("goals", role=Role.PARENT, specialty=Specialty.ONCOLOGY)
    step = first_unanswered(answers)
    assert step is not None
    assert step.key == "goals"


def test_a_skipped_optional_question_counts_as_answered() -> None:
    answers = answered_until("urgency", role=Role.PARENT, goals=None)
    step = first_unanswered(answers)
    assert step is not None
    assert step.key == "urgency"


@pytest.mark.parametrize(
    ("answers", "missing"),
    [
        ({"role": Role.PATIENT, "specialty": Specialty.ONCOLOGY}, {"specialty_other"}),
        ({"role": Role.PATIENT, "specialty": Specialty.OTHER}, set()),
        ({"role": Role.DOCTOR, "specialty": Specialty.OTHER}, {"share_with_physician"}),
        (
            {"role": Role.DOCTOR, "specialty": Specialty.CARDIOLOGY},
            {"specialty_other", "share_with_physician"},
        ),
        ({}, {"specialty_other"}),
    ],
)
def test_applicable_steps_follow_the_branching_rules(
    answers: dict[str, Any], missing: set[str]
) -> None:
    assert keys_of(applicable_steps(answers)) == [k for k in KEYS if k not in missing]


def test_changing_the_area_away_from_other_drops_its_description() -> None:
    answers = {"role": Role.PARENT, "specialty": Specialty.ONCOLOGY, "specialty_other": "rare"}
    assert prune(answers) == {"role": Role.PARENT, "specialty": Specialty.ONCOLOGY}


def test_becoming_the_treating_doctor_drops_the_sharing_answer() -> None:
    answers = {"role": Role.DOCTOR, "share_with_physician": True, "goals": None}
    assert prune(answers) == {"role": Role.DOCTOR, "goals": None}


def test_prune_keeps_answers_that_still_apply_and_leaves_its_input_alone() -> None:
    answers = {"role": Role.PARENT, "specialty": Specialty.OTHER, "specialty_other": "rare"}
    original = dict(answers)
    pruned = prune(answers)
    assert pruned == original
    assert pruned is not answers
    assert answers == original


# -- properties -------------------------------------------------------------------------------

VALUES: dict[str, Any] = {
    "role": st.sampled_from(list(Role)),
    "specialty": st.sampled_from(list(Specialty)),
}
any_answers = st.dictionaries(
    st.sampled_from(KEYS),
    st.one_of(st.none(), st.text(max_size=5), st.booleans()),
).flatmap(
    lambda base: st.fixed_dictionaries(
        {},
        optional={key: VALUES[key] for key in VALUES},
    ).map(lambda branching: {**base, **branching})
)


@settings(max_examples=100, deadline=None)
@given(any_answers)
def test_pruned_answers_all_apply_and_pruning_twice_changes_nothing(
    answers: dict[str, Any],
) -> None:
    pruned = prune(answers)
    assert set(pruned) <= set(answers)
    assert all(STEP_BY_KEY[key].applies(pruned) for key in pruned)
    assert prune(pruned) == pruned
    dropped = set(answers) - set(pruned)
    assert dropped <= {"specialty_other", "share_with_physician"}


@settings(max_examples=100, deadline=None)
@given(any_answers)
def test_the_first_unanswered_step_applies_and_is_the_earliest_gap(
    answers: dict[str, Any],
) -> None:
    step = first_unanswered(answers)
    gaps = [s.key for s in applicable_steps(answers) if s.key not in answers]
    if step is None:
        assert gaps == []
    else:
        assert step.key == gaps[0]
        assert step.applies(answers)


@settings(max_examples=100, deadline=None)
@given(any_answers, st.sampled_from(KEYS))
def test_the_next_step_is_a_later_applicable_unanswered_step(
    answers: dict[str, Any], after: str
) -> None:
    step = next_step(answers, after=after)
    later = [
        s.key
        for s in applicable_steps(answers)
        if KEYS.index(s.key) > KEYS.index(after) and s.key not in answers
    ]
    if step is None:
        assert later == []
    else:
        assert step.key == later[0]
