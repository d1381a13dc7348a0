"""Helpers for the second half of a case: a file made complete, a coordinator's case page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import ClientResponse, ClientSession, FormData, web
from sqlalchemy import select

from bot.keys import TIMERS
from storage.db import Database
from storage.tables import Case, CaseHistory, Contact, ConversationRow, Timer
from storage.unit_of_work import UnitOfWork
from tests.dicom_factory import iter_study
from tests.e2e.test_inbox import InboxBrowser, visible
from tests.e2e.test_upload import AMIRA
from tests.e2e.test_webchat_intake import rows
from tests.e2e.upload_client import TusClient, link_for, pdf

OPINION_LINK = re.compile(r"/opinion/([A-Za-z0-9_-]{43})")
OPINION_PDF = pdf("signed opinion of the specialists")


async def complete_the_file(database_url: str, base: str) -> None:
    """Send every required document through the upload link: the case becomes complete."""
    async with ClientSession() as http:
        tus = TusClient(http, await link_for(database_url, base))
        for name, data in iter_study(instances=2, series=1, **AMIRA):
            await tus.send(data, filename=name.rsplit("/", 1)[-1], relativePath=f"CD/{name}")
        await tus.send(pdf("lab"), filename="laboratoire.pdf")
        await tus.send(pdf("letter"), filename="referral letter.pdf")
        await tus.done()


async def only_contact_id(database_url: str) -> int:
    """The id of the test database's only contact."""
    (contact,) = await rows(database_url, Contact)
    return int(contact.id)


@dataclass
class CasePage:
    """A signed-in coordinator on one case's quote / opinion / doctor page."""

    browser: InboxBrowser
    contact_id: int

    @property
    def path(self) -> str:
        """The page's path."""
        return f"/inbox/c/{self.contact_id}/case"

    async def open(self) -> str:
        """Load the page (it carries the form token)."""
        response, page = await self.browser.get(self.path)
        assert response.status == 200, page
        return page

    async def post(self, action: str, **fields: str) -> tuple[ClientResponse, str]:
        """Submit one of the page's forms."""
        await self.open()
        return await self.browser.post(f"/inbox/c/{self.contact_id}/{action}", fields)

    async def move(self, status: str) -> tuple[ClientResponse, str]:
        """Change the case's status from the conversation page."""
        await self.browser.get(f"/inbox/c/{self.contact_id}")
        return await self.browser.post(f"/inbox/c/{self.contact_id}/status",
                                       {"status": status, "tell_family": "yes"})

    async def send_opinion(self, data: bytes, note: str = "",
                           csrf: str | None = None) -> tuple[ClientResponse, str]:
        """Post the signed PDF the way the page's multipart form does (token first)."""
        await self.open()
        form = FormData()
        form.add_field("csrf", self.browser.csrf if csrf is None else csrf)
        form.add_field("note", note)
        form.add_field("file", data, filename="opinion.pdf", content_type="application/pdf")
        response = await self.browser.session.post(
            f"{self.browser.base_url}/inbox/c/{self.contact_id}/opinion", data=form)
        return response, await response.text()


async def seed_case_for(database_url: str, contact_id: int, status: str,
                        answers: dict[str, Any]) -> int:
    """Give a family that is already chatting a submitted case in `status` (no intake to
    replay): its conversation now follows that case."""
    now = datetime.now(UTC)
    database = Database(database_url)
    try:
        async with UnitOfWork(database) as uow:
            session = uow.session
            contact = await session.get(Contact, contact_id)
            assert contact is not None
            contact.locale, contact.consent_version, contact.consent_at = "en", "2026-11-v1", now
            case = Case(reference=f"SO-{uuid.uuid4().hex[:6].upper()}", contact_id=contact_id,
                        status=status, language="en", answers=answers,
                        routing={"kind": "co_review", "urgent": False, "paediatric": True,
                                 "specialties": ["paediatric_cardiology"]},
                        urgent=False, submitted_at=now, created_at=now, updated_at=now)
            session.add(case)
            await session.flush()
            session.add(CaseHistory(case_id=case.id, from_status=None, to_status=status,
                                    actor="family", at=now))
            row = await session.get(ConversationRow, contact_id)
            assert row is not None
            row.case_id = case.id
            row.state = {"phase": "submitted", "language": "en", "answers": answers,
                         "consent_version": "2026-11-v1", "handoff": False}
            await uow.commit()
            return int(case.id)
    finally:
        await database.dispose()


BRUSSELS = ZoneInfo("Europe/Brussels")


def brussels_slot(days: int, hour: int) -> tuple[str, datetime]:
    """A form value in Brussels wall-clock time, and the same moment in UTC."""
    day = (datetime.now(UTC) + timedelta(days=days)).astimezone(BRUSSELS).date()
    local = datetime(day.year, day.month, day.day, hour, 0, tzinfo=BRUSSELS)
    return local.strftime("%Y-%m-%dT%H:%M"), local.astimezone(UTC)


def family_clock_text(moment: datetime, zone: str) -> str:
    """How an English message shows `moment` in `zone`: "4:00 PM (GMT+01:00)"."""
    local = moment.astimezone(ZoneInfo(zone))
    offset = local.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return (f"{local.strftime('%-I:%M %p')} "
            f"(GMT{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d})")


async def fire_next_video_reminder(app: web.Application, database_url: str) -> None:
    """Bring the earliest pending video reminder to now and let the timers fire it (the
    reminders' times themselves are the deadline rules' unit tests)."""
    database = Database(database_url)
    try:
        async with UnitOfWork(database) as uow:
            timer = (await uow.session.execute(
                select(Timer).where(Timer.kind == "video_consultation_reminder",
                                    Timer.fired_at.is_(None), Timer.cancelled_at.is_(None))
                .order_by(Timer.due_at).limit(1))).scalar_one()
            timer.due_at = datetime.now(UTC) - timedelta(seconds=1)
            await uow.commit()
    finally:
        await database.dispose()
    await app[TIMERS].fire_due()  # or the app's own timer loop got there first


Say = Callable[[str], Awaitable[str]]
Read = Callable[[], Awaitable[str]]


async def video_and_follow_up_question(page: CasePage, app: web.Application, database_url: str,
                                       say: Say, read: Read) -> None:
    """After the opinion: the consultation booked in Brussels time and shown in Morocco's
    (the patient's country, one time zone), its reminder repeating the date and the link, and
    a question of the follow-up period acknowledged with the answer time and the period's end,
    flagged for the coordinators."""
    starts, moment = brussels_slot(3, 15)
    response, html = await page.post("video", starts=starts, minutes="45", zone="",
                                     join_url="https://meet.example/amira")
    assert response.status == 200 and response.url.query["done"] == "video", html
    local = family_clock_text(moment, "Africa/Casablanca")
    told = (await read()).replace("\u202f", " ")
    assert "is booked for" in told and local in told, told
    assert "(3:00 PM in Brussels)" in told and "https://meet.example/amira" in told

    await fire_next_video_reminder(app, database_url)
    reminded = (await read()).replace("\u202f", " ")
    assert "A reminder: your video consultation" in reminded and local in reminded, reminded
    assert "https://meet.example/amira" in reminded

    (ends,) = [t.due_at for t in await rows(database_url, Timer,
                                           Timer.kind == "follow_up_ends")]
    last_day = ends.astimezone(BRUSSELS).date()
    answered = (await say("Should she keep taking furosemide after the operation?"))
    answered = answered.replace("\xa0", " ")
    assert "will answer within 2 working days" in answered, answered
    assert f"until {last_day.strftime('%B')} {last_day.day}, {last_day.year}." in answered
    conversation = visible((await page.browser.get(f"/inbox/c/{page.contact_id}"))[1])
    assert "Should she keep taking furosemide" in conversation
    assert "Needs a person" in conversation
