"""The SLA clock: when coordinators must act and when the family is reminded.

Timers are rows in the database; this module only says which rows a domain event creates and
which earlier rows it cancels. Typical use in a handler::

    for d in sla_deadlines(SlaEvent.FILE_COMPLETE, at=now, urgent=routing.urgent,
                           tumour_board=routing.kind is RouteKind.TUMOUR_BOARD):
        timers.add(case_id, d.kind, d.due_at, d.audience)
    timers.cancel(case_id, cancelled_kinds(SlaEvent.FILE_COMPLETE))

Rules of the clock:

* Every datetime in and out is timezone-aware; results are in UTC. A naive datetime raises
  `NaiveDatetimeError`. Time is always an argument: nothing here reads the clock.
* Hour-based promises (acknowledge in 24 h, completeness in 48 h, opinion 48-96 h, urgent video
  consultation 24-48 h) are elapsed hours: a night with a daylight-saving change is still 24 h.
* Day-based family timers (document reminders, link expiry, the 30-day follow-up) are calendar
  days in Brussels local time: the reminder arrives at the same Brussels wall-clock time.
* The tumour board is due by 18:00 Brussels time on the 7th Belgian working day after the file
  was complete; a file completed on a weekend or holiday counts from the next working day.
  Working days exclude Saturdays, Sundays and Belgian public holidays (`holidays`, "BE").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import holidays

from intake.errors import NaiveDatetimeError
from intake.prompts import N_, Text

__all__ = [
    "BRUSSELS",
    "DEFAULT_POLICY",
    "Audience",
    "BelgianCalendar",
    "Deadline",
    "SlaEvent",
    "SlaKind",
    "SlaPolicy",
    "Window",
    "cancelled_kinds",
    "opinion_window",
    "sla_deadlines",
    "sla_label",
    "tumour_board_due",
    "upload_link_expires_at",
    "urgent_video_window",
]

BRUSSELS = ZoneInfo("Europe/Brussels")
_SATURDAY = 5


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveDatetimeError(f"naive datetime {moment.isoformat()} has no time zone")


def _local_to_utc(day: date, wall: time) -> datetime:
    # A wall-clock time skipped by the spring DST change resolves with the pre-change offset.
    return datetime.combine(day, wall, tzinfo=BRUSSELS).astimezone(UTC)


class BelgianCalendar:
    """Belgian working days: Monday to Friday, minus Belgian public holidays."""

    def __init__(self, extra_closed_days: Iterable[date] = ()) -> None:
        """Start an empty cache; `extra_closed_days` adds closures such as a bridge day."""
        self._extra = frozenset(extra_closed_days)
        self._by_year: dict[int, frozenset[date]] = {}

    def holidays_in(self, year: int) -> frozenset[date]:
        """Return the Belgian public holidays of a year, loading that year on first use."""
        known = self._by_year.get(year)
        if known is None:
            known = frozenset(holidays.country_holidays("BE", years=year).keys())
            self._by_year[year] = known
        return known

    def is_working_day(self, day: date) -> bool:
        """Tell whether Belgian hospitals' offices work that day, for working-day deadlines."""
        if day.weekday() >= _SATURDAY or day in self._extra:
            return False
        return day not in self.holidays_in(day.year)

    def next_working_day(self, day: date) -> date:
        """Return `day` itself if it is a working day, else the first working day after it."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """Move `n` working days forward, keeping the Brussels wall-clock time; UTC result.

        A start on a non-working day first rolls to the next working day (n=0 returns that
        day), so the result is always a working day and grows strictly with n.
        """
        _require_aware(start)
        if n < 0:
            raise ValueError("n must be zero or positive")
        local = start.astimezone(BRUSSELS)
        day = self.next_working_day(local.date())
        for _ in range(n):
            day = self.next_working_day(day + timedelta(days=1))
        return _local_to_utc(day, local.time())


DEFAULT_CALENDAR = BelgianCalendar()


class Audience(StrEnum):
    """Who a timer notifies when it fires."""

    COORDINATOR = "coordinator"
    FAMILY = "family"


class SlaEvent(StrEnum):
    """Domain events that start or stop timers."""

    CASE_SUBMITTED = "case_submitted"
    CASE_ACKNOWLEDGED = "case_acknowledged"
    UPLOAD_LINK_ISSUED = "upload_link_issued"
    FILE_COMPLETE = "file_complete"
    VIDEO_CONSULTATION_SCHEDULED = "video_consultation_scheduled"
    VIDEO_CONSULTATION_HELD = "video_consultation_held"
    OPINION_DELIVERED = "opinion_delivered"
    CASE_ENDED = "case_ended"
    """Closed, withdrawn or erased: every timer goes."""


class SlaKind(StrEnum):
    """What a timer is for; the values are stored on timer rows."""

    ACKNOWLEDGE_DUE = "acknowledge_due"
    COMPLETENESS_CHECK_DUE = "completeness_check_due"
    DOCUMENTS_REMINDER = "documents_reminder"
    UPLOAD_LINK_EXPIRING = "upload_link_expiring"
    UPLOAD_LINK_EXPIRED = "upload_link_expired"
    OPINION_DUE = "opinion_due"
    TUMOUR_BOARD_DUE = "tumour_board_due"
    URGENT_VIDEO_CONSULTATION_DUE = "urgent_video_consultation_due"
    VIDEO_CONSULTATION_REMINDER = "video_consultation_reminder"
    FOLLOW_UP_ENDING = "follow_up_ending"
    FOLLOW_UP_ENDS = "follow_up_ends"


@dataclass(frozen=True)
class Deadline:
    """One timer to create: what, when (aware UTC) and whom it notifies."""

    kind: SlaKind
    due_at: datetime
    audience: Audience


@dataclass(frozen=True)
class Window:
    """A promised interval: not before `earliest`, not after `latest` (aware UTC)."""

    earliest: datetime
    latest: datetime


@dataclass(frozen=True)
class SlaPolicy:
    """The durations behind every timer; defaults are the published service levels."""

    acknowledge: timedelta = timedelta(hours=24)
    completeness_check: timedelta = timedelta(hours=48)
    opinion_earliest: timedelta = timedelta(hours=48)
    opinion_latest: timedelta = timedelta(hours=96)
    urgent_video_earliest: timedelta = timedelta(hours=24)
    urgent_video_latest: timedelta = timedelta(hours=48)
    tumour_board_working_days: int = 7
    tumour_board_closing_time: time = time(18, 0)
    document_reminder_days: tuple[int, ...] = (2, 5)
    upload_link_days: int = 14
    upload_link_warning: timedelta = timedelta(days=1)
    video_reminders_before: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=1))
    follow_up_days: int = 30
    follow_up_warning_days: int = 5
    follow_up_answer_working_days: int = 2


DEFAULT_POLICY = SlaPolicy()


def _plus_local_days(at: datetime, days: int) -> datetime:
    local = at.astimezone(BRUSSELS)
    return _local_to_utc(local.date() + timedelta(days=days), local.time())


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC)


def opinion_window(file_complete_at: datetime, policy: SlaPolicy = DEFAULT_POLICY) -> Window:
    """The written-opinion promise (48-96 h after a complete file), to tell the family."""
    _require_aware(file_complete_at)
    start = _utc(file_complete_at)
    return Window(start + policy.opinion_earliest, start + policy.opinion_latest)


def urgent_video_window(file_complete_at: datetime, policy: SlaPolicy = DEFAULT_POLICY) -> Window:
    """When an urgent case's video consultation must take place (24-48 h after a complete file)."""
    _require_aware(file_complete_at)
    start = _utc(file_complete_at)
    return Window(start + policy.urgent_video_earliest, start + policy.urgent_video_latest)


def tumour_board_due(
    file_complete_at: datetime,
    calendar: BelgianCalendar = DEFAULT_CALENDAR,
    policy: SlaPolicy = DEFAULT_POLICY,
) -> datetime:
    """The tumour board's deadline: 18:00 Brussels on the 7th working day after a complete file."""
    _require_aware(file_complete_at)
    day = calendar.add_working_days(file_complete_at, policy.tumour_board_working_days)
    return _local_to_utc(day.astimezone(BRUSSELS).date(), policy.tumour_board_closing_time)


def upload_link_expires_at(issued_at: datetime, policy: SlaPolicy = DEFAULT_POLICY) -> datetime:
    """When an upload link stops working (14 Brussels calendar days by default)."""
    _require_aware(issued_at)
    return _plus_local_days(issued_at, policy.upload_link_days)


def sla_deadlines(
    event: SlaEvent | str,
    at: datetime,
    *,
    urgent: bool = False,
    tumour_board: bool = False,
    calendar: BelgianCalendar = DEFAULT_CALENDAR,
    policy: SlaPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> list[Deadline]:
    """The timers a domain event starts, so the app can store them as rows.

    `at` is when the event happened, except for VIDEO_CONSULTATION_SCHEDULED where it is the
    appointment itself. Given `now`, family reminders already due are dropped (a late reminder
    is noise) while coordinator alerts are kept (an overdue SLA must still alert at once).
    Results are sorted by due time.
    """
    _require_aware(at)
    if now is not None:
        _require_aware(now)
    kind = SlaEvent(event)
    start = _utc(at)
    coordinator, family = Audience.COORDINATOR, Audience.FAMILY
    out: list[Deadline] = []
    if kind is SlaEvent.CASE_SUBMITTED:
        out.append(Deadline(SlaKind.ACKNOWLEDGE_DUE, start + policy.acknowledge, coordinator))
        out.append(
            Deadline(
                SlaKind.COMPLETENESS_CHECK_DUE, start + policy.completeness_check, coordinator
            )
        )
    elif kind is SlaEvent.UPLOAD_LINK_ISSUED:
        expires = upload_link_expires_at(start, policy)
        for days in policy.document_reminder_days:
            due = _plus_local_days(start, days)
            if due < expires:
                out.append(Deadline(SlaKind.DOCUMENTS_REMINDER, due, family))
        warning = expires - policy.upload_link_warning
        if warning > start:
            out.append(Deadline(SlaKind.UPLOAD_LINK_EXPIRING, warning, family))
        out.append(Deadline(SlaKind.UPLOAD_LINK_EXPIRED, expires, family))
    elif kind is SlaEvent.FILE_COMPLETE:
        if tumour_board:
            due = tumour_board_due(start, calendar, policy)
            out.append(Deadline(SlaKind.TUMOUR_BOARD_DUE, due, coordinator))
        else:
            due = opinion_window(start, policy).latest
            out.append(Deadline(SlaKind.OPINION_DUE, due, coordinator))
        if urgent:
            due = urgent_video_window(start, policy).latest
            out.append(Deadline(SlaKind.URGENT_VIDEO_CONSULTATION_DUE, due, coordinator))
    elif kind is SlaEvent.VIDEO_CONSULTATION_SCHEDULED:
        for before in policy.video_reminders_before:
            out.append(Deadline(SlaKind.VIDEO_CONSULTATION_REMINDER, start - before, family))
    elif kind is SlaEvent.OPINION_DELIVERED:
        ending = _plus_local_days(start, policy.follow_up_days - policy.follow_up_warning_days)
        if policy.follow_up_warning_days > 0:
            out.append(Deadline(SlaKind.FOLLOW_UP_ENDING, ending, family))
        ends = _plus_local_days(start, policy.follow_up_days)
        out.append(Deadline(SlaKind.FOLLOW_UP_ENDS, ends, family))
    if now is not None:
        out = [d for d in out if d.audience is coordinator or d.due_at > now]
    return sorted(out, key=lambda d: d.due_at)


_CANCELS: dict[SlaEvent, frozenset[SlaKind]] = {
    SlaEvent.CASE_SUBMITTED: frozenset(),
    SlaEvent.CASE_ACKNOWLEDGED: frozenset({SlaKind.ACKNOWLEDGE_DUE}),
    SlaEvent.UPLOAD_LINK_ISSUED: frozenset(
        {SlaKind.DOCUMENTS_REMINDER, SlaKind.UPLOAD_LINK_EXPIRING, SlaKind.UPLOAD_LINK_EXPIRED}
    ),
    SlaEvent.FILE_COMPLETE: frozenset(
        {
            SlaKind.COMPLETENESS_CHECK_DUE,
            SlaKind.DOCUMENTS_REMINDER,
            SlaKind.UPLOAD_LINK_EXPIRING,
            SlaKind.UPLOAD_LINK_EXPIRED,
        }
    ),
    SlaEvent.VIDEO_CONSULTATION_SCHEDULED: frozenset({SlaKind.VIDEO_CONSULTATION_REMINDER}),
    SlaEvent.VIDEO_CONSULTATION_HELD: frozenset(
        {SlaKind.VIDEO_CONSULTATION_REMINDER, SlaKind.URGENT_VIDEO_CONSULTATION_DUE}
    ),
    SlaEvent.OPINION_DELIVERED: frozenset({SlaKind.OPINION_DUE, SlaKind.TUMOUR_BOARD_DUE}),
    SlaEvent.CASE_ENDED: frozenset(SlaKind),
}


def cancelled_kinds(event: SlaEvent | str) -> frozenset[SlaKind]:
    """The pending timers an event makes pointless; cancel them before adding the new ones."""
    return _CANCELS[SlaEvent(event)]


_SLA_LABELS: dict[SlaKind, str] = {
    SlaKind.ACKNOWLEDGE_DUE: N_("Acknowledge the new case"),
    SlaKind.COMPLETENESS_CHECK_DUE: N_("Check that the file is complete"),
    SlaKind.DOCUMENTS_REMINDER: N_("Reminder: documents still missing"),
    SlaKind.UPLOAD_LINK_EXPIRING: N_("Upload link expires soon"),
    SlaKind.UPLOAD_LINK_EXPIRED: N_("Upload link expired"),
    SlaKind.OPINION_DUE: N_("Written opinion due"),
    SlaKind.TUMOUR_BOARD_DUE: N_("Tumour board opinion due"),
    SlaKind.URGENT_VIDEO_CONSULTATION_DUE: N_("Urgent video consultation due"),
    SlaKind.VIDEO_CONSULTATION_REMINDER: N_("Video consultation reminder"),
    SlaKind.FOLLOW_UP_ENDING: N_("Follow-up period ends soon"),
    SlaKind.FOLLOW_UP_ENDS: N_("Follow-up period ends"),
}


def sla_label(kind: SlaKind | str) -> Text:
    """Name a timer for the coordinators' inbox and deadline lists."""
    return Text(_SLA_LABELS[SlaKind(kind)])
