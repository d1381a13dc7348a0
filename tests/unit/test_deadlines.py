"""The SLA clock: Belgian working days, elapsed-hour promises and family reminders."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake.deadlines import (
    Audience,
    BelgianCalendar,
    Deadline,
    SlaEvent,
    SlaKind,
    SlaPolicy,
    cancelled_kinds,
    opinion_window,
    sla_deadlines,
    sla_label,
    tumour_board_due,
    upload_link_expires_at,
    urgent_video_window,
)
from intake.errors import NaiveDatetimeError

BRUSSELS = ZoneInfo("Europe/Brussels")
CALENDAR = BelgianCalendar()


def brussels(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BRUSSELS)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def kinds(deadlines: list[Deadline]) -> list[SlaKind]:
    return [d.kind for d in deadlines]


def only(deadlines: list[Deadline], kind: SlaKind) -> Deadline:
    (found,) = [d for d in deadlines if d.kind is kind]
    return found


# --- the calendar -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 4, 4),  # Saturday
        date(2026, 4, 5),  # Sunday (Easter)
        date(2026, 4, 6),  # Easter Monday
        date(2026, 5, 14),  # Ascension
        date(2026, 5, 25),  # Whit Monday
        date(2026, 7, 21),  # National Day
        date(2026, 11, 11),  # Armistice
        date(2026, 12, 25),  # Christmas
        date(2027, 1, 1),  # New Year, loaded lazily
    ],
)
def test_weekends_and_belgian_public_holidays_are_not_working_days(day: date) -> None:
    assert not CALENDAR.is_working_day(day)


@pytest.mark.parametrize("day", [date(2026, 4, 3), date(2026, 4, 7), date(2026, 12, 24)])
def test_ordinary_weekdays_are_working_days(day: date) -> None:
    assert CALENDAR.is_working_day(day)


def test_extra_closed_days_are_not_working_days() -> None:
    calendar = BelgianCalendar(extra_closed_days=[date(2026, 5, 15)])
    assert not calendar.is_working_day(date(2026, 5, 15))
    assert CALENDAR.is_working_day(date(2026, 5, 15))


def test_adding_a_working_day_on_good_friday_skips_the_weekend_and_easter_monday() -> None:
    result = CALENDAR.add_working_days(brussels(2026, 4, 3, 10, 0), 1)
    assert result == brussels(2026, 4, 7, 10, 0)
    assert result.tzinfo is UTC


def test_adding_a_working_day_on_christmas_eve_lands_after_the_weekend() -> None:
    assert CALENDAR.add_working_days(brussels(2026, 12, 24, 9, 0), 1) == brussels(
        2026, 12, 28, 9, 0
    )


def test_adding_a_working_day_before_ascension_skips_it() -> None:
    assert CALENDAR.add_working_days(brussels(2026, 5, 13, 14, 0), 1) == brussels(
        2026, 5, 15, 14, 0
    )


def test_working_days_cross_the_new_year_holiday() -> None:
    assert CALENDAR.add_working_days(brussels(2026, 12, 31, 11, 0), 1) == brussels(
        2027, 1, 4, 11, 0
    )


def test_wall_clock_time_is_kept_across_the_spring_dst_change() -> None:
    friday = brussels(2026, 3, 27, 10, 0)
    assert friday == utc(2026, 3, 27, 9, 0)
    monday = CALENDAR.add_working_days(friday, 1)
    assert monday == utc(2026, 3, 30, 8, 0)
    assert monday.astimezone(BRUSSELS).hour == 10


def test_wall_clock_time_is_kept_across_the_autumn_dst_change() -> None:
    friday = brussels(2026, 10, 23, 10, 0)
    assert CALENDAR.add_working_days(friday, 1) == utc(2026, 10, 26, 9, 0)


def test_a_start_on_a_weekend_rolls_to_the_next_working_day() -> None:
    saturday = brussels(2026, 4, 4, 15, 0)
    assert CALENDAR.add_working_days(saturday, 0) == brussels(2026, 4, 7, 15, 0)
    assert CALENDAR.add_working_days(saturday, 1) == brussels(2026, 4, 8, 15, 0)


def test_the_brussels_date_counts_not_the_utc_date() -> None:
    # 23:30 UTC on Friday is already Saturday in Brussels.
    late = utc(2026, 6, 5, 23, 30)
    assert CALENDAR.add_working_days(late, 0) == brussels(2026, 6, 8, 1, 30)


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(NaiveDatetimeError):
        CALENDAR.add_working_days(datetime(2026, 4, 3, 10, 0), 1)  # noqa: DTZ001


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError):
        CALENDAR.add_working_days(brussels(2026, 4, 3, 10, 0), -1)


aware_datetimes = st.datetimes(
    min_value=datetime(2024, 1, 1),  # noqa: DTZ001 (hypothesis bounds are naive by design)
    max_value=datetime(2035, 12, 31),  # noqa: DTZ001
    timezones=st.sampled_from(
        [UTC, BRUSSELS, ZoneInfo("Asia/Dubai"), ZoneInfo("America/Sao_Paulo")]
    ),
)


@given(aware_datetimes, st.integers(min_value=0, max_value=60))
def test_add_working_days_always_lands_on_a_working_day(start: datetime, n: int) -> None:
    result = CALENDAR.add_working_days(start, n)
    assert CALENDAR.is_working_day(result.astimezone(BRUSSELS).date())
    assert result.utcoffset() == timedelta(0)


@given(aware_datetimes, st.integers(min_value=0, max_value=60))
def test_add_working_days_is_strictly_increasing_in_n(start: datetime, n: int) -> None:
    assert CALENDAR.add_working_days(start, n) < CALENDAR.add_working_days(start, n + 1)


@given(aware_datetimes, st.integers(min_value=1, max_value=60))
def test_add_working_days_moves_forward_from_the_start(start: datetime, n: int) -> None:
    assert CALENDAR.add_working_days(start, n) > start


# --- coordinator SLAs ---------------------------------------------------------------------


def test_submission_starts_acknowledgement_and_completeness_clocks() -> None:
    at = utc(2026, 3, 28, 12, 0)  # the night after includes the spring DST change
    result = sla_deadlines(SlaEvent.CASE_SUBMITTED, at)
    assert result == [
        Deadline(SlaKind.ACKNOWLEDGE_DUE, utc(2026, 3, 29, 12, 0), Audience.COORDINATOR),
        Deadline(SlaKind.COMPLETENESS_CHECK_DUE, utc(2026, 3, 30, 12, 0), Audience.COORDINATOR),
    ]


def test_a_complete_file_opens_a_48_to_96_hour_opinion_window() -> None:
    at = brussels(2026, 6, 1, 9, 30)
    window = opinion_window(at)
    assert window.earliest == at + timedelta(hours=48)
    assert window.latest == at + timedelta(hours=96)
    assert only(sla_deadlines(SlaEvent.FILE_COMPLETE, at), SlaKind.OPINION_DUE).due_at == (
        window.latest
    )


def test_a_tumour_board_case_is_due_at_18h_on_the_seventh_working_day() -> None:
    # Thursday before Easter: Fri 3, (Easter Monday), Tue 7 ... Tue 14 is the 7th working day.
    at = brussels(2026, 4, 2, 15, 0)
    result = sla_deadlines(SlaEvent.FILE_COMPLETE, at, tumour_board=True)
    assert kinds(result) == [SlaKind.TUMOUR_BOARD_DUE]
    assert result[0].due_at == brussels(2026, 4, 14, 18, 0) == utc(2026, 4, 14, 16, 0)


def test_the_tumour_board_clock_skips_ascension() -> None:
    assert tumour_board_due(brussels(2026, 5, 11, 8, 0)) == brussels(2026, 5, 21, 18, 0)


def test_the_tumour_board_clock_skips_christmas_and_new_year() -> None:
    # Dec 22 complete: 23, 24, (25), 28, 29, 30, 31, (Jan 1), Jan 4 is the 7th.
    assert tumour_board_due(brussels(2026, 12, 22, 11, 0)) == brussels(2027, 1, 4, 18, 0)


def test_a_late_evening_file_still_counts_from_its_brussels_date() -> None:
    assert tumour_board_due(brussels(2026, 6, 1, 23, 45)) == brussels(2026, 6, 10, 18, 0)


def test_an_urgent_case_also_needs_a_video_consultation_within_48_hours() -> None:
    at = utc(2026, 6, 1, 9, 0)
    result = sla_deadlines(SlaEvent.FILE_COMPLETE, at, urgent=True)
    assert kinds(result) == [SlaKind.URGENT_VIDEO_CONSULTATION_DUE, SlaKind.OPINION_DUE]
    assert result[0].due_at == at + timedelta(hours=48)
    window = urgent_video_window(at)
    assert (window.earliest, window.latest) == (at + timedelta(hours=24), result[0].due_at)


def test_an_urgent_tumour_board_case_gets_both_clocks() -> None:
    result = sla_deadlines(
        SlaEvent.FILE_COMPLETE, utc(2026, 6, 1, 9, 0), urgent=True, tumour_board=True
    )
    assert set(kinds(result)) == {SlaKind.URGENT_VIDEO_CONSULTATION_DUE, SlaKind.TUMOUR_BOARD_DUE}
    assert all(d.audience is Audience.COORDINATOR for d in result)


# --- family timers ------------------------------------------------------------------------


def test_an_upload_link_brings_two_reminders_a_warning_and_an_expiry() -> None:
    at = brussels(2026, 3, 27, 10, 0)
    result = sla_deadlines(SlaEvent.UPLOAD_LINK_ISSUED, at)
    assert [(d.kind, d.due_at) for d in result] == [
        (SlaKind.DOCUMENTS_REMINDER, brussels(2026, 3, 29, 10, 0)),
        (SlaKind.DOCUMENTS_REMINDER, brussels(2026, 4, 1, 10, 0)),
        (SlaKind.UPLOAD_LINK_EXPIRING, brussels(2026, 4, 9, 10, 0)),
        (SlaKind.UPLOAD_LINK_EXPIRED, brussels(2026, 4, 10, 10, 0)),
    ]
    assert all(d.audience is Audience.FAMILY for d in result)


def test_day_based_reminders_keep_the_brussels_time_across_dst() -> None:
    at = brussels(2026, 3, 27, 10, 0)  # 09:00 UTC in winter time
    first = sla_deadlines(SlaEvent.UPLOAD_LINK_ISSUED, at)[0]
    assert first.due_at == utc(2026, 3, 29, 8, 0)  # 10:00 in summer time


def test_the_upload_link_lifetime_is_configurable() -> None:
    at = brussels(2026, 6, 1, 10, 0)
    policy = SlaPolicy(upload_link_days=3)
    assert upload_link_expires_at(at, policy) == brussels(2026, 6, 4, 10, 0)
    result = sla_deadlines(SlaEvent.UPLOAD_LINK_ISSUED, at, policy=policy)
    # the 5-day reminder would come after the link expired: it is dropped
    assert kinds(result).count(SlaKind.DOCUMENTS_REMINDER) == 1


def test_the_default_upload_link_lasts_14_days() -> None:
    assert upload_link_expires_at(utc(2026, 6, 1, 8, 0)) == utc(2026, 6, 15, 8, 0)


def test_a_delivered_opinion_opens_a_30_day_follow_up_window() -> None:
    at = brussels(2026, 10, 1, 16, 0)
    result = sla_deadlines(SlaEvent.OPINION_DELIVERED, at)
    assert [(d.kind, d.due_at) for d in result] == [
        (SlaKind.FOLLOW_UP_ENDING, brussels(2026, 10, 26, 16, 0)),
        (SlaKind.FOLLOW_UP_ENDS, brussels(2026, 10, 31, 16, 0)),
    ]


def test_video_consultation_reminders_come_a_day_and_an_hour_before() -> None:
    appointment = utc(2026, 6, 10, 13, 0)
    result = sla_deadlines(SlaEvent.VIDEO_CONSULTATION_SCHEDULED, appointment)
    assert [d.due_at for d in result] == [utc(2026, 6, 9, 13, 0), utc(2026, 6, 10, 12, 0)]
    assert kinds(result) == [SlaKind.VIDEO_CONSULTATION_REMINDER] * 2


def test_family_reminders_already_due_are_dropped_when_now_is_given() -> None:
    appointment = utc(2026, 6, 10, 13, 0)
    result = sla_deadlines(
        SlaEvent.VIDEO_CONSULTATION_SCHEDULED, appointment, now=utc(2026, 6, 10, 9, 0)
    )
    assert [d.due_at for d in result] == [utc(2026, 6, 10, 12, 0)]


def test_overdue_coordinator_alerts_are_kept_when_now_is_given() -> None:
    submitted = utc(2026, 6, 1, 9, 0)
    result = sla_deadlines(SlaEvent.CASE_SUBMITTED, submitted, now=utc(2026, 6, 5, 9, 0))
    assert len(result) == 2


def test_events_without_new_timers_return_an_empty_list() -> None:
    at = utc(2026, 6, 1, 9, 0)
    for event in (SlaEvent.CASE_ACKNOWLEDGED, SlaEvent.VIDEO_CONSULTATION_HELD, "case_ended"):
        assert sla_deadlines(event, at) == []


def test_sla_deadlines_refuses_naive_times() -> None:
    with pytest.raises(NaiveDatetimeError):
        sla_deadlines(SlaEvent.CASE_SUBMITTED, datetime(2026, 6, 1, 9, 0))  # noqa: DTZ001


@given(
    st.sampled_from(list(SlaEvent)),
    aware_datetimes,
    st.booleans(),
    st.booleans(),
)
def test_deadlines_are_sorted_aware_utc(
    event: SlaEvent, at: datetime, urgent: bool, board: bool
) -> None:
    result = sla_deadlines(event, at, urgent=urgent, tumour_board=board)
    assert [d.due_at for d in result] == sorted(d.due_at for d in result)
    assert all(d.due_at.utcoffset() == timedelta(0) for d in result)


# --- cancellation and labels --------------------------------------------------------------


def test_a_complete_file_cancels_document_reminders_and_the_completeness_check() -> None:
    cancelled = cancelled_kinds(SlaEvent.FILE_COMPLETE)
    assert {
        SlaKind.DOCUMENTS_REMINDER,
        SlaKind.UPLOAD_LINK_EXPIRING,
        SlaKind.COMPLETENESS_CHECK_DUE,
    } <= cancelled
    assert SlaKind.ACKNOWLEDGE_DUE not in cancelled


def test_a_new_upload_link_replaces_the_old_links_timers() -> None:
    assert SlaKind.UPLOAD_LINK_EXPIRED in cancelled_kinds(SlaEvent.UPLOAD_LINK_ISSUED)


def test_acknowledging_cancels_only_the_acknowledgement_alert() -> None:
    assert cancelled_kinds("case_acknowledged") == {SlaKind.ACKNOWLEDGE_DUE}


def test_an_ended_case_cancels_every_timer() -> None:
    assert cancelled_kinds(SlaEvent.CASE_ENDED) == set(SlaKind)


def test_an_event_never_cancels_the_timers_it_has_just_created() -> None:
    at = utc(2026, 6, 1, 9, 0)
    for event in SlaEvent:
        created = set(kinds(sla_deadlines(event, at, urgent=True, tumour_board=True)))
        created |= set(kinds(sla_deadlines(event, at)))
        # Re-issuing replaces timers of the same kind, which is why they are cancelled first.
        if event not in (SlaEvent.UPLOAD_LINK_ISSUED, SlaEvent.VIDEO_CONSULTATION_SCHEDULED):
            assert not created & cancelled_kinds(event)


def test_every_timer_kind_has_a_distinct_label() -> None:
    labels = {sla_label(kind).msgid for kind in SlaKind}
    assert len(labels) == len(SlaKind)
