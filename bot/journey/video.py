"""Video consultations: booked in Brussels time, told in the family's time, with a calendar
file and reminders 24 h and 1 h before.

Coordinators plan in Brussels time; the family reads the date in its own time zone (from the
patient's country when it has only one, else as the coordinator sets it) with the UTC offset,
so nobody has to convert. The calendar file (.ics) sits behind its own capability link,
revoked when the consultation is moved or cancelled.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.core import get_global
from babel.dates import format_date, format_datetime, format_time
from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.documents.links import find_by_token, token_hash
from bot.i18n.render import Renderer, isolate
from bot.journey.context import JourneyError, audit, family_language, locked_case
from bot.messaging.replies import ReplyWriter
from intake.case import CaseStatus
from intake.deadlines import SlaEvent, SlaKind, cancelled_kinds, sla_deadlines
from intake.prompts import Prompt, Text
from storage import repositories as repo
from storage.db import Database
from storage.tables import Case, Timer, VideoConsultation

BRUSSELS = ZoneInfo("Europe/Brussels")
MINUTES = (30, 45)
BOOKABLE = frozenset({CaseStatus.FILE_COMPLETE, CaseStatus.IN_REVIEW_SPECIALIST,
                      CaseStatus.IN_REVIEW_TUMOUR_BOARD, CaseStatus.OPINION_DELIVERED,
                      CaseStatus.VIDEO_CONSULTATION, CaseStatus.FOLLOW_UP})


def country_zone(case: Case) -> str | None:
    """The patient's country's time zone, when the country has only one."""
    country = (case.answers or {}).get("patient_country")
    zones = get_global("territory_zones").get(country, []) if isinstance(country, str) else []
    return str(zones[0]) if len(zones) == 1 else None


def brussels_time(typed: str) -> datetime:
    """Read the form's `YYYY-MM-DDTHH:MM` as Brussels wall-clock time."""
    try:
        local = datetime.fromisoformat(typed.strip())
    except ValueError:
        raise JourneyError("video_time") from None
    if local.tzinfo is not None:
        raise JourneyError("video_time")
    return local.replace(tzinfo=BRUSSELS)


def family_zone(typed: str, case: Case) -> ZoneInfo:
    """The time zone the coordinator gave, else the patient's country's."""
    name = typed.strip() or country_zone(case) or ""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise JourneyError("video_zone") from None


def when_text(moment: datetime, zone: ZoneInfo, lang: str) -> str:
    """"Thursday, December 10, 2026 5:00 PM (GMT+03:00)" in the family's language."""
    local = moment.astimezone(zone)
    return "{} {} ({})".format(format_date(local.date(), "full", locale=lang),
                               format_time(moment, "short", tzinfo=zone, locale=lang),
                               format_datetime(moment, "ZZZZ", tzinfo=zone, locale=lang))


def calendar_file(booking: VideoConsultation, summary: str) -> bytes:
    """The consultation as an RFC 5545 event; SEQUENCE grows with each move."""
    calendar = Calendar()
    calendar.add("prodid", "-//Second opinion//Video consultation//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"video-consultation-{booking.case_id}-{booking.id}@second-opinion")
    event.add("dtstamp", booking.created_at)
    event.add("dtstart", booking.starts_at)
    event.add("dtend", booking.starts_at + timedelta(minutes=booking.minutes))
    event.add("summary", summary)
    event.add("description", booking.join_url)
    event.add("url", booking.join_url)
    event.add("sequence", booking.sequence)
    event.add("status", "CANCELLED" if booking.cancelled_at else "CONFIRMED")
    calendar.add_component(event)
    return bytes(calendar.to_ical())


async def current_booking(session: AsyncSession, case_id: int) -> VideoConsultation | None:
    """The case's booked (not cancelled) consultation."""
    return (await session.execute(
        select(VideoConsultation).where(VideoConsultation.case_id == case_id,
                                        VideoConsultation.cancelled_at.is_(None))
        .order_by(VideoConsultation.id.desc()).limit(1))).scalar_one_or_none()


async def booking_for_token(session: AsyncSession, token: str) -> VideoConsultation | None:
    """The consultation a calendar link opens (None: unknown, moved or cancelled)."""
    booking = await find_by_token(session, VideoConsultation, token)
    return booking if booking is not None and booking.cancelled_at is None else None


def video_reminder(booking: VideoConsultation, case: Case) -> Prompt:
    """The reminder 24 h or 1 h before: the date in the family's time again, and the link,
    so the family needs no earlier message to join."""
    lang = case.language or "en"
    return Prompt(Text.of(
        "A reminder: your video consultation for request {reference} is on {when} "
        "({brussels} in Brussels). At that time, join with this link:\n{join}",
        reference=isolate(case.reference, lang),
        when=when_text(booking.starts_at, ZoneInfo(booking.timezone), lang),
        brussels=format_time(booking.starts_at, "short", tzinfo=BRUSSELS, locale=lang),
        join=booking.join_url))


class VideoDesk:
    """Books, moves and cancels consultations, each in one transaction with its audit."""

    def __init__(self, db: Database, writer: ReplyWriter, renderer: Renderer, clock: Clock,
                 base_url: str, on_committed: Callable[[], None]) -> None:
        self.db = db
        self.writer = writer
        self.renderer = renderer
        self.clock = clock
        self.base_url = base_url.rstrip("/")
        self.on_committed = on_committed

    async def book(self, coordinator_id: int, contact_id: int, when: str, minutes: str,
                   zone: str, join_url: str) -> int:
        """Book (or move) the consultation and tell the family; the booking's id."""
        now = self.clock()
        starts = brussels_time(when)
        if starts <= now:
            raise JourneyError("video_past")
        length = int(minutes) if minutes.isdigit() else 0
        join = join_url.strip()
        if length not in MINUTES:
            raise JourneyError("video_minutes")
        if not join.startswith("https://") or len(join) > 500 or any(c.isspace() for c in join):
            raise JourneyError("video_link")
        async with locked_case(self.db, contact_id) as found:
            session, case, contact = found.uow.session, found.case, found.contact
            if CaseStatus(case.status) not in BOOKABLE:
                raise JourneyError("video_not_now")
            tz = family_zone(zone, case)
            previous = await current_booking(session, case.id)
            if previous is not None:
                previous.cancelled_at = now
            token = secrets.token_urlsafe(32)
            booking = VideoConsultation(
                case_id=case.id, starts_at=starts, minutes=length, timezone=tz.key,
                join_url=join, sequence=previous.sequence + 1 if previous else 0,
                token_hash=token_hash(token), coordinator_id=coordinator_id, created_at=now)
            session.add(booking)
            await session.flush()
            await self._reminders(session, case, starts, now)
            if case.status == CaseStatus.OPINION_DELIVERED:
                repo.change_status(session, case, CaseStatus.VIDEO_CONSULTATION,
                                   f"coordinator:{coordinator_id}", now)
            lang = self.renderer.catalogs.resolve(family_language(contact, case))
            params = {"reference": isolate(case.reference, lang),
                      "when": when_text(starts, tz, lang),
                      "brussels": format_time(starts, "short", tzinfo=BRUSSELS, locale=lang),
                      "join": join, "calendar": f"{self.base_url}/consultation/{token}.ics"}
            text = (Text.counted(
                "Your video consultation for request {reference} has been moved to {when} "
                "({brussels} in Brussels), for about {count} minute. At that time, join with "
                "this link:\n{join}\nAdd it to your calendar:\n{calendar}",
                "Your video consultation for request {reference} has been moved to {when} "
                "({brussels} in Brussels), for about {count} minutes. At that time, join with "
                "this link:\n{join}\nAdd it to your calendar:\n{calendar}", length, **params)
                if previous else Text.counted(
                "Your video consultation for request {reference} is booked for {when} "
                "({brussels} in Brussels), for about {count} minute. At that time, join with "
                "this link:\n{join}\nAdd it to your calendar:\n{calendar}",
                "Your video consultation for request {reference} is booked for {when} "
                "({brussels} in Brussels), for about {count} minutes. At that time, join with "
                "this link:\n{join}\nAdd it to your calendar:\n{calendar}", length, **params))
            if contact.blocked_at is None:
                await self.writer.queue(session, contact, [Prompt(text)], lang, now,
                                        case_id=case.id)
            audit(session, coordinator_id, "video_booked", now, case_id=case.id,
                  contact_id=contact_id, booking_id=booking.id, moved=previous is not None)
            await found.uow.commit()
        self.on_committed()
        return booking.id

    async def cancel(self, coordinator_id: int, contact_id: int) -> None:
        """Cancel the booked consultation: reminders stop, the family is told."""
        now = self.clock()
        async with locked_case(self.db, contact_id) as found:
            session, case, contact = found.uow.session, found.case, found.contact
            booking = await current_booking(session, case.id)
            if booking is None:
                raise JourneyError("video_none")
            booking.cancelled_at = now
            await repo.cancel_timers(session, case.id, now,
                                     (SlaKind.VIDEO_CONSULTATION_REMINDER.value,))
            lang = self.renderer.catalogs.resolve(family_language(contact, case))
            if contact.blocked_at is None:
                await self.writer.queue(session, contact, [Prompt(Text.of(
                    "Your video consultation for request {reference} on {when} is cancelled. "
                    "Your coordinator will contact you to find another time.",
                    reference=isolate(case.reference, lang),
                    when=when_text(booking.starts_at, ZoneInfo(booking.timezone), lang)))],
                    lang, now, case_id=case.id)
            audit(session, coordinator_id, "video_cancelled", now, case_id=case.id,
                  contact_id=contact_id, booking_id=booking.id)
            await found.uow.commit()
        self.on_committed()

    async def _reminders(self, session: AsyncSession, case: Case, starts: datetime,
                         now: datetime) -> None:
        event = SlaEvent.VIDEO_CONSULTATION_SCHEDULED
        await repo.cancel_timers(session, case.id, now,
                                 tuple(kind.value for kind in cancelled_kinds(event)))
        for deadline in sla_deadlines(event, starts, now=now):
            session.add(Timer(case_id=case.id, contact_id=case.contact_id,
                              kind=deadline.kind.value, audience=deadline.audience.value,
                              due_at=deadline.due_at, created_at=now))
