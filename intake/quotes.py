"""The confirmed quote: what a coordinator offers, how the family answers, what it unlocks.

A coordinator confirms one priced service and an amount in euros. An amount outside the
published range needs a short reason (the family was told the range at intake). The family
accepts or declines; the specialists' review may only start once a quote is accepted, unless
the team turned that rule off (cases paid elsewhere, e.g. by an insurer).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from intake.case import CaseStatus
from intake.errors import DomainError
from intake.pricing import PricedService, PriceRange, PriceTable, default_table
from intake.prompts import N_, Option, Prompt, Text

ACCEPT = "quote_accept"
DECLINE = "quote_decline"
MAX_AMOUNT = Decimal(100_000)
MAX_REASON = 300

QUOTE_OPTIONS = (
    Option(ACCEPT, Text(N_("I accept the quote"))),
    Option(DECLINE, Text(N_("I decline"))),
)

REVIEW_STATUSES = frozenset({CaseStatus.IN_REVIEW_SPECIALIST, CaseStatus.IN_REVIEW_TUMOUR_BOARD})


class QuoteAnswer(StrEnum):
    """The family's answer to a quote; stored in the database."""

    ACCEPTED = "accepted"
    DECLINED = "declined"


class QuoteRefused(DomainError):
    """A quote a coordinator may not send as it is; `code` names the reason."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class QuoteTerms:
    """A checked quote: the service, the amount and how it compares with the published range."""

    service: PricedService
    amount: Decimal
    currency: str
    published: PriceRange
    within_range: bool
    reason: str


def check_terms(
    service: str, amount: str, reason: str, table: PriceTable | None = None
) -> QuoteTerms:
    """Validate what a coordinator typed: a known service, a positive amount in euros (comma
    or point for the cents), and a reason whenever the amount leaves the published range."""
    try:
        priced = PricedService(service)
    except ValueError:
        raise QuoteRefused("quote_service") from None
    try:
        value = Decimal(amount.strip().replace("\u202f", "").replace(" ", "").replace(",", "."))
    except InvalidOperation:
        raise QuoteRefused("quote_amount") from None
    if not value.is_finite() or value <= 0 or value > MAX_AMOUNT or value != round(value, 2):
        raise QuoteRefused("quote_amount")
    published = (table or default_table()).price(priced)
    within = published.low <= value <= published.high
    why = " ".join(reason.split())
    if len(why) > MAX_REASON:
        raise QuoteRefused("quote_reason_long")
    if not within and not why:
        raise QuoteRefused("quote_reason")
    return QuoteTerms(priced, value.quantize(Decimal("0.01")), published.currency, published,
                      within, why)


def review_may_start(
    goal: CaseStatus, answer: QuoteAnswer | None, *, required: bool,
    paid_elsewhere: bool = False,
) -> bool:
    """Whether a move to `goal` is allowed as far as the quote is concerned: a case paid
    elsewhere, or a team that does not require quotes, needs no accepted one."""
    if goal not in REVIEW_STATUSES or not required or paid_elsewhere:
        return True
    return answer is QuoteAnswer.ACCEPTED


def answer_of(choice: str | None) -> QuoteAnswer | None:
    """The answer a tapped (or numbered) option stands for."""
    if choice == ACCEPT:
        return QuoteAnswer.ACCEPTED
    if choice == DECLINE:
        return QuoteAnswer.DECLINED
    return None


def quote_reminder() -> Prompt:
    """The question asked again while a quote waits for an answer."""
    return Prompt(Text.of("Do you accept the quote we sent you? Please answer with one of "
                          "the options."), QUOTE_OPTIONS)
