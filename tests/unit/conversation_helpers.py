"""Driving the pure conversation engine in unit tests: a context, messages and ready states."""

from __future__ import annotations

from datetime import date
from typing import Any

from intake.conversation import Context, Conversation, Outcome, Phase, UserInput, handle
from intake.prompts import Prompt, Text
from intake.questionnaire import CONSENT_VERSION, FIRST_STEP

TODAY = date(2026, 11, 21)


def translate(text: Text, language: str) -> str:
    """Labels in the source language: the engine only matches them, whatever the language."""
    return text.msgid


CTX = Context(today=TODAY, translate=translate)

# One typed answer per step that its parser accepts: a patient asking about oncology.
TYPED_ANSWERS: dict[str, str] = {
    "role": "I am the patient",
    "patient_name": "Jan Peeters",
    "patient_birth_date": "24/03/1975",
    "patient_sex": "Female",
    "patient_country": "Belgium",
    "specialty": "Oncology (cancer)",
    "specialty_other": "A rare metabolic disease",
    "situation": "Major surgery has been recommended",
    "local_proposal": "They propose to remove part of the pancreas.",
    "questions": "Is surgery necessary?",
    "goals": "I want to keep working as long as possible.",
    "urgency": "1, 3",
    "service": "A written opinion",
    "report_language": "English",
    "treatment_history": "Two cycles of chemotherapy",
    "physician_name": "Dr. Anna Maes",
    "physician_hospital": "AZ Sint-Jan Brugge",
    "physician_contact": "anna.maes@example.org",
    "share_with_physician": "yes",
}


def say(
    conversation: Conversation,
    text: str | None = None,
    *,
    choice: str | None = None,
    choices: tuple[str, ...] | None = None,
    files: int = 0,
    ctx: Context = CTX,
) -> Outcome:
    """One family message (typed, a button, several buttons or files) through the engine."""
    message = UserInput(text=text, choice=choice, choices=choices, files=files)
    return handle(conversation, message, ctx)


def play(conversation: Conversation, *texts: str) -> Conversation:
    """Several typed messages in a row; the state after the last one."""
    for text in texts:
        conversation = say(conversation, text).conversation
    return conversation


def msgids(outcome: Outcome | list[Prompt]) -> list[str]:
    """The message ids of the replies, in order."""
    prompts = outcome.prompts if isinstance(outcome, Outcome) else outcome
    return [prompt.text.msgid for prompt in prompts]


def consented(**overrides: Any) -> Conversation:
    """A conversation in English that has just consented and is asked the first question."""
    fields: dict[str, Any] = {
        "phase": Phase.QUESTIONS,
        "language": "en",
        "step": FIRST_STEP,
        "consent_version": CONSENT_VERSION,
    }
    fields.update(overrides)
    return Conversation(**fields)


def answer_until(
    stop: str | None, conversation: Conversation | None = None, **typed: str
) -> Conversation:
    """Type TYPED_ANSWERS (or `typed` overrides) until the engine asks `stop` (None: review)."""
    state = conversation if conversation is not None else consented()
    answers = {**TYPED_ANSWERS, **typed}
    for _ in range(3 * len(TYPED_ANSWERS)):
        if state.phase is not Phase.QUESTIONS or state.step == stop:
            break
        assert state.step is not None
        state = say(state, answers[state.step]).conversation
    expected = (Phase.QUESTIONS, stop) if stop is not None else (Phase.REVIEW, None)
    assert (state.phase, state.step) == expected, f"never reached {stop!r}"
    return state


def at_step(key: str, **typed: str) -> Conversation:
    """A conversation whose earlier questions are answered and which now asks `key`."""
    return answer_until(key, **typed)


def at_review(**typed: str) -> Conversation:
    """A conversation with every question answered, showing the summary."""
    return answer_until(None, **typed)


def submitted(**typed: str) -> Conversation:
    """A conversation whose request has been confirmed and sent."""
    state = say(at_review(**typed), choice="confirm").conversation
    assert state.phase is Phase.SUBMITTED
    return state
