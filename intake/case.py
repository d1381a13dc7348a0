"""The case status machine: the one place that decides which status may follow which.

The happy path is::

    intake_in_progress -> awaiting_documents -> file_complete
        -> in_review_specialist | in_review_tumour_board -> opinion_delivered
        -> [video_consultation] -> follow_up (30 days) -> closed

Side roads: a reviewer may ask for more documents (back to `awaiting_documents`), a
specialist may escalate to the tumour board, and a file that is already complete when the
intake ends skips `awaiting_documents`.

Three statuses are *terminal*: the case's work is over. `closed` and `withdrawn` may still be
`erased` (the family's right to erasure, or the retention purge); `erased` leads nowhere.
`withdrawn` is reachable from every non-terminal status, `erased` from every status but itself.
Moving to the status a case already has is an `InvalidTransition` too: callers that replay
events compare first.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType

from intake.errors import InvalidTransition
from intake.prompts import N_, Text

__all__ = [
    "INITIAL_STATUS",
    "TRANSITIONS",
    "CaseStatus",
    "InvalidTransition",
    "allowed_transitions",
    "is_terminal",
    "status_label",
    "transition",
]


class CaseStatus(StrEnum):
    """Where a case stands; the values are stored in the database."""

    INTAKE_IN_PROGRESS = "intake_in_progress"
    AWAITING_DOCUMENTS = "awaiting_documents"
    FILE_COMPLETE = "file_complete"
    IN_REVIEW_SPECIALIST = "in_review_specialist"
    IN_REVIEW_TUMOUR_BOARD = "in_review_tumour_board"
    OPINION_DELIVERED = "opinion_delivered"
    VIDEO_CONSULTATION = "video_consultation"
    FOLLOW_UP = "follow_up"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    ERASED = "erased"


INITIAL_STATUS = CaseStatus.INTAKE_IN_PROGRESS

_S = CaseStatus


def _or_end(*following: CaseStatus) -> frozenset[CaseStatus]:
    """A live status may always be withdrawn or erased besides its normal next steps."""
    return frozenset((*following, _S.WITHDRAWN, _S.ERASED))


TRANSITIONS: MappingProxyType[CaseStatus, frozenset[CaseStatus]] = MappingProxyType(
    {
        _S.INTAKE_IN_PROGRESS: _or_end(_S.AWAITING_DOCUMENTS, _S.FILE_COMPLETE),
        _S.AWAITING_DOCUMENTS: _or_end(_S.FILE_COMPLETE),
        _S.FILE_COMPLETE: _or_end(
            _S.IN_REVIEW_SPECIALIST, _S.IN_REVIEW_TUMOUR_BOARD, _S.AWAITING_DOCUMENTS
        ),
        _S.IN_REVIEW_SPECIALIST: _or_end(
            _S.OPINION_DELIVERED, _S.IN_REVIEW_TUMOUR_BOARD, _S.AWAITING_DOCUMENTS
        ),
        _S.IN_REVIEW_TUMOUR_BOARD: _or_end(_S.OPINION_DELIVERED, _S.AWAITING_DOCUMENTS),
        _S.OPINION_DELIVERED: _or_end(_S.VIDEO_CONSULTATION, _S.FOLLOW_UP),
        _S.VIDEO_CONSULTATION: _or_end(_S.FOLLOW_UP),
        _S.FOLLOW_UP: _or_end(_S.CLOSED),
        _S.CLOSED: frozenset({_S.ERASED}),
        _S.WITHDRAWN: frozenset({_S.ERASED}),
        _S.ERASED: frozenset(),
    }
)
"""Every allowed move: status -> the statuses it may be followed by. The only such table."""

_TERMINAL = frozenset({_S.CLOSED, _S.WITHDRAWN, _S.ERASED})

_LABELS: dict[CaseStatus, str] = {
    _S.INTAKE_IN_PROGRESS: N_("Intake in progress"),
    _S.AWAITING_DOCUMENTS: N_("Waiting for documents"),
    _S.FILE_COMPLETE: N_("File complete"),
    _S.IN_REVIEW_SPECIALIST: N_("With the specialist"),
    _S.IN_REVIEW_TUMOUR_BOARD: N_("With the tumour board"),
    _S.OPINION_DELIVERED: N_("Opinion delivered"),
    _S.VIDEO_CONSULTATION: N_("Video consultation"),
    # TRANSLATORS: the 30 days after the opinion when the family may ask follow-up questions.
    _S.FOLLOW_UP: N_("Follow-up period"),
    _S.CLOSED: N_("Closed"),
    _S.WITHDRAWN: N_("Withdrawn"),
    # TRANSLATORS: the family's data was deleted at their request or after retention.
    _S.ERASED: N_("Erased"),
}


def allowed_transitions(current: CaseStatus | str) -> frozenset[CaseStatus]:
    """List the statuses a case may move to next, e.g. to offer them in the inbox."""
    return TRANSITIONS[CaseStatus(current)]


def transition(current: CaseStatus | str, target: CaseStatus | str) -> CaseStatus:
    """Validate a status change and return the new status; the only way a status changes."""
    source, goal = CaseStatus(current), CaseStatus(target)
    if goal not in TRANSITIONS[source]:
        raise InvalidTransition(source.value, goal.value)
    return goal


def is_terminal(status: CaseStatus | str) -> bool:
    """Tell whether the case's work is over (only erasure may still follow)."""
    return CaseStatus(status) in _TERMINAL


def status_label(status: CaseStatus | str) -> Text:
    """Name a status in words the family understands, to tell them where their case stands."""
    return Text(_LABELS[CaseStatus(status)])
