"""Helpers for the second half of a case: a file made complete, a coordinator's case page."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import ClientResponse, ClientSession, FormData

from storage.db import Database
from storage.tables import Case, CaseHistory, Contact, ConversationRow
from storage.unit_of_work import UnitOfWork
from tests.dicom_factory import iter_study
from tests.e2e.test_inbox import InboxBrowser
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
