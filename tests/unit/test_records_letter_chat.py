"""Asking for the records-request letter in the chat: the command and the plain complaint,
the hospital's language, the hospital's name when we do not know it, then back to where the
family was."""

from __future__ import annotations

import pytest

from intake import events as ev
from intake.commands import Command, command_help, match_command
from intake.conversation import Conversation, Phase
from intake.vocabulary import LANGUAGES
from tests.unit.conversation_helpers import at_step, msgids, say, submitted

LANGUAGE_QUESTION = ("We will prepare a letter asking the hospital for a copy of the records "
                     "and of the scans. In which language should it be written? Choose the "
                     "language the hospital reads.")
HOSPITAL_QUESTION = "What is the name of the hospital that has the records and the scans?"


def letters(events: list[ev.Event]) -> list[ev.LetterRequested]:
    """The letter requests among an outcome's events."""
    return [e for e in events if isinstance(e, ev.LetterRequested)]


@pytest.mark.parametrize("typed", [
    "letter", "/records_letter", "I cannot get my scans", "I can't get my records please",
    "Je n'arrive pas à obtenir mes examens", "ik krijg mijn scans niet",
    "Не могу получить снимки", "görüntülerimi alamıyorum", "لا أستطيع الحصول على صوري",
])
def test_the_command_and_the_plain_complaint_ask_for_the_letter(typed: str) -> None:
    assert match_command(typed) is Command.LETTER


def test_a_sentence_that_only_mentions_scans_is_an_answer_not_a_request() -> None:
    assert match_command("I cannot get my scans before Monday because the CD is lost") is None


def test_help_lists_the_letter() -> None:
    assert Command.LETTER in [command for command, _ in command_help()]


def test_after_submission_the_letter_uses_the_known_hospital_and_returns_to_the_file() -> None:
    state = submitted()
    asked = say(state, "I cannot get my scans")
    assert msgids(asked) == [LANGUAGE_QUESTION]
    assert [option.key for option in asked.prompts[0].options] == list(LANGUAGES)
    assert asked.conversation.phase is Phase.LETTER_LANGUAGE

    done = say(asked.conversation, choice="nl")
    assert letters(done.events) == [ev.LetterRequested("nl", "AZ Sint-Jan Brugge")]
    assert done.conversation.phase is Phase.SUBMITTED
    assert done.conversation.letter_resume is None


def test_the_hospital_is_asked_when_the_intake_has_not_named_one() -> None:
    state = at_step("specialty")
    asked = say(state, "letter")
    chosen = say(asked.conversation, "Türkçe")
    assert msgids(chosen) == [HOSPITAL_QUESTION] and not letters(chosen.events)

    empty = say(chosen.conversation, "   ")
    assert msgids(empty) == ["Please write the name of the hospital.", HOSPITAL_QUESTION]

    done = say(empty.conversation, "  Ankara   Şehir Hastanesi ")
    assert letters(done.events) == [ev.LetterRequested("tr", "Ankara Şehir Hastanesi")]
    # Back to the question the family was answering, unanswered still.
    assert (done.conversation.phase, done.conversation.step) == (Phase.QUESTIONS, "specialty")
    assert msgids(done)[-1] == "Which medical area is the question about?"


def test_a_language_is_chosen_by_its_number_too() -> None:
    asked = say(submitted(), "/letter")
    done = say(asked.conversation, str(LANGUAGES.index("ru") + 1))
    assert [e.language for e in letters(done.events)] == ["ru"]


def test_an_unknown_language_asks_again_without_switching_the_conversation() -> None:
    asked = say(submitted(), "letter")
    again = say(asked.conversation, "Klingon")
    assert msgids(again) == ["Please choose a language from the list.", LANGUAGE_QUESTION]
    named = say(again.conversation, "français")
    assert named.conversation.language == "en"
    assert [e.language for e in letters(named.events)] == ["fr"]


def test_without_the_patients_name_and_birth_date_the_letter_is_explained_not_started() -> None:
    state = at_step("patient_birth_date")
    outcome = say(state, "letter")
    assert outcome.conversation.phase is Phase.QUESTIONS
    assert msgids(outcome)[0].startswith("We can prepare a letter")
    assert not letters(outcome.events)


def test_the_letters_questions_are_answered_even_while_a_coordinator_has_taken_over() -> None:
    state = submitted()
    state.handoff = True
    asked = say(state, "letter")
    done = say(asked.conversation, choice="ar")
    assert [e.language for e in letters(done.events)] == ["ar"]
    assert not [e for e in done.events if isinstance(e, ev.MessageForCoordinator)]


def test_the_letters_state_survives_storage_between_messages() -> None:
    asked = say(at_step("specialty"), "letter")
    chosen = say(asked.conversation, choice="fr").conversation
    stored = Conversation.from_json(chosen.to_json())
    assert stored.phase is Phase.LETTER_HOSPITAL and stored.letter_language == "fr"
    assert stored.letter_resume is Phase.QUESTIONS
    done = say(stored, "Hôpital Necker")
    assert letters(done.events) == [ev.LetterRequested("fr", "Hôpital Necker")]
