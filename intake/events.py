"""What happened in a conversation, for the application to act on (store, notify, schedule)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LanguageChosen:
    """The family picked (or switched) its language."""

    language: str


@dataclass(frozen=True)
class ConsentGiven:
    """Explicit consent to process health data, for this version of the consent text."""

    version: str


@dataclass(frozen=True)
class ConsentRefused:
    """Consent refused: the intake ends and nothing is kept."""


@dataclass(frozen=True)
class IntakeCompleted:
    """The family confirmed its answers: a case is to be opened."""

    answers: Mapping[str, Any]


@dataclass(frozen=True)
class HandoffRequested:
    """The family asked for a person."""


@dataclass(frozen=True)
class ErasureConfirmed:
    """The family confirmed it wants all its data erased."""


@dataclass(frozen=True)
class RemindersStopped:
    """The family does not want reminders any more."""


@dataclass(frozen=True)
class StatusRequested:
    """The family asked where its request stands."""


@dataclass(frozen=True)
class PricesRequested:
    """The family asked for the prices."""


@dataclass(frozen=True)
class NewLinkRequested:
    """The family asked for a (new) secure upload link."""


@dataclass(frozen=True)
class QuoteAnswered:
    """The family accepted or declined the quote a coordinator sent."""

    accepted: bool


@dataclass(frozen=True)
class LetterRequested:
    """The family asked for the records-request letter, in the hospital's language."""

    language: str
    hospital: str


@dataclass(frozen=True)
class MessageForCoordinator:
    """Free text after the intake, or during a handoff: for the coordinators to read."""


Event = (
    LanguageChosen
    | ConsentGiven
    | ConsentRefused
    | IntakeCompleted
    | HandoffRequested
    | ErasureConfirmed
    | RemindersStopped
    | StatusRequested
    | PricesRequested
    | NewLinkRequested
    | QuoteAnswered
    | LetterRequested
    | MessageForCoordinator
)
