"""The quote in the pure domain: terms a coordinator may send, answers the family may give."""

from __future__ import annotations

from decimal import Decimal

import pytest

from intake import events as ev
from intake.case import CaseStatus
from intake.conversation import Conversation, Phase, UserInput, current_prompts, handle
from intake.quotes import QuoteAnswer, QuoteRefused, check_terms, review_may_start
from tests.unit.conversation_helpers import CTX


def waiting(**changes: object) -> Conversation:
    """A submitted request with a quote waiting for its answer."""
    state = Conversation(phase=Phase.SUBMITTED, language="en", consent_version="2026-11-v1",
                         quote_pending=True)
    for name, value in changes.items():
        setattr(state, name, value)
    return state


@pytest.mark.parametrize("amount", ["450", "450,50", "450.5", " 1 200 ", "650"])
def test_amounts_inside_or_outside_the_range_are_read_in_euros_and_cents(amount: str) -> None:
    terms = check_terms("written_opinion", amount, "Second pathologist")
    assert terms.amount == Decimal(amount.strip().replace(" ", "").replace(",", "."))
    assert terms.currency == "EUR"
    assert terms.within_range is (350 <= terms.amount <= 650)


@pytest.mark.parametrize("amount", ["", "0", "-10", "abc", "12.345", "NaN", "Infinity",
                                    "1000001"])
def test_nonsense_amounts_are_refused(amount: str) -> None:
    with pytest.raises(QuoteRefused) as refused:
        check_terms("written_opinion", amount, "")
    assert refused.value.code == "quote_amount"


def test_an_amount_outside_the_published_range_needs_a_reason_and_an_unknown_service_fails(
) -> None:
    with pytest.raises(QuoteRefused, match="quote_reason"):
        check_terms("tumour_board", "1500", "  ")
    assert check_terms("tumour_board", "1500", "Two extra specialties").within_range is False
    assert check_terms("tumour_board", "900", "").reason == ""
    with pytest.raises(QuoteRefused, match="quote_service"):
        check_terms("massage", "100", "")


@pytest.mark.parametrize("goal", list(CaseStatus))
def test_only_the_review_waits_for_an_accepted_quote_and_only_when_required(
    goal: CaseStatus,
) -> None:
    review = goal in (CaseStatus.IN_REVIEW_SPECIALIST, CaseStatus.IN_REVIEW_TUMOUR_BOARD)
    for answer in (None, QuoteAnswer.DECLINED):
        assert review_may_start(goal, answer, required=True) is not review
        assert review_may_start(goal, answer, required=False)
        assert review_may_start(goal, answer, required=True, paid_elsewhere=True)
    assert review_may_start(goal, QuoteAnswer.ACCEPTED, required=True)


@pytest.mark.parametrize(("message", "accepted"), [
    (UserInput(choice="quote_accept"), True),
    (UserInput(choice="quote_decline"), False),
    (UserInput(text="1"), True),  # WhatsApp's numbered options
    (UserInput(text="2"), False),
    (UserInput(text="yes"), True),
    (UserInput(text="No"), False),
    (UserInput(text="I accept the quote"), True),
])
def test_the_family_answers_by_button_number_or_words(message: UserInput,
                                                      accepted: bool) -> None:
    outcome = handle(waiting(), message, CTX)
    assert outcome.events == [ev.QuoteAnswered(accepted)]
    assert outcome.conversation.quote_pending is False
    assert current_prompts(outcome.conversation) == []


def test_a_question_about_the_quote_goes_to_the_coordinator_and_the_question_stays_open(
) -> None:
    outcome = handle(waiting(), UserInput(text="Can I pay in two instalments?"), CTX)
    assert outcome.events == [ev.MessageForCoordinator()]
    assert outcome.conversation.quote_pending is True
    assert [o.key for o in outcome.prompts[-1].options] == ["quote_accept", "quote_decline"]
    assert [o.key for o in current_prompts(outcome.conversation)[0].options] == [
        "quote_accept", "quote_decline"]


def test_while_a_coordinator_has_taken_over_only_a_tapped_button_answers_the_quote() -> None:
    typed = handle(waiting(handoff=True), UserInput(text="yes"), CTX)
    assert typed.events == [ev.MessageForCoordinator()]
    assert typed.conversation.quote_pending is True
    tapped = handle(waiting(handoff=True), UserInput(choice="quote_accept"), CTX)
    assert tapped.events == [ev.QuoteAnswered(True)]


def test_the_waiting_quote_survives_storage_and_a_language_switch() -> None:
    stored = Conversation.from_json(waiting().to_json())
    assert stored.quote_pending is True
    switched = handle(stored, UserInput(text="Nederlands"), CTX)
    assert switched.conversation.quote_pending is True
    assert [o.key for o in switched.prompts[-1].options] == ["quote_accept", "quote_decline"]
