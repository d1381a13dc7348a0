"""The conversation engine: one family message in, replies and events out, state as a value."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import timedelta
from functools import cache
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from intake import events as ev
from intake.commands import command_help
from intake.conversation import (
    CONFIRM_OPTIONS,
    SUMMARY_LABELS,
    SUMMARY_VALUE_LIMIT,
    Context,
    Conversation,
    Outcome,
    Phase,
    UserInput,
    current_prompts,
    handle,
    start,
)
from intake.prompts import LanguageName, Lines, Option, Prompt, Running, Territory, Text
from intake.questionnaire import (
    CONSENT_VERSION,
    DOCTOR_WORDING,
    STEP_BY_KEY,
    STEPS,
    YES_NO_OPTIONS,
    StepKind,
    applicable_steps,
    first_unanswered,
    language_options,
)
from intake.vocabulary import LANGUAGES
from tests.unit.conversation_helpers import (
    CTX,
    TODAY,
    TYPED_ANSWERS,
    at_review,
    at_step,
    consented,
    msgids,
    play,
    say,
    submitted,
)

LANGUAGE_QUESTION = "Which language would you like to use?"
CONSENT_QUESTION_START = "Before we start"
ERASE_QUESTION_START = "This will permanently erase everything"
SUMMARY = "Here is a summary of your request:\n{lines}\nIs everything correct?"
EDIT_QUESTION = "Which answer would you like to change?"
HELP = "You can write these at any time:\n{commands}"
PROGRESS = "Your request is not sent yet: {done} of {count} question answered."
FILE_REFUSED = (
    "We received your file, but this question needs a typed answer. You can send "
    "your documents once the questions are done."
)
SUBMITTED_THANKS = (
    "Thank you, your message has been added to your file. A coordinator will read it."
)


@cache
def asked(key: str) -> Conversation:
    """A patient's conversation asking `key` (the area is "other" where that step needs it)."""
    if key == "specialty_other":
        return at_step(key, specialty="Other")
    return at_step(key)


def question_prompt(key: str, conversation: Conversation) -> Prompt:
    """The prompt the engine asks for step `key` in this conversation."""
    return current_prompts(
        Conversation(phase=Phase.QUESTIONS, step=key, answers=dict(conversation.answers))
    )[0]


def stored(value: Any) -> Any:
    """Multiple choices as a list, however they were read."""
    return list(value) if isinstance(value, tuple) else value


def event_types(outcome: Outcome) -> list[type]:
    return [type(event) for event in outcome.events]


def summary_lines(prompt: Prompt) -> dict[str, Any]:
    """The summary's lines as label message id → displayed value."""
    lines = prompt.text.params["lines"]
    assert isinstance(lines, Lines)
    shown: dict[str, Any] = {}
    for line in lines.items:
        assert isinstance(line, Text)
        shown[line.params["label"].msgid] = line.params["value"]
    return shown


# -- starting and choosing a language ---------------------------------------------------------


def test_a_new_conversation_greets_and_asks_for_the_language() -> None:
    outcome = start()
    assert outcome.conversation == Conversation()
    assert outcome.conversation.phase is Phase.LANGUAGE
    assert len(outcome.prompts) == 2
    assert outcome.prompts[0].text.msgid.startswith("Hello!")
    assert outcome.prompts[1] == Prompt(Text.of(LANGUAGE_QUESTION), language_options())
    assert outcome.events == []


def test_a_known_language_hint_is_kept_and_an_unknown_one_ignored() -> None:
    assert start("fr").conversation.language == "fr"
    assert start("fr").conversation.locale == "fr"
    assert start("de").conversation.language is None
    assert start("de").conversation.locale == "en"


@pytest.mark.parametrize(
    ("message", "language"),
    [
        ({"choice": "fr"}, "fr"),
        ({"choice": "ar"}, "ar"),
        ({"text": "Français"}, "fr"),
        ({"text": "francais"}, "fr"),
        ({"text": "Nederlands"}, "nl"),
        ({"text": "Русский"}, "ru"),
        ({"text": "Türkçe"}, "tr"),
        ({"text": "العربية"}, "ar"),
        ({"text": "1"}, "ar"),
        ({"text": "2"}, "fr"),
        ({"text": "3"}, "en"),
        ({"text": "6"}, "tr"),
        ({"text": "French"}, "fr"),
        ({"text": "Dutch"}, "nl"),
        ({"text": "english please"}, "en"),
        ({"text": "en"}, "en"),
    ],
)
def test_the_language_can_be_chosen_by_button_name_or_number(
    message: dict[str, Any], language: str
) -> None:
    outcome = say(start().conversation, **message)
    state = outcome.conversation
    assert state.language == language
    assert state.phase is Phase.CONSENT
    assert outcome.events == [ev.LanguageChosen(language)]
    assert msgids(outcome)[0] == "Thank you. We will continue in English."
    assert outcome.prompts[1].text.msgid.startswith(CONSENT_QUESTION_START)
    assert outcome.prompts[1].options == YES_NO_OPTIONS


@pytest.mark.parametrize(
    "message",
    [
        {"text": "Klingon"},
        {"text": "7"},
        {"text": "hello"},
        {"text": "😀"},
        {"text": ""},
        {"choice": "de"},
        {"choice": "yes"},
    ],
)
def test_an_unknown_language_is_asked_again(message: dict[str, Any]) -> None:
    before = start().conversation
    outcome = say(before, **message)
    assert outcome.conversation == before
    assert msgids(outcome) == ["Please choose a language from the list.", LANGUAGE_QUESTION]
    assert outcome.events == []


# -- consent ----------------------------------------------------------------------------------


def test_consent_records_its_version_and_asks_the_first_question() -> None:
    outcome = say(play(start().conversation, "English"), "yes")
    state = outcome.conversation
    assert outcome.events == [ev.ConsentGiven(CONSENT_VERSION)]
    assert state.consent_version == CONSENT_VERSION
    assert state.phase is Phase.QUESTIONS
    assert state.step == "role"
    assert msgids(outcome)[0].startswith("Thank you. We will now ask you some questions")
    assert outcome.prompts[1] == question_prompt("role", state)


@pytest.mark.parametrize("message", [{"choice": "yes"}, {"text": "Oui"}, {"text": "👍"}])
def test_consent_is_given_by_button_or_in_any_language(message: dict[str, Any]) -> None:
    outcome = say(play(start().conversation, "English"), **message)
    assert outcome.events == [ev.ConsentGiven(CONSENT_VERSION)]


def test_the_consent_question_names_its_version() -> None:
    outcome = say(start().conversation, choice="en")
    assert outcome.prompts[1].text.params["version"] == CONSENT_VERSION


@pytest.mark.parametrize("message", [{"choice": "no"}, {"text": "no"}, {"text": "Nee"}])
def test_refusing_consent_ends_the_intake_and_keeps_no_answers(message: dict[str, Any]) -> None:
    outcome = say(play(start().conversation, "Nederlands"), **message)
    state = outcome.conversation
    assert outcome.events == [ev.ConsentRefused()]
    assert state == Conversation(phase=Phase.ENDED, language="nl")
    assert msgids(outcome) == [
        "We respect your decision. Nothing you wrote has been kept. If you change "
        "your mind, just write to us again."
    ]


def test_an_unclear_consent_answer_asks_again() -> None:
    before = play(start().conversation, "English")
    outcome = say(before, "what will you do with it?")
    assert outcome.conversation == before
    assert msgids(outcome)[0] == "Please answer yes or no."
    assert outcome.prompts[1].text.msgid.startswith(CONSENT_QUESTION_START)
    assert outcome.events == []


def test_a_message_after_the_end_starts_a_new_conversation() -> None:
    ended = say(play(start().conversation, "Français"), "non").conversation
    outcome = say(ended, "bonjour")
    assert outcome.conversation == Conversation(language="fr")
    assert outcome.prompts == start("fr").prompts
    assert outcome.events == []


# -- answering each question ------------------------------------------------------------------

ADVANCES = [
    ("role", "I am the patient", "patient", "patient_name"),
    ("patient_name", "  Jan   Peeters ", "Jan Peeters", "patient_birth_date"),
    ("patient_birth_date", "24/03/1975", "1975-03-24", "patient_sex"),
    ("patient_sex", "Female", "female", "patient_country"),
    ("patient_country", "Belgium", "BE", "specialty"),
    ("specialty", "Oncology (cancer)", "oncology", "situation"),
    ("specialty_other", "A rare metabolic disease", "A rare metabolic disease", "situation"),
    ("situation", "2", "diagnosis", "local_proposal"),
    ("local_proposal", "Removing part of the pancreas", "Removing part of the pancreas",
     "questions"),
    ("questions", "Is surgery necessary?", "Is surgery necessary?", "goals"),
    ("goals", "Keep working", "Keep working", "urgency"),
    ("urgency", "2", ["cardiac"], "service"),
    ("service", "3", "in_person", "report_language"),
    ("report_language", "Nederlands", "nl", "treatment_history"),
    ("treatment_history", "Two cycles of FOLFIRINOX", "Two cycles of FOLFIRINOX",
     "physician_name"),
    ("physician_name", "Dr. Anna Maes", "Dr. Anna Maes", "physician_hospital"),
    ("physician_hospital", "AZ Sint-Jan", "AZ Sint-Jan", "physician_contact"),
    ("physician_contact", "+32 50 45 21 11", "+3250452111", "share_with_physician"),
    ("share_with_physician", "no", False, None),
]


def test_the_table_of_answers_covers_every_step() -> None:
    assert [key for key, *_ in ADVANCES] == [step.key for step in STEPS]


@pytest.mark.parametrize(("key", "typed", "value", "following"), ADVANCES, ids=lambda x: str(x))
def test_a_valid_typed_answer_is_stored_and_the_next_question_asked(
    key: str, typed: str, value: Any, following: str | None
) -> None:
    before = asked(key)
    outcome = say(before, typed)
    state = outcome.conversation
    assert stored(state.answers[key]) == value
    assert {k: v for k, v in state.answers.items() if k != key} == before.answers
    assert state.history == [*before.history, key]
    assert outcome.events == []
    if following is None:
        assert state.phase is Phase.REVIEW
        assert state.step is None
        assert msgids(outcome) == [SUMMARY]
    else:
        assert state.phase is Phase.QUESTIONS
        assert state.step == following
        assert outcome.prompts == [question_prompt(following, state)]


BUTTONS = [
    ("role", "doctor", "doctor"),
    ("patient_sex", "other", "other"),
    ("specialty", "transplant", "transplant"),
    ("situation", "complex", "complex"),
    ("service", "written_video", "written_video"),
    ("report_language", "tr", "tr"),
    ("share_with_physician", "yes", True),
    ("share_with_physician", "no", False),
]


@pytest.mark.parametrize(("key", "choice", "value"), BUTTONS)
def test_a_tapped_option_is_stored_by_its_key(key: str, choice: str, value: Any) -> None:
    state = say(asked(key), choice=choice).conversation
    assert state.answers[key] == value
    assert state.step != key


@pytest.mark.parametrize("step", [s for s in STEPS if s.options], ids=lambda s: s.key)
def test_questions_with_options_offer_them_as_buttons(step: Any) -> None:
    prompt = current_prompts(asked(step.key))[0]
    assert prompt.options == step.options
    assert prompt.multiple is (step.kind is StepKind.MULTI)


def _invalid_cases() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = []
    for step in STEPS:
        for text in ["", "   ", "😀🙏", "x" * 10_000]:
            cases.append((step.key, {"text": text}))
        cases.append((step.key, {"files": 1}))
        cases.append((step.key, {"files": 2, "text": "  "}))
        cases.append((step.key, {"choice": "not-an-option"}))
    specific = {
        "role": ["9", "0", "skip", "someone"],
        "patient_name": ["12345", "x"],
        "patient_birth_date": ["31/02/1980", "22/11/2026", "21/11/1895", "1980", "24/03/75",
                               "yesterday"],
        "patient_sex": ["9"],
        "patient_country": ["Atlantis"],
        "specialty": ["8"],
        "specialty_other": ["x" * 301],
        "situation": ["9"],
        "urgency": ["9", "1, 4", "none and cardiac", "1, 9"],
        "service": ["4"],
        "report_language": ["Klingon", "7"],
        "physician_hospital": ["x" * 301],
        "physician_contact": ["anna@", "12", "050 45 21 11"],
        "share_with_physician": ["maybe", "3"],
    }
    for key, texts in specific.items():
        cases.extend((key, {"text": text}) for text in texts)
    cases.append(("urgency", {"choices": ("cardiac", "none")}))
    cases.append(("urgency", {"choices": ("cardiac", "bogus")}))
    cases.append(("urgency", {"choices": ()}))
    return cases


@pytest.mark.parametrize(
    ("key", "message"),
    _invalid_cases(),
    ids=lambda x: x if isinstance(x, str) else repr(x)[:40],
)
def test_an_invalid_answer_says_why_then_asks_the_same_question_again(
    key: str, message: dict[str, Any]
) -> None:
    before = asked(key)
    outcome = say(before, **message)
    assert outcome.conversation == before
    assert outcome.events == []
    assert len(outcome.prompts) == 2
    reason, question = outcome.prompts
    assert question == current_prompts(before)[0]
    assert reason.options == ()
    assert reason.text != question.text
    assert reason.text.msgid.strip()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("31/02/1980", "This date does not exist"),
        ("22/11/2026", "This date is in the future"),
        ("21/11/1895", "This date is more than {count} year ago"),
    ],
)
def test_an_impossible_birth_date_is_explained(text: str, reason: str) -> None:
    outcome = say(asked("patient_birth_date"), text)
    assert msgids(outcome)[0].startswith(reason)


def test_the_oldest_accepted_birth_date_is_130_years_ago() -> None:
    state = say(asked("patient_birth_date"), "21/11/1896").conversation
    assert state.answers["patient_birth_date"] == "1896-11-21"
    assert TODAY.isoformat() == "2026-11-21"


def test_a_file_sent_instead_of_an_answer_is_explained() -> None:
    outcome = say(asked("questions"), files=1)
    assert msgids(outcome)[0] == FILE_REFUSED


def test_an_overlong_answer_gives_the_limit_and_its_length() -> None:
    outcome = say(asked("questions"), "x" * 10_000)
    reason = outcome.prompts[0].text
    assert reason.params["limit"] == 3000
    assert reason.params["length"] == 10_000


def test_an_option_number_out_of_range_gives_the_range() -> None:
    outcome = say(asked("situation"), "9")
    assert outcome.prompts[0].text.params["count"] == 4


def test_a_file_with_a_typed_answer_counts_as_the_answer() -> None:
    state = say(asked("questions"), "Is surgery necessary?", files=1).conversation
    assert state.answers["questions"] == "Is surgery necessary?"
    assert state.step == "goals"


def test_handling_a_message_leaves_the_given_conversation_unchanged() -> None:
    before = asked("urgency")
    snapshot = copy.deepcopy(before)
    for message in ({"text": "1, 3"}, {"choices": ("cardiac",)}, {"text": "/restart"},
                    {"text": "erase my data"}, {"text": "Nederlands"}):
        say(before, **message)
    assert before == snapshot


def test_the_phone_region_lets_a_local_number_be_understood() -> None:
    ctx = Context(today=TODAY, translate=CTX.translate, phone_region="BE")
    state = say(asked("physician_contact"), "050 45 21 11", ctx=ctx).conversation
    assert state.answers["physician_contact"] == "+3250452111"


# -- branching and wording --------------------------------------------------------------------


def test_choosing_another_medical_area_asks_to_describe_it() -> None:
    outcome = say(asked("specialty"), "Other")
    assert outcome.conversation.step == "specialty_other"
    assert msgids(outcome) == [STEP_BY_KEY["specialty_other"].question.msgid]


@pytest.mark.parametrize("choice", ["oncology", "cardiology", "paediatrics"])
def test_a_listed_medical_area_is_not_described_again(choice: str) -> None:
    state = say(asked("specialty"), choice=choice).conversation
    assert state.step == "situation"
    final = play(state, *[TYPED_ANSWERS[s.key] for s in STEPS[7:]])
    assert final.phase is Phase.REVIEW
    assert "specialty_other" not in final.answers


def _questions_asked(**typed: str) -> dict[str, str]:
    """Every question asked on the way to the review, as step key → message id."""
    answers = {**TYPED_ANSWERS, **typed}
    state = consented()
    asked_: dict[str, str] = {"role": current_prompts(state)[0].text.msgid}
    while state.phase is Phase.QUESTIONS:
        assert state.step is not None
        outcome = say(state, answers[state.step])
        state = outcome.conversation
        if state.step is not None:
            asked_[state.step] = outcome.prompts[-1].text.msgid
    return asked_


def test_the_treating_doctor_is_asked_about_themself_and_not_about_sharing() -> None:
    questions = _questions_asked(role="The treating doctor")
    assert "share_with_physician" not in questions
    for key, wording in DOCTOR_WORDING.items():
        assert questions[key] == wording.msgid
    assert questions["patient_name"] == STEP_BY_KEY["patient_name"].question.msgid


def test_the_treating_doctor_goes_from_the_physician_contact_to_the_review() -> None:
    before = at_step("physician_contact", role="doctor")
    outcome = say(before, "anna.maes@example.org")
    assert outcome.conversation.phase is Phase.REVIEW
    assert "share_with_physician" not in outcome.conversation.answers


def test_the_patient_is_asked_about_themself() -> None:
    questions = _questions_asked(role="I am the patient")
    for key, wording in questions.items():
        step = STEP_BY_KEY[key]
        expected = step.question_to_patient or step.question
        assert wording == expected.msgid
    assert questions["patient_name"].startswith("What is your full name")
    assert questions["share_with_physician"] == STEP_BY_KEY["share_with_physician"].question.msgid


@pytest.mark.parametrize("role", ["A parent of the patient", "Another relative or friend"])
def test_someone_writing_for_the_patient_is_asked_about_the_patient(role: str) -> None:
    questions = _questions_asked(role=role)
    for key, wording in questions.items():
        assert wording == STEP_BY_KEY[key].question.msgid


# -- optional questions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "word", ["skip", "Skip!", "passer", "overslaan", "пропустить", "atla", "تخطي", "-", "--"]
)
def test_an_optional_question_is_skipped_in_any_language(word: str) -> None:
    state = say(asked("goals"), word).conversation
    assert "goals" in state.answers
    assert state.answers["goals"] is None
    assert state.step == "urgency"


@pytest.mark.parametrize("step", [s for s in STEPS if s.optional], ids=lambda s: s.key)
def test_every_optional_question_can_be_skipped(step: Any) -> None:
    state = say(asked(step.key), "skip").conversation
    assert state.answers[step.key] is None
    assert state.step != step.key


def test_a_skipped_answer_shows_as_skipped_in_the_summary() -> None:
    state = at_review(goals="skip")
    assert summary_lines(current_prompts(state)[0])["What matters to you"] == Text("(skipped)")


# -- several choices --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "value"),
    [
        ({"text": "1, 3"}, ["aggressive_cancer", "treatment_soon"]),
        ({"text": "3 1"}, ["aggressive_cancer", "treatment_soon"]),
        ({"text": "4"}, ["none"]),
        ({"text": "None of these"}, ["none"]),
        ({"choices": ("treatment_soon", "cardiac")}, ["cardiac", "treatment_soon"]),
        ({"choices": ("none",)}, ["none"]),
        ({"choice": "cardiac"}, ["cardiac"]),
    ],
)
def test_several_urgency_signals_are_read_in_option_order(
    message: dict[str, Any], value: list[str]
) -> None:
    state = say(asked("urgency"), **message).conversation
    assert stored(state.answers["urgency"]) == value
    assert state.step == "service"


def test_none_of_these_cannot_be_combined_with_a_tapped_signal() -> None:
    outcome = say(asked("urgency"), choices=("cardiac", "none"))
    assert msgids(outcome)[0] == "\u201cNone of these\u201d cannot be combined with other answers."


def test_none_of_these_cannot_be_combined_with_a_typed_signal() -> None:
    outcome = say(asked("urgency"), "1, 4")
    assert msgids(outcome)[0].endswith(
        "cannot be combined with other answers. Please choose again."
    )


# -- review, confirmation and edits -----------------------------------------------------------


def test_the_last_answer_shows_the_summary_with_confirm_and_edit() -> None:
    outcome = say(asked("share_with_physician"), "yes")
    assert outcome.conversation.phase is Phase.REVIEW
    assert len(outcome.prompts) == 1
    summary = outcome.prompts[0]
    assert summary.text.msgid == SUMMARY
    assert summary.options == CONFIRM_OPTIONS
    assert [option.key for option in CONFIRM_OPTIONS] == ["confirm", "edit"]


def test_the_summary_lists_every_answer_in_order_with_readable_values() -> None:
    state = at_review()
    lines = summary_lines(current_prompts(state)[0])
    assert list(lines) == [SUMMARY_LABELS[s.key] for s in applicable_steps(state.answers)]
    assert lines["Writing"] == Running(Text("I am the patient"))
    assert lines["Patient"] == "Jan Peeters"
    assert lines["Date of birth"].isoformat() == "1975-03-24"
    assert lines["Country of residence"] == Territory("BE")
    assert lines["Urgency"] == (
        Text("An aggressive cancer is suspected"),
        Text("Treatment or surgery is planned within 2 weeks"),
    )
    assert lines["Language of the written opinion"] == LanguageName("en")
    assert lines["Send the opinion to the physician"] == Running(Text("Yes"))


def test_a_long_answer_is_shortened_in_the_summary() -> None:
    state = at_review(questions="Why " * 100)
    shown = summary_lines(current_prompts(state)[0])["Your questions"]
    assert shown == ("Why " * 100).strip()[:SUMMARY_VALUE_LIMIT] + "\u2026"
    assert state.answers["questions"] == ("Why " * 100).strip()


@pytest.mark.parametrize(
    "message",
    [{"choice": "confirm"}, {"text": "yes"}, {"text": "1"}, {"text": "Yes, send my request"},
     {"text": "👍"}],
)
def test_confirming_the_summary_submits_every_answer(message: dict[str, Any]) -> None:
    before = at_review()
    outcome = say(before, **message)
    state = outcome.conversation
    assert outcome.events == [ev.IntakeCompleted(before.answers)]
    assert state.phase is Phase.SUBMITTED
    assert state.step is None
    assert state.answers == before.answers
    assert first_unanswered(state.answers) is None
    assert outcome.prompts == []


@pytest.mark.parametrize(
    "message", [{"choice": "edit"}, {"text": "no"}, {"text": "2"}, {"text": "Change an answer"}]
)
def test_choosing_to_change_an_answer_lists_the_answers(message: dict[str, Any]) -> None:
    before = at_review()
    outcome = say(before, **message)
    assert outcome.conversation.phase is Phase.EDIT_PICK
    assert outcome.conversation.answers == before.answers
    assert len(outcome.prompts) == 1
    prompt = outcome.prompts[0]
    assert prompt.text.msgid == EDIT_QUESTION
    assert prompt.options == tuple(
        Option(s.key, Text(SUMMARY_LABELS[s.key])) for s in applicable_steps(before.answers)
    )


def test_an_unclear_review_answer_shows_the_summary_again() -> None:
    before = at_review()
    outcome = say(before, "hmm, let me think")
    assert outcome.conversation == before
    assert msgids(outcome) == ["Please confirm, or choose to change an answer.", SUMMARY]
    assert outcome.events == []


@pytest.mark.parametrize("message", [{"choice": "service"}, {"text": "Service"}])
def test_a_changed_answer_returns_straight_to_the_review(message: dict[str, Any]) -> None:
    review = at_review()
    picking = say(review, choice="edit").conversation
    outcome = say(picking, **message)
    state = outcome.conversation
    assert (state.phase, state.step, state.editing) == (Phase.QUESTIONS, "service", True)
    assert outcome.prompts == [question_prompt("service", state)]
    outcome = say(state, "3")
    state = outcome.conversation
    assert state.phase is Phase.REVIEW
    assert not state.editing
    assert state.answers == {**review.answers, "service": "in_person"}
    assert msgids(outcome) == [SUMMARY]


def test_an_invalid_answer_while_editing_asks_the_same_question() -> None:
    editing = say(say(at_review(), choice="edit").conversation, choice="situation").conversation
    outcome = say(editing, "9")
    assert outcome.conversation == editing
    assert outcome.prompts[1] == question_prompt("situation", editing)


def test_an_unknown_answer_to_change_is_asked_again() -> None:
    picking = say(at_review(), choice="edit").conversation
    for message in ({"text": "the weather"}, {"choice": "specialty_other"}, {"text": ""}):
        outcome = say(picking, **message)
        assert outcome.conversation == picking
        assert msgids(outcome) == ["Please choose the answer you want to change.", EDIT_QUESTION]


def test_changing_the_area_from_other_to_oncology_forgets_its_description() -> None:
    review = at_review(specialty="Other")
    assert review.answers["specialty_other"] == TYPED_ANSWERS["specialty_other"]
    editing = say(say(review, choice="edit").conversation, choice="specialty").conversation
    outcome = say(editing, "Oncology (cancer)")
    state = outcome.conversation
    assert state.phase is Phase.REVIEW
    assert state.answers["specialty"] == "oncology"
    assert "specialty_other" not in state.answers
    assert "Area or condition" not in summary_lines(outcome.prompts[0])


def test_changing_the_area_to_other_asks_to_describe_it_before_the_review() -> None:
    editing = say(say(at_review(), choice="edit").conversation, choice="specialty").conversation
    outcome = say(editing, "Other")
    assert outcome.conversation.step == "specialty_other"
    outcome = say(outcome.conversation, "A rare metabolic disease")
    assert outcome.conversation.phase is Phase.REVIEW
    assert outcome.conversation.answers["specialty_other"] == "A rare metabolic disease"


def test_no_longer_being_the_treating_doctor_asks_about_sharing_before_the_review() -> None:
    review = at_review(role="doctor")
    assert "share_with_physician" not in review.answers
    editing = say(say(review, choice="edit").conversation, choice="role").conversation
    outcome = say(editing, "A parent of the patient")
    assert outcome.conversation.step == "share_with_physician"
    state = say(outcome.conversation, "no").conversation
    assert state.phase is Phase.REVIEW
    assert state.answers["share_with_physician"] is False


def test_becoming_the_treating_doctor_forgets_the_sharing_answer() -> None:
    editing = say(say(at_review(), choice="edit").conversation, choice="role").conversation
    state = say(editing, choice="doctor").conversation
    assert state.phase is Phase.REVIEW
    assert "share_with_physician" not in state.answers


# -- commands ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["/help", "help", "?", "Aide", "help please"])
def test_help_lists_the_commands_then_repeats_the_question(text: str) -> None:
    before = asked("patient_sex")
    outcome = say(before, text)
    assert outcome.conversation == before
    assert len(outcome.prompts) == 2
    listing = outcome.prompts[0].text
    assert listing.msgid == HELP
    commands = listing.params["commands"]
    assert isinstance(commands, Lines)
    assert len(commands.items) == len(command_help())
    assert outcome.prompts[1] == current_prompts(before)[0]
    assert outcome.events == []


@pytest.mark.parametrize(
    "state",
    [start().conversation, play(start().conversation, "English"), at_review()],
    ids=["language", "consent", "review"],
)
def test_help_repeats_whatever_is_being_asked(state: Conversation) -> None:
    outcome = say(state, "/help")
    assert outcome.prompts[1:] == current_prompts(state)


def test_back_asks_the_previous_question_again_and_keeps_the_answers() -> None:
    before = asked("patient_sex")
    outcome = say(before, "/back")
    state = outcome.conversation
    assert state.step == "patient_birth_date"
    assert state.answers == before.answers
    assert outcome.prompts == [question_prompt("patient_birth_date", state)]
    following = say(state, "25/03/1975").conversation
    assert following.answers["patient_birth_date"] == "1975-03-25"
    assert following.step == "patient_sex"


def test_back_twice_goes_two_questions_back() -> None:
    state = play(asked("patient_sex"), "back", "terug")
    assert state.step == "patient_name"


def test_back_at_the_first_question_asks_the_language_without_asking_consent_again() -> None:
    outcome = say(consented(), "/back")
    state = outcome.conversation
    assert state.phase is Phase.LANGUAGE
    assert msgids(outcome) == [LANGUAGE_QUESTION]
    outcome = say(state, "Français")
    assert outcome.conversation.phase is Phase.QUESTIONS
    assert outcome.conversation.step == "role"
    assert outcome.conversation.language == "fr"
    assert outcome.events == [ev.LanguageChosen("fr")]


def test_back_at_the_consent_question_asks_the_language() -> None:
    outcome = say(play(start().conversation, "English"), "/back")
    assert outcome.conversation.phase is Phase.LANGUAGE
    assert msgids(outcome) == [LANGUAGE_QUESTION]


def test_back_at_the_language_question_has_nothing_to_go_back_to() -> None:
    outcome = say(start().conversation, "/back")
    assert outcome.conversation.phase is Phase.LANGUAGE
    assert msgids(outcome) == ["There is no earlier answer to change here.", LANGUAGE_QUESTION]


def test_back_from_the_review_asks_the_last_question_then_returns_to_the_review() -> None:
    review = at_review()
    outcome = say(review, "/back")
    state = outcome.conversation
    assert (state.phase, state.step) == (Phase.QUESTIONS, "share_with_physician")
    state = say(state, "no").conversation
    assert state.phase is Phase.REVIEW
    assert state.answers == {**review.answers, "share_with_physician": False}


@pytest.mark.parametrize("text", ["/restart", "start over", "recommencer"])
def test_restart_clears_the_answers_but_keeps_the_consent(text: str) -> None:
    before = asked("urgency")
    outcome = say(before, text)
    state = outcome.conversation
    assert state == consented(language="en")
    assert msgids(outcome)[0] == "Let us start again from the beginning."
    assert outcome.prompts[1] == question_prompt("role", state)


def test_restart_before_consent_asks_for_consent() -> None:
    outcome = say(play(start().conversation, "English"), "/restart")
    assert outcome.conversation.phase is Phase.CONSENT
    assert outcome.prompts[1].text.msgid.startswith(CONSENT_QUESTION_START)


def test_status_counts_the_questions_answered_and_repeats_the_question() -> None:
    before = asked("patient_sex")
    outcome = say(before, "/status")
    assert outcome.events == [ev.StatusRequested()]
    progress = outcome.prompts[0].text
    assert progress.msgid == PROGRESS
    assert progress.params == {"done": 3, "count": len(applicable_steps(before.answers))}
    assert progress.count == 18
    assert outcome.prompts[1] == current_prompts(before)[0]
    assert outcome.conversation == before


def test_status_before_the_questions_repeats_what_is_asked() -> None:
    outcome = say(play(start().conversation, "English"), "status")
    assert outcome.events == [ev.StatusRequested()]
    assert len(outcome.prompts) == 1
    assert outcome.prompts[0].text.msgid.startswith(CONSENT_QUESTION_START)


@pytest.mark.parametrize("text", ["/human", "talk to a person", "un humain"])
def test_asking_for_a_person_hands_the_conversation_over(text: str) -> None:
    before = asked("patient_sex")
    outcome = say(before, text)
    assert outcome.conversation.handoff
    assert outcome.events == [ev.HandoffRequested()]
    assert len(outcome.prompts) == 1
    assert msgids(outcome)[0].startswith("We have asked a coordinator to join")


@pytest.mark.parametrize(
    "message",
    [{"text": "Female"}, {"text": "I am worried"}, {"choice": "female"}, {"files": 1},
     {"choices": ("cardiac",)}, {"text": ""}],
)
def test_during_a_handoff_messages_go_to_the_coordinator_without_replies(
    message: dict[str, Any]
) -> None:
    handed_over = say(asked("patient_sex"), "/human").conversation
    outcome = say(handed_over, **message)
    assert outcome.events == [ev.MessageForCoordinator()]
    assert outcome.prompts == []
    assert outcome.conversation == handed_over


@pytest.mark.parametrize("text", ["/stop", "stop reminders", "arrêter les rappels"])
def test_stopping_reminders_is_acknowledged_and_the_question_repeated(text: str) -> None:
    before = asked("questions")
    outcome = say(before, text)
    assert outcome.events == [ev.RemindersStopped()]
    assert msgids(outcome)[0].startswith("Understood: we will not send you reminders")
    assert outcome.prompts[1] == current_prompts(before)[0]
    assert outcome.conversation == before


@pytest.mark.parametrize("text", ["/erase", "erase my data", "supprimer mes données"])
def test_erasing_asks_for_confirmation_first(text: str) -> None:
    before = asked("questions")
    outcome = say(before, text)
    state = outcome.conversation
    assert state.phase is Phase.CONFIRM_ERASE
    assert state.answers == before.answers
    assert outcome.events == []
    assert len(outcome.prompts) == 1
    assert outcome.prompts[0].text.msgid.startswith(ERASE_QUESTION_START)
    assert outcome.prompts[0].options == YES_NO_OPTIONS


@pytest.mark.parametrize("message", [{"choice": "yes"}, {"text": "yes"}, {"text": "evet"}])
def test_confirmed_erasure_ends_the_conversation_and_forgets_everything(
    message: dict[str, Any]
) -> None:
    confirming = say(asked("questions"), "erase my data").conversation
    outcome = say(confirming, **message)
    assert outcome.events == [ev.ErasureConfirmed()]
    assert outcome.conversation == Conversation(phase=Phase.ENDED, language="en")
    assert msgids(outcome)[0].startswith("Everything you sent us has been erased")


@pytest.mark.parametrize("message", [{"choice": "no"}, {"text": "no"}])
def test_declined_erasure_continues_with_the_same_question(message: dict[str, Any]) -> None:
    before = asked("questions")
    confirming = say(before, "erase my data").conversation
    outcome = say(confirming, **message)
    assert outcome.conversation == before
    assert outcome.events == []
    assert msgids(outcome)[0] == "Nothing has been erased. Let us continue."
    assert outcome.prompts[1] == current_prompts(before)[0]


@pytest.mark.parametrize(
    "before",
    [at_review(), submitted(), play(start().conversation, "English")],
    ids=["review", "submitted", "consent"],
)
def test_declined_erasure_returns_to_where_the_family_was(before: Conversation) -> None:
    state = play(before, "erase my data", "no")
    assert state == before


def test_an_unclear_erasure_answer_asks_again() -> None:
    confirming = say(asked("questions"), "erase my data").conversation
    outcome = say(confirming, "what does that mean")
    assert outcome.conversation == confirming
    assert msgids(outcome)[0] == "Please answer yes or no."
    assert outcome.prompts[1].text.msgid.startswith(ERASE_QUESTION_START)


@pytest.mark.parametrize("text", ["/prices", "how much does it cost", "prix"])
def test_asking_for_prices_is_an_event_and_the_question_is_repeated(text: str) -> None:
    before = asked("service")
    outcome = say(before, text)
    assert outcome.events == [ev.PricesRequested()]
    assert outcome.prompts == current_prompts(before)
    assert outcome.conversation == before


def test_an_upload_link_is_promised_for_after_the_questions() -> None:
    before = asked("service")
    outcome = say(before, "/link")
    assert outcome.events == []
    assert msgids(outcome)[0].startswith("You will receive a secure link")
    assert outcome.prompts[1:] == current_prompts(before)


def test_an_upload_link_is_requested_once_the_request_is_sent() -> None:
    outcome = say(submitted(), "/link")
    assert outcome.events == [ev.NewLinkRequested()]


def test_the_language_command_asks_the_language_then_resumes_the_question() -> None:
    before = asked("patient_country")
    outcome = say(before, "/language")
    assert outcome.conversation.phase is Phase.LANGUAGE
    assert msgids(outcome) == [LANGUAGE_QUESTION]
    outcome = say(outcome.conversation, "Русский")
    state = outcome.conversation
    assert state.language == "ru"
    assert (state.phase, state.step, state.answers) == (
        Phase.QUESTIONS, "patient_country", before.answers,
    )
    assert outcome.prompts[1] == current_prompts(before)[0]


# -- switching language -----------------------------------------------------------------------


def test_writing_a_language_name_mid_intake_switches_and_repeats_the_question() -> None:
    before = asked("patient_sex")
    outcome = say(before, "Nederlands")
    state = outcome.conversation
    assert outcome.events == [ev.LanguageChosen("nl")]
    assert state.language == "nl"
    assert (state.phase, state.step, state.answers, state.history) == (
        before.phase, before.step, before.answers, before.history,
    )
    assert msgids(outcome)[0] == "Thank you. We will continue in English."
    assert outcome.prompts[1] == current_prompts(before)[0]


def test_on_the_report_language_question_a_language_name_is_the_answer() -> None:
    outcome = say(asked("report_language"), "Français")
    state = outcome.conversation
    assert state.answers["report_language"] == "fr"
    assert state.language == "en"
    assert state.step == "treatment_history"
    assert outcome.events == []


def test_switching_language_before_consent_asks_for_consent_again() -> None:
    outcome = say(play(start().conversation, "English"), "Türkçe")
    assert outcome.conversation.phase is Phase.CONSENT
    assert outcome.conversation.consent_version is None
    assert outcome.conversation.language == "tr"


def test_switching_language_at_the_review_shows_the_summary_again() -> None:
    before = at_review()
    outcome = say(before, "العربية")
    assert outcome.conversation.phase is Phase.REVIEW
    assert outcome.conversation.language == "ar"
    assert msgids(outcome)[1] == SUMMARY


# -- after submission -------------------------------------------------------------------------


def test_a_message_after_submission_goes_to_the_coordinator_and_is_acknowledged() -> None:
    before = submitted()
    outcome = say(before, "I will send the scans tomorrow")
    assert outcome.events == [ev.MessageForCoordinator()]
    assert msgids(outcome) == [SUBMITTED_THANKS]
    assert outcome.conversation == before


FOLLOW_UP_THANKS = (
    "Thank you for your question. It has gone straight to your coordinator, who will "
    "answer within {count} working day. You can send questions about the opinion until "
    "{until}."
)


@given(st.integers(min_value=-40, max_value=40))
def test_a_question_in_the_follow_up_period_is_acknowledged_with_the_answer_time(
    offset: int,
) -> None:
    until = TODAY + timedelta(days=offset)
    ctx = replace(CTX, follow_up_until=until)
    before = submitted()
    outcome = say(before, "Should she still take the tablets?", ctx=ctx)
    assert outcome.events == [ev.MessageForCoordinator()]
    assert outcome.conversation == before
    (prompt,) = outcome.prompts
    if offset >= 0:  # up to and including the last day
        assert prompt.text.msgid == FOLLOW_UP_THANKS
        assert prompt.text.count == 2
        assert dict(prompt.text.params)["until"] == until
    else:
        assert prompt.text.msgid == SUBMITTED_THANKS


def test_a_file_after_submission_goes_to_the_coordinator() -> None:
    outcome = say(submitted(), files=1)
    assert outcome.events == [ev.MessageForCoordinator()]
    assert outcome.prompts == []


def test_status_after_submission_is_left_to_the_application() -> None:
    outcome = say(submitted(), "/status")
    assert outcome.events == [ev.StatusRequested()]
    assert outcome.prompts == []


# -- storage ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [
        Conversation(),
        start("fr").conversation,
        consented(),
        asked("urgency"),
        at_review(role="doctor", specialty="Other", goals="skip"),
        submitted(),
        say(asked("questions"), "erase my data").conversation,
        say(asked("questions"), "/human").conversation,
        say(say(at_review(), choice="edit").conversation, choice="role").conversation,
    ],
    ids=["new", "hint", "consented", "asking", "review", "submitted", "erasing", "handoff",
         "editing"],
)
def test_a_stored_conversation_reads_back_equal(state: Conversation) -> None:
    data = state.to_json()
    assert Conversation.from_json(data) == state
    text = json.dumps(data)
    assert json.loads(text)["phase"] == state.phase.value


def test_an_empty_stored_state_is_a_new_conversation() -> None:
    assert Conversation.from_json({}) == Conversation()


def test_to_json_is_a_copy_of_the_state() -> None:
    state = asked("urgency")
    data = state.to_json()
    data["answers"]["role"] = "doctor"
    data["history"].append("x")
    assert state.answers["role"] == "patient"
    assert "x" not in state.history


# -- properties over any sequence of messages -------------------------------------------------

OPTION_KEYS = sorted(
    {o.key for s in STEPS for o in s.options}
    | {"yes", "no", "confirm", "edit", "bogus", *LANGUAGES, *STEP_BY_KEY}
)
ALTERNATIVES = {
    "role": "The treating doctor",
    "specialty": "Other",
    "urgency": "4",
    "goals": "skip",
    "share_with_physician": "no",
    "report_language": "Français",
    "physician_contact": "+32 50 45 21 11",
}
WORDS = [
    "", "   ", "😀", "!!!", "x" * 3001, "31/02/1980", "9", "0", "maybe", "1, 4", "Atlantis",
    "yes", "no", "skip", "-", "Nederlands", "Français", "French", "English", "FR", "1", "2",
    "3", "confirm", "edit", "Change an answer", "Other", "doctor", "Service", "thanks",
    *TYPED_ANSWERS.values(), *ALTERNATIVES.values(),
]
COMMANDS = [
    "/help", "help", "?", "/back", "back", "/restart", "/status", "/human", "/stop",
    "erase my data", "/prices", "/link", "/language", "/unknown", "/skip",
]

Move = tuple[str, Any]
valid_move = st.tuples(st.just("valid"), st.integers(0, 3))
moves = st.lists(
    st.one_of(
        valid_move,
        valid_move,
        valid_move,
        valid_move,
        valid_move,
        st.tuples(st.just("text"), st.sampled_from(WORDS)),
        st.tuples(st.just("text"), st.sampled_from(COMMANDS)),
        st.tuples(st.just("text"), st.text(max_size=20)),
        st.tuples(st.just("choice"), st.sampled_from(OPTION_KEYS)),
        st.tuples(st.just("choices"), st.lists(st.sampled_from(OPTION_KEYS), max_size=3)),
        st.tuples(st.just("files"), st.integers(1, 3)),
    ),
    min_size=5,
    max_size=40,
)

# Where a random sequence begins, so that short sequences also explore the later phases.
STARTS: dict[str, Conversation] = {
    "new": start().conversation,
    "consent": play(start().conversation, "English"),
    "first question": consented(),
    "urgency": asked("urgency"),
    "physician": at_step("physician_name", role="doctor", specialty="Other"),
    "review": at_review(),
    "doctor review": at_review(role="doctor", specialty="Other", goals="skip"),
    "submitted": submitted(),
    "handoff": say(asked("situation"), "/human").conversation,
}
starts = st.sampled_from(sorted(STARTS))


def valid_input(state: Conversation, variant: int) -> UserInput:
    """A message the current phase accepts (mostly), so that sequences reach deep states."""
    phase = state.phase
    if phase is Phase.LANGUAGE:
        return UserInput(choice=LANGUAGES[variant % len(LANGUAGES)])
    if phase is Phase.CONSENT:
        return UserInput(text="yes")
    if phase is Phase.QUESTIONS:
        step = STEP_BY_KEY[state.step or "role"]
        if variant == 1 and step.key in ALTERNATIVES:
            return UserInput(text=ALTERNATIVES[step.key])
        if variant == 2 and step.kind is StepKind.MULTI:
            return UserInput(choices=(step.options[0].key, step.options[1].key))
        if variant == 2 and step.options:
            return UserInput(choice=step.options[-1].key)
        return UserInput(text=TYPED_ANSWERS[step.key])
    if phase is Phase.REVIEW:
        return UserInput(choice="confirm" if variant == 0 else "edit")
    if phase is Phase.EDIT_PICK:
        options = current_prompts(state)[0].options
        return UserInput(choice=options[variant * 5 % len(options)].key)
    if phase is Phase.CONFIRM_ERASE:
        return UserInput(text="yes" if variant == 3 else "no")
    return UserInput(text="Here is more information")


def message_of(state: Conversation, move: Move) -> UserInput:
    kind, value = move
    if kind == "valid":
        return valid_input(state, value)
    if kind == "text":
        return UserInput(text=value)
    if kind == "choice":
        return UserInput(choice=value)
    if kind == "choices":
        return UserInput(choices=tuple(value))
    return UserInput(files=value)


def replies_are_left_to_the_application(outcome: Outcome) -> bool:
    """Events the application answers itself, so that the engine sends no reply of its own."""
    kinds = event_types(outcome)
    if kinds in ([ev.MessageForCoordinator], [ev.IntakeCompleted]):
        return True
    return outcome.conversation.phase is Phase.SUBMITTED and kinds in (
        [ev.StatusRequested], [ev.NewLinkRequested], [ev.PricesRequested],
    )


def check_invariants(before: Conversation, outcome: Outcome) -> None:
    state = outcome.conversation
    assert outcome.prompts or replies_are_left_to_the_application(outcome)
    assert state.step is None or state.step in STEP_BY_KEY
    assert set(state.answers) <= set(STEP_BY_KEY)
    assert all(STEP_BY_KEY[key].applies(state.answers) for key in state.answers)
    assert state.consent_version in (None, CONSENT_VERSION)
    if state.phase in (Phase.QUESTIONS, Phase.REVIEW, Phase.EDIT_PICK, Phase.SUBMITTED):
        assert state.consent_version == CONSENT_VERSION
    if state.phase is Phase.ENDED:
        assert state.answers == {}
        assert state.consent_version is None
    if state.language is not None:
        assert state.language in LANGUAGES
    for event in outcome.events:
        if isinstance(event, ev.MessageForCoordinator):
            assert before.handoff or before.phase is Phase.SUBMITTED
            assert state == before
        if isinstance(event, ev.IntakeCompleted):
            assert state.phase is Phase.SUBMITTED
            assert dict(event.answers) == state.answers
            assert first_unanswered(state.answers) is None
    if before.handoff and state.handoff and not outcome.prompts:
        assert state.answers == before.answers


@settings(max_examples=100, deadline=None)
@given(starts, moves)
def test_any_sequence_of_messages_is_handled_and_always_answered(
    begin: str, sequence: list[Move]
) -> None:
    state = STARTS[begin]
    for move in sequence:
        before = copy.deepcopy(state)
        outcome = handle(state, message_of(state, move), CTX)
        assert state == before
        check_invariants(before, outcome)
        state = outcome.conversation


@settings(max_examples=100, deadline=None)
@given(starts, moves)
def test_any_reachable_state_reads_back_equal_from_storage(
    begin: str, sequence: list[Move]
) -> None:
    state = STARTS[begin]
    for move in sequence:
        state = handle(state, message_of(state, move), CTX).conversation
        data = state.to_json()
        assert Conversation.from_json(data) == state
        text = json.dumps(data)
        assert json.dumps(Conversation.from_json(json.loads(text)).to_json()) == text


# -- known defects (see the reasons; the lead fixes intake/, these tests then pass) -----------

_EDIT_ROLE_TO_DOCTOR_THEN_BACK: list[Move] = [
    ("choice", "edit"),
    ("choice", "role"),
    ("choice", "doctor"),
    ("text", "/back"),
    ("text", "/back"),
]


@settings(max_examples=100, deadline=None)
@example("review", _EDIT_ROLE_TO_DOCTOR_THEN_BACK)
@given(starts, moves)
def test_the_question_asked_always_applies_to_the_answers(
    begin: str, sequence: list[Move]
) -> None:
    state = STARTS[begin]
    for move in sequence:
        state = handle(state, message_of(state, move), CTX).conversation
        if state.phase is Phase.QUESTIONS:
            assert state.step is not None
            assert STEP_BY_KEY[state.step].applies(state.answers)


def test_going_back_after_becoming_the_treating_doctor_never_asks_about_sharing() -> None:
    editing = say(say(at_review(), choice="edit").conversation, choice="role").conversation
    review = say(editing, choice="doctor").conversation
    assert review.phase is Phase.REVIEW
    first_back = say(review, "/back").conversation
    assert first_back.step == "role"
    second_back = say(first_back, "/back").conversation
    assert second_back.step != "share_with_physician"
    assert second_back.step is not None
    assert STEP_BY_KEY[second_back.step].applies(second_back.answers)


@pytest.mark.parametrize("switch", ["Nederlands", "/language"])
def test_declining_erasure_after_switching_language_returns_to_the_submitted_request(
    switch: str,
) -> None:
    before = submitted()
    state = play(before, "erase my data", switch)
    if state.phase is Phase.LANGUAGE:
        state = play(state, "Nederlands")
    outcome = say(state, "no")
    assert outcome.conversation.phase is Phase.SUBMITTED
    assert outcome.conversation.step is None


@pytest.mark.parametrize(("typed", "country"), [("FR", "FR"), ("nl", "NL"), ("AR", "AR")])
def test_a_country_code_answers_the_country_question(typed: str, country: str) -> None:
    outcome = say(asked("patient_country"), typed)
    assert outcome.conversation.answers.get("patient_country") == country
    assert outcome.conversation.language == "en"
    assert outcome.events == []


@pytest.mark.parametrize(("typed", "language"), [("French", "fr"), ("Dutch", "nl")])
def test_the_report_language_can_be_named_in_english(typed: str, language: str) -> None:
    state = say(asked("report_language"), typed).conversation
    assert state.answers.get("report_language") == language


def test_during_a_handoff_a_language_name_goes_to_the_coordinator() -> None:
    handed_over = say(asked("patient_sex"), "/human").conversation
    outcome = say(handed_over, "English")
    assert outcome.events == [ev.MessageForCoordinator()]
    assert outcome.prompts == []


def test_a_typed_multiple_choice_reads_back_equal_from_json_storage() -> None:
    state = say(asked("urgency"), "1, 3").conversation
    restored = Conversation.from_json(json.loads(json.dumps(state.to_json())))
    assert restored == state


@pytest.mark.parametrize("key", ["patient_name", "questions", "local_proposal"])
def test_a_required_question_cannot_be_skipped(key: str) -> None:
    outcome = say(asked(key), "skip")
    assert key not in outcome.conversation.answers
    assert outcome.conversation.step == key


def test_slash_skip_skips_an_optional_question() -> None:
    state = say(asked("goals"), "/skip").conversation
    assert state.answers.get("goals", "missing") is None
    assert state.step == "urgency"
