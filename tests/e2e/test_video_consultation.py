"""Booking the video consultation from the inbox: Brussels time in, the family's time out,
a calendar file, reminders 24 h and 1 h before, moved and cancelled."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from aiohttp import ClientSession
from icalendar import Calendar

from bot.settings import Settings
from intake.case import CaseStatus
from storage.tables import AuditEntry, Case, Timer
from tests.e2e.chat_client import texts
from tests.e2e.journey_helpers import brussels_slot
from tests.e2e.test_case_journey_rules import open_case_page
from tests.e2e.test_webchat_intake import rows

CALENDAR_LINK = re.compile(r"(/consultation/[A-Za-z0-9_-]{43}\.ics)")


async def reminders(database_url: str) -> list[Timer]:
    """The live reminder timers of the video consultation."""
    found = await rows(database_url, Timer, Timer.kind == "video_consultation_reminder")
    return sorted((t for t in found if t.cancelled_at is None), key=lambda t: t.due_at)


async def test_a_consultation_is_booked_moved_and_cancelled_in_the_familys_time(
    settings: Settings,
) -> None:
    url = settings.database_url
    async for opened in open_case_page(settings, CaseStatus.OPINION_DELIVERED):
        page, family, base = opened.page, opened.family, opened.base
        await family.replies()
        past, _ = brussels_slot(-1, 15)
        response, _ = await page.post("video", starts=past, minutes="45", zone="Europe/Moscow",
                                      join_url="https://meet.example/abc")
        assert response.status == 400
        starts, moment = brussels_slot(3, 15)
        response, _ = await page.post("video", starts=starts, minutes="45",
                                      zone="Europe/Moscow", join_url="http://meet.example/abc")
        assert response.status == 400
        response, _ = await page.post("video", starts=starts, minutes="45",
                                      zone="Europe/Moscow", join_url="https://meet.example/abc")
        assert response.status == 200 and response.url.query["done"] == "video"

        told = texts(await family.replies()).replace("\u202f", " ")
        moscow = moment.astimezone(ZoneInfo("Europe/Moscow")).strftime("%-I:%M %p")
        assert "is booked for" in told and f"{moscow} (GMT+03:00)" in told
        assert "(3:00 PM in Brussels), for about 45 minutes" in told
        assert "https://meet.example/abc" in told
        (case,) = await rows(url, Case)
        assert case.status == "video_consultation"
        first = CALENDAR_LINK.search(told)
        assert first is not None
        async with ClientSession() as http:
            got = await http.get(base + first.group(1))
            assert got.status == 200 and got.content_type == "text/calendar"
            event = Calendar.from_ical(await got.read()).walk("VEVENT")[0]
        assert event.decoded("dtstart") == moment
        assert event.decoded("dtend") == moment + timedelta(minutes=45)
        assert case.reference in str(event["summary"]) and int(event["sequence"]) == 0
        assert [t.due_at for t in await reminders(url)] == [moment - timedelta(hours=24),
                                                            moment - timedelta(hours=1)]

        later, moved = brussels_slot(4, 16)
        response, _ = await page.post("video", starts=later, minutes="30",
                                      zone="Europe/Moscow", join_url="https://meet.example/xyz")
        assert response.status == 200
        told = texts(await family.replies()).replace("\u202f", " ")
        assert "has been moved to" in told and "for about 30 minutes" in told
        second = CALENDAR_LINK.search(told)
        assert second is not None
        async with ClientSession() as http:
            assert (await http.get(base + first.group(1))).status == 410
            event = Calendar.from_ical(await (await http.get(base + second.group(1))).read())
        assert int(event.walk("VEVENT")[0]["sequence"]) == 1
        assert [t.due_at for t in await reminders(url)] == [moved - timedelta(hours=24),
                                                            moved - timedelta(hours=1)]

        response, _ = await page.post("video/cancel")
        assert response.status == 200
        assert "is cancelled" in texts(await family.replies())
        assert await reminders(url) == []
        async with ClientSession() as http:
            assert (await http.get(base + second.group(1))).status == 410
        actions = [a.action for a in await rows(url, AuditEntry)]
        assert actions.count("video_booked") == 2 and "video_cancelled" in actions
