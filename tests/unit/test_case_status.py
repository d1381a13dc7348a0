"""The case status machine: one table decides every move."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake.case import (
    INITIAL_STATUS,
    TRANSITIONS,
    CaseStatus,
    allowed_transitions,
    is_terminal,
    status_label,
    transition,
)
from intake.errors import DomainError, InvalidTransition

S = CaseStatus
statuses = st.sampled_from(list(CaseStatus))

HAPPY_PATH = [
    S.INTAKE_IN_PROGRESS,
    S.AWAITING_DOCUMENTS,
    S.FILE_COMPLETE,
    S.IN_REVIEW_SPECIALIST,
    S.OPINION_DELIVERED,
    S.VIDEO_CONSULTATION,
    S.FOLLOW_UP,
    S.CLOSED,
    S.ERASED,
]


def test_every_status_has_a_row_in_the_table() -> None:
    assert set(TRANSITIONS) == set(CaseStatus)


def test_a_case_starts_with_the_intake() -> None:
    assert INITIAL_STATUS is S.INTAKE_IN_PROGRESS


def test_the_happy_path_is_allowed_step_by_step() -> None:
    current = HAPPY_PATH[0]
    for target in HAPPY_PATH[1:]:
        current = transition(current, target)
    assert current is S.ERASED


def test_the_tumour_board_path_is_allowed() -> None:
    current = transition(S.FILE_COMPLETE, S.IN_REVIEW_TUMOUR_BOARD)
    assert transition(current, S.OPINION_DELIVERED) is S.OPINION_DELIVERED


def test_a_specialist_may_escalate_to_the_tumour_board() -> None:
    assert transition(S.IN_REVIEW_SPECIALIST, S.IN_REVIEW_TUMOUR_BOARD) is (
        S.IN_REVIEW_TUMOUR_BOARD
    )


def test_a_reviewer_may_ask_for_more_documents() -> None:
    assert transition(S.IN_REVIEW_SPECIALIST, S.AWAITING_DOCUMENTS) is S.AWAITING_DOCUMENTS


def test_opinion_leads_to_video_consultation_or_follow_up_only() -> None:
    assert allowed_transitions(S.OPINION_DELIVERED) == {
        S.VIDEO_CONSULTATION,
        S.FOLLOW_UP,
        S.WITHDRAWN,
        S.ERASED,
    }


def test_follow_up_ends_in_closed() -> None:
    assert S.CLOSED in allowed_transitions(S.FOLLOW_UP)


def test_skipping_the_review_is_refused() -> None:
    with pytest.raises(InvalidTransition) as caught:
        transition(S.AWAITING_DOCUMENTS, S.OPINION_DELIVERED)
    assert caught.value.current == "awaiting_documents"
    assert caught.value.target == "opinion_delivered"


def test_invalid_transition_is_a_domain_error() -> None:
    with pytest.raises(DomainError):
        transition(S.CLOSED, S.FOLLOW_UP)


def test_string_values_are_accepted_and_an_enum_is_returned() -> None:
    result = transition("intake_in_progress", "awaiting_documents")
    assert result is S.AWAITING_DOCUMENTS


def test_an_unknown_status_value_is_rejected() -> None:
    with pytest.raises(ValueError):
        transition("intake_in_progress", "teleported")


@given(statuses)
def test_withdrawn_is_reachable_from_every_live_status(status: CaseStatus) -> None:
    assert (S.WITHDRAWN in allowed_transitions(status)) is (not is_terminal(status))


@given(statuses)
def test_erased_is_reachable_from_every_status_but_itself(status: CaseStatus) -> None:
    assert (S.ERASED in allowed_transitions(status)) is (status is not S.ERASED)


@given(statuses)
def test_terminal_statuses_lead_only_to_erasure(status: CaseStatus) -> None:
    if is_terminal(status):
        assert allowed_transitions(status) <= {S.ERASED}


def test_closed_withdrawn_and_erased_are_the_terminal_statuses() -> None:
    assert {s for s in CaseStatus if is_terminal(s)} == {S.CLOSED, S.WITHDRAWN, S.ERASED}


def test_erased_leads_nowhere() -> None:
    assert allowed_transitions(S.ERASED) == frozenset()


@given(statuses, statuses)
def test_transition_agrees_with_the_table(current: CaseStatus, target: CaseStatus) -> None:
    if target in TRANSITIONS[current]:
        assert transition(current, target) is target
    else:
        with pytest.raises(InvalidTransition):
            transition(current, target)


@given(statuses)
def test_no_status_moves_to_itself(status: CaseStatus) -> None:
    assert status not in allowed_transitions(status)


def test_every_status_is_reachable_from_the_start() -> None:
    seen, frontier = {INITIAL_STATUS}, [INITIAL_STATUS]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(CaseStatus)


def test_every_status_has_a_distinct_english_label_for_the_family() -> None:
    labels = [status_label(s) for s in CaseStatus]
    assert all(label.msgid and not label.params for label in labels)
    assert len({label.msgid for label in labels}) == len(labels)
    assert status_label(S.AWAITING_DOCUMENTS).msgid == "Waiting for documents"
