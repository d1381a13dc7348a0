"""Fixtures of the attack tests: a submitted case seeded in the database, the app on a
loopback port (or behind a trusted proxy, with a clock the tests move), the case's upload
link, a signed-in coordinator, the fake Bot API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from bot.access.client_address import parse_networks
from bot.app import create_app
from bot.channels.telegram import TELEGRAM
from bot.settings import Settings
from intake.case import CaseStatus
from storage.db import Database
from storage.tables import Case, CaseHistory, Contact, ConversationRow, Document, UploadSession
from storage.unit_of_work import UnitOfWork
from tests.clock import FakeClock
from tests.e2e.conftest import _ptb_timedelta, fake, tg_settings  # noqa: F401  (fixtures)
from tests.e2e.test_inbox import SEEDED_ANSWERS, InboxBrowser, add_login
from tests.e2e.upload_client import TusClient, link_for

__all__ = ["Site", "open_site", "seed_case"]


async def seed_case(
    database_url: str, *, channel: str = "webchat", external_id: str | None = None,
    language: str = "en",
) -> tuple[int, int, str]:
    """A family whose request is in, without replaying an intake: (contact, case, reference)."""
    now = datetime.now(UTC)
    reference = f"SO-{uuid.uuid4().hex[:6].upper()}"
    database = Database(database_url)
    try:
        async with UnitOfWork(database) as uow:
            session = uow.session
            contact = Contact(channel=channel, external_id=external_id or uuid.uuid4().hex,
                              locale=language, consent_version="2026-11-v1", consent_at=now,
                              last_inbound_at=now, created_at=now)
            session.add(contact)
            await session.flush()
            case = Case(reference=reference, contact_id=contact.id,
                        status=CaseStatus.AWAITING_DOCUMENTS, language=language,
                        answers=SEEDED_ANSWERS, routing={"kind": "co_review", "urgent": False},
                        submitted_at=now, created_at=now, updated_at=now)
            session.add(case)
            await session.flush()
            session.add(ConversationRow(
                contact_id=contact.id, case_id=case.id, updated_at=now,
                state={"phase": "submitted", "language": language, "answers": {},
                       "consent_version": "2026-11-v1", "handoff": False},
            ))
            session.add(CaseHistory(case_id=case.id, from_status=None,
                                    to_status=CaseStatus.AWAITING_DOCUMENTS, actor="family",
                                    at=now))
            await uow.commit()
            return contact.id, case.id, reference
    finally:
        await database.dispose()


@dataclass
class Site:
    """The app on a loopback port with one seeded case and its upload link."""

    settings: Settings
    app: web.Application
    server: TestServer
    base: str
    http: ClientSession
    link: str
    contact_id: int
    case_id: int
    reference: str

    @property
    def tus(self) -> TusClient:
        """A tus client on the case's link."""
        return TusClient(self.http, self.link)

    async def rows(self, model: type, *where: Any) -> list[Any]:
        """Rows straight from the database, oldest first."""
        database = Database(self.settings.database_url)
        try:
            async with database.sessions() as session:
                query = select(model).where(*where).order_by(model.id)  # type: ignore[attr-defined]
                return list((await session.execute(query)).scalars())
        finally:
            await database.dispose()

    async def documents(self) -> list[Document]:
        """The case's documents."""
        return await self.rows(Document)

    async def uploads(self) -> list[UploadSession]:
        """Every upload session."""
        database = Database(self.settings.database_url)
        try:
            async with database.sessions() as session:
                return list((await session.execute(select(UploadSession))).scalars())
        finally:
            await database.dispose()

    async def coordinator(self) -> InboxBrowser:
        """A coordinator signed in to the inbox (close it after use)."""
        login = await add_login(self.settings.database_url,
                                email=f"{uuid.uuid4().hex[:8]}@team.example")
        browser = await InboxBrowser.open(self.base)
        await browser.sign_in(login.email)
        return browser

    async def close(self) -> None:
        """Stop everything."""
        await self.http.close()
        await self.server.close()


async def open_site(settings: Settings, *, channel: str = "webchat",
                    external_id: str | None = None, language: str = "en") -> Site:
    """Seed a submitted case, start the app, issue the case's link."""
    contact_id, case_id, reference = await seed_case(
        settings.database_url, channel=channel, external_id=external_id, language=language)
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    if TELEGRAM in app:
        app[TELEGRAM].per_chat_interval = 0.0
    base = f"http://127.0.0.1:{server.port}"
    link = await link_for(settings.database_url, base)
    http = ClientSession(headers={"Accept-Language": "en"})
    return Site(settings, app, server, base, http, link, contact_id, case_id, reference)


@pytest.fixture
async def site(settings: Settings) -> AsyncIterator[Site]:
    """A seeded English web-chat case and its upload link."""
    opened = await open_site(settings)
    try:
        yield opened
    finally:
        await opened.close()


# The test client connects from 127.0.0.1: configured as the reverse proxy, its
# X-Forwarded-For header says which client a request is from.
PROXY = "127.0.0.1"

Serve = Callable[..., Awaitable[str]]


@pytest.fixture
def clock() -> FakeClock:
    """The app's clock, moved by the tests."""
    return FakeClock()


@pytest.fixture
def proxied(settings: Settings) -> Settings:
    """Settings of a deployment behind a reverse proxy on loopback."""
    return settings.with_overrides(trusted_proxies=parse_networks(PROXY))


@pytest.fixture
async def serve(clock: FakeClock) -> AsyncIterator[Serve]:
    """Start the whole app (one more worker on each call) and give its base URL."""
    servers: list[TestServer] = []

    async def start(settings: Settings) -> str:
        server = TestServer(create_app(settings, clock), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        await server.close()


def from_client(address: str) -> dict[str, str]:
    """Headers of a request the proxy forwards for `address`."""
    return {"X-Forwarded-For": address}


Start = Callable[..., Awaitable[str]]


@pytest.fixture
async def start(settings: Settings) -> AsyncIterator[Start]:
    """Start the whole app (settings overridden per test); returns its base URL."""
    servers: list[TestServer] = []

    async def run(**overrides: Any) -> str:
        server = TestServer(create_app(settings.with_overrides(**overrides)), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield run
    for server in servers:
        await server.close()


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    """The test's database, read straight."""
    database = Database(settings.database_url)
    yield database
    await database.dispose()


async def count(db: Database, model: type, *where: Any) -> int:
    """How many rows of `model` match."""
    async with db.sessions() as session:
        query = select(func.count()).select_from(model).where(*where)
        return int(await session.scalar(query) or 0)


from tests.task_guard import _no_task_left_behind  # noqa: E402,F401  (autouse, every test here)
