"""The coordinators' inbox over HTTP: sign-in, the list, a conversation and its actions."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientSession, CookieJar, web
from aiohttp.test_utils import TestServer
from yarl import URL

import bot.keys
from bot.access.coordinators import create_coordinator
from bot.app import create_app
from bot.settings import Settings
from bot.web.inbox import setup_inbox
from bot.web.inbox.auth import SESSION_COOKIE, load_session_key
from intake.case import CaseStatus
from storage.db import Database
from storage.tables import (
    AuditEntry,
    Case,
    CaseHistory,
    Contact,
    ConversationRow,
    Coordinator,
    Document,
    Message,
    OutboxItem,
    Timer,
)
from storage.unit_of_work import UnitOfWork
from tests.e2e.chat_client import ChatFamily, last_options, texts
from tests.e2e.test_webchat_intake import ENGLISH_INTAKE, answer, rows

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CONVERSATION_LINK = re.compile(r'href="/inbox/c/(\d+)"')

SEEDED_ANSWERS: dict[str, Any] = {
    "role": "parent", "patient_name": "Amira Benali", "patient_birth_date": "2015-05-14",
    "patient_sex": "female", "patient_country": "MA", "specialty": "cardiology",
    "situation": "surgery", "local_proposal": "Open-heart surgery",
    "questions": "Is surgery necessary now?", "goals": None, "urgency": ["none"],
    "service": "written_video", "report_language": "fr",
    "treatment_history": "Furosemide 10 mg daily", "physician_name": "Dr Karim Alami",
    "physician_hospital": "CHU Ibn Rochd", "physician_contact": "k.alami@example.org",
    "share_with_physician": True,
}


@dataclass
class Login:
    """A coordinator account the tests sign in with."""

    id: int
    email: str
    name: str
    password: str = PASSWORD


@dataclass
class InboxBrowser:
    """A coordinator's browser session, driven over HTTP like the pages do it."""

    base_url: str
    session: ClientSession
    csrf: str = ""
    pages: list[str] = field(default_factory=list)

    @classmethod
    async def open(cls, base_url: str, *, behind_tls: bool = False) -> InboxBrowser:
        """A browser without cookies; `behind_tls`: the app's public address is https (a
        TLS proxy in front), so its Secure cookies go back over the loopback port too."""
        jar = CookieJar(unsafe=True, treat_as_secure_origin=[base_url] if behind_tls else None)
        return cls(base_url, ClientSession(cookie_jar=jar))

    async def close(self) -> None:
        """Close the browser."""
        await self.session.close()

    def _remember(self, text: str) -> str:
        found = CSRF.search(text)
        if found:
            self.csrf = html.unescape(found.group(1))
        self.pages.append(text)
        return text

    async def get(self, path: str, **options: Any) -> tuple[ClientResponse, str]:
        """Load a page; keeps the form token it carries."""
        response = await self.session.get(self.base_url + path, **options)
        return response, self._remember(await response.text())

    async def post(
        self, path: str, data: dict[str, str] | None = None, *, with_csrf: bool = True,
        **options: Any,
    ) -> tuple[ClientResponse, str]:
        """Submit a form (with the page's CSRF token unless told otherwise)."""
        form = dict(data or {})
        if with_csrf:
            form.setdefault("csrf", self.csrf)
        response = await self.session.post(self.base_url + path, data=form, **options)
        return response, self._remember(await response.text())

    async def sign_in(self, email: str, password: str = PASSWORD) -> tuple[ClientResponse, str]:
        """Fill in and send the sign-in form."""
        await self.get("/inbox/login")
        return await self.post("/inbox/login", {"email": email, "password": password})


async def add_login(database_url: str, email: str = "anna@team.example",
                    name: str = "Anna Peeters") -> Login:
    """Create a coordinator account straight in the database."""
    database = Database(database_url)
    try:
        async with UnitOfWork(database) as uow:
            coordinator = await create_coordinator(uow.session, email, name, PASSWORD)
            await uow.commit()
            return Login(coordinator.id, email, name)
    finally:
        await database.dispose()


async def seed_case(
    database_url: str, *, status: str = CaseStatus.AWAITING_DOCUMENTS, unread: int = 1,
    urgent: bool = False, answers: dict[str, Any] | None = None,
    assigned_to: int | None = None,
) -> tuple[int, int]:
    """A web-chat family whose request is in: (contact id, case id), no intake to replay."""
    now = datetime.now(UTC)
    database = Database(database_url)
    try:
        async with UnitOfWork(database) as uow:
            session = uow.session
            contact = Contact(channel="webchat", external_id=uuid.uuid4().hex, locale="en",
                              consent_version="2026-11-v1", consent_at=now, unread=unread,
                              last_inbound_at=now, created_at=now)
            session.add(contact)
            await session.flush()
            case = Case(reference=f"SO-{uuid.uuid4().hex[:6].upper()}", contact_id=contact.id,
                        status=status, language="en", answers=answers or SEEDED_ANSWERS,
                        routing={"kind": "co_review", "urgent": urgent, "paediatric": True,
                                 "specialties": ["paediatric_cardiology",
                                                 "paediatric_cardiac_surgery"]},
                        urgent=urgent, assigned_to=assigned_to, submitted_at=now,
                        created_at=now, updated_at=now)
            session.add(case)
            await session.flush()
            session.add(ConversationRow(
                contact_id=contact.id, case_id=case.id, updated_at=now,
                state={"phase": "submitted", "language": "en", "answers": {},
                       "consent_version": "2026-11-v1", "handoff": False},
            ))
            session.add(CaseHistory(case_id=case.id, from_status=None, to_status=status,
                                    actor="family", at=now))
            session.add(Message(contact_id=contact.id, case_id=case.id, direction="in",
                                author="family", text="Hello, any news?", created_at=now))
            await uow.commit()
            return contact.id, case.id
    finally:
        await database.dispose()


@pytest.fixture
async def inbox_base(settings: Settings) -> AsyncIterator[str]:
    """The whole app with the inbox, on a loopback port."""
    app = create_app(settings)
    setup_inbox(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


@pytest.fixture
async def login(settings: Settings) -> Login:
    """One coordinator account."""
    return await add_login(settings.database_url)


@pytest.fixture
async def coordinator(inbox_base: str, login: Login) -> AsyncIterator[InboxBrowser]:
    """A coordinator signed in to the inbox."""
    browser = await InboxBrowser.open(inbox_base)
    response, _ = await browser.sign_in(login.email)
    assert response.status == 200 and response.url.path == "/inbox"
    try:
        yield browser
    finally:
        await browser.close()


def visible(page: str) -> str:
    """The page's text with tags dropped and entities decoded, for assertions."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


async def complete_intake(family: ChatFamily) -> list[dict[str, Any]]:
    """Answer every question of the English intake and confirm."""
    await family.replies()
    for how, value in ENGLISH_INTAKE:
        await answer(family, how, value)
    return await family.tap("confirm")


# -- signing in ------------------------------------------------------------------------------


async def test_every_inbox_page_sends_an_anonymous_visitor_to_the_sign_in(
    inbox_base: str,
) -> None:
    browser = await InboxBrowser.open(inbox_base)
    try:
        for path in ("/inbox", "/inbox/c/1", "/inbox/audit", "/inbox/documents/1"):
            response, _ = await browser.get(path, allow_redirects=False)
            assert response.status == 302, path
            assert response.headers["Location"].startswith("/inbox/login?next=")
        response, _ = await browser.post("/inbox/c/1/reply", {"text": "hi"}, with_csrf=False)
        assert response.status == 403
        response, page = await browser.get("/inbox/c/1")
        assert response.url.path == "/inbox/login"
        assert 'name="password"' in page and 'autocomplete="current-password"' in page
        assert response.headers["Cache-Control"] == "no-store"
    finally:
        await browser.close()


async def test_a_wrong_password_and_an_unknown_address_get_the_same_refusal(
    inbox_base: str, login: Login,
) -> None:
    browser = await InboxBrowser.open(inbox_base)
    try:
        wrong, wrong_page = await browser.sign_in(login.email, "not the password")
        unknown, unknown_page = await browser.sign_in("nobody@team.example", PASSWORD)
        for response, page in ((wrong, wrong_page), (unknown, unknown_page)):
            assert response.status == 401
            assert "The e-mail address or the password is not correct." in visible(page)
            assert SESSION_COOKIE not in response.cookies
        signed_in, _ = await browser.sign_in(login.email.upper())
        assert signed_in.status == 200 and signed_in.url.path == "/inbox"
    finally:
        await browser.close()


async def test_repeated_failures_slow_down_even_the_right_password(
    inbox_base: str, login: Login,
) -> None:
    browser = await InboxBrowser.open(inbox_base)
    try:
        for _ in range(5):
            response, _ = await browser.sign_in(login.email, "guess")
            assert response.status == 401
        response, page = await browser.sign_in(login.email)
        assert response.status == 429
        assert int(response.headers["Retry-After"]) > 0
        assert "Too many attempts" in visible(page)
        assert SESSION_COOKIE not in response.cookies
    finally:
        await browser.close()


async def test_the_session_cookie_is_a_random_token_http_only_and_strict(
    inbox_base: str, login: Login,
) -> None:
    browser = await InboxBrowser.open(inbox_base)
    try:
        await browser.get("/inbox/login")
        response = await browser.session.post(
            inbox_base + "/inbox/login", allow_redirects=False,
            data={"csrf": browser.csrf, "email": login.email, "password": PASSWORD},
        )
        assert response.status == 303 and response.headers["Location"] == "/inbox"
        cookie = response.cookies[SESSION_COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        assert cookie["path"] == "/inbox" and int(cookie["max-age"]) == 12 * 3600
        assert not cookie["secure"]  # the test server is plain http
        assert len(cookie.value) >= 43 and str(login.id) not in cookie.value.split(".")
    finally:
        await browser.close()


async def test_a_forged_or_tampered_session_cookie_is_refused(
    inbox_base: str, login: Login, settings: Settings,
) -> None:
    browser = await InboxBrowser.open(inbox_base)
    try:
        await browser.sign_in(login.email)
        genuine = browser.session.cookie_jar.filter_cookies(URL(inbox_base + "/inbox"))
        token = genuine[SESSION_COOKIE].value
        forgeries = [
            "garbage",
            f"{login.id}.{token}",
            token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
            token + "x",
            "x" * 200,
        ]
        for forged in forgeries:
            browser.session.cookie_jar.clear()
            browser.session.cookie_jar.update_cookies({SESSION_COOKIE: forged},
                                                      URL(inbox_base + "/inbox"))
            response, _ = await browser.get("/inbox", allow_redirects=False)
            assert response.status == 302, forged
        browser.session.cookie_jar.clear()
        browser.session.cookie_jar.update_cookies({SESSION_COOKIE: token},
                                                  URL(inbox_base + "/inbox"))
        response, _ = await browser.get("/inbox", allow_redirects=False)
        assert response.status == 200
    finally:
        await browser.close()


async def test_a_deactivated_coordinator_is_out_at_once(
    coordinator: InboxBrowser, login: Login, settings: Settings,
) -> None:
    database = Database(settings.database_url)
    try:
        async with UnitOfWork(database) as uow:
            account = await uow.session.get(Coordinator, login.id)
            assert account is not None
            account.active = False
            await uow.commit()
    finally:
        await database.dispose()
    response, _ = await coordinator.get("/inbox", allow_redirects=False)
    assert response.status == 302


async def test_a_form_without_its_csrf_token_is_refused(
    coordinator: InboxBrowser, settings: Settings,
) -> None:
    contact_id, _ = await seed_case(settings.database_url)
    await coordinator.get(f"/inbox/c/{contact_id}")
    for data, with_csrf in (({"text": "hello"}, False), ({"text": "hello", "csrf": "x"}, True)):
        response, _ = await coordinator.post(f"/inbox/c/{contact_id}/reply", data,
                                             with_csrf=with_csrf)
        assert response.status == 403
    response, _ = await coordinator.post("/inbox/logout", with_csrf=False)
    assert response.status == 403
    anonymous = await InboxBrowser.open(coordinator.base_url)
    try:
        await anonymous.get("/inbox/login")
        response, _ = await anonymous.post("/inbox/login", {"email": "a@b.c", "password": "x"},
                                           with_csrf=False)
        assert response.status == 403
    finally:
        await anonymous.close()
    replies = await rows(settings.database_url, Message, Message.author == "coordinator")
    assert replies == []


async def test_signing_out_ends_the_session_in_this_browser(coordinator: InboxBrowser) -> None:
    await coordinator.get("/inbox")
    response, _ = await coordinator.post("/inbox/logout")
    assert response.url.path == "/inbox/login"
    response, _ = await coordinator.get("/inbox", allow_redirects=False)
    assert response.status == 302


# -- the whole path: a family's intake, the coordinator's reply ------------------------------


async def test_a_coordinator_reads_the_finished_intake_and_the_reply_reaches_the_web_chat(
    inbox_base: str, coordinator: InboxBrowser, login: Login, settings: Settings,
) -> None:
    family = await ChatFamily.open(inbox_base)
    try:
        done = await complete_intake(family)
        reference = re.search(r"SO-[A-Z0-9]{6}", texts(done))
        assert reference is not None

        response, page = await coordinator.get("/inbox?show=all")
        assert reference.group(0) in page and "Amira Benali" in page
        assert "Waiting for documents" in visible(page)
        contact_id = int(CONVERSATION_LINK.findall(page)[0])

        response, page = await coordinator.get(f"/inbox/c/{contact_id}")
        assert response.status == 200
        shown = visible(page)
        for expected in ("Patient Amira Benali", "Date of birth 14 May 2015",
                         "Country of residence Morocco", "Medical area Cardiology (heart)",
                         "Is surgery necessary now? Is there a less invasive alternative?",
                         "Paediatric cardiac surgery", "Referral letter", "Missing",
                         "Acknowledge the new case", "Open-heart surgery to repair"):
            assert expected in shown, expected
        assert '<dd dir="auto" class="summary__family">Amira Benali</dd>' in page
        assert "Your questions" in shown  # the labels of the family's own summary

        response, page = await coordinator.post(
            f"/inbox/c/{contact_id}/reply",
            {"text": "Hello, I am Anna, your coordinator. We have your request."},
        )
        assert response.status == 200 and response.url.query.get("done") == "reply"
        assert "Your message is on its way to the family." in visible(page)

        replies = await family.replies()
        assert [m["text"] for m in replies] == [
            "Hello, I am Anna, your coordinator. We have your request."]
        _, page = await coordinator.get(f"/inbox/c/{contact_id}")
        assert "Coordinator Anna Peeters" in visible(page)
        assert "delivery--sent" in page
    finally:
        await family.close()

    (case,) = await rows(settings.database_url, Case)
    (reply,) = await rows(settings.database_url, Message, Message.author == "coordinator")
    assert reply.coordinator_id == login.id and reply.case_id == case.id
    acknowledge = await rows(settings.database_url, Timer, Timer.kind == "acknowledge_due")
    assert acknowledge and all(t.cancelled_at is not None for t in acknowledge)
    entries = await rows(settings.database_url, AuditEntry, AuditEntry.coordinator_id == login.id)
    actions = [e.action for e in entries]
    assert actions.count("view") == 3 and actions.count("reply") == 1
    assert {e.case_id for e in entries if e.action in ("view", "reply")} == {case.id}
    reply_entry = next(e for e in entries if e.action == "reply")
    assert reply_entry.detail == {"message_id": reply.id}


async def test_taking_over_silences_the_bot_and_handing_back_repeats_its_question(
    inbox_base: str, coordinator: InboxBrowser, settings: Settings,
) -> None:
    family = await ChatFamily.open(inbox_base)
    try:
        await family.replies()
        for how, value in ENGLISH_INTAKE[:5]:
            asked = await answer(family, how, value)
        assert last_options(asked) == ["female", "male", "other"]
        (contact,) = await rows(settings.database_url, Contact)

        response, page = await coordinator.post(f"/inbox/c/{contact.id}/takeover")
        assert response.status == 200
        assert "the assistant stays silent" in visible(page)

        await family.send(text="Is anyone there? I have a question about the costs.")
        assert await family.replies(wait=2.0) == []

        _, page = await coordinator.get("/inbox")
        assert f'href="/inbox/c/{contact.id}"' in page
        assert "1 unread" in visible(page) and "Coordinator has taken over" in visible(page)
        _, page = await coordinator.get(f"/inbox/c/{contact.id}")
        assert "New messages" in visible(page)
        assert "I have a question about the costs." in page
        (contact,) = await rows(settings.database_url, Contact)
        assert contact.unread == 0 and contact.needs_human

        await coordinator.post(f"/inbox/c/{contact.id}/reply",
                               {"text": "Yes, I am here. The prices depend on the service."})
        assert texts(await family.replies()) == (
            "Yes, I am here. The prices depend on the service.")

        response, page = await coordinator.post(f"/inbox/c/{contact.id}/handback")
        assert "The assistant has resumed" in visible(page)
        again = await family.replies()
        assert "sex" in texts(again)
        assert last_options(again) == ["female", "male", "other"]
        following = await family.tap("female")
        assert "country" in texts(following)
    finally:
        await family.close()
    (contact,) = await rows(settings.database_url, Contact)
    assert not contact.needs_human
    (row,) = await rows(settings.database_url, ConversationRow)
    assert row.state["handoff"] is False
    actions = [e.action for e in await rows(settings.database_url, AuditEntry)]
    assert "take_over" in actions and "hand_back" in actions


# -- status, assignment, list, audit, language ------------------------------------------------


async def test_the_status_moves_only_along_the_status_machine(
    coordinator: InboxBrowser, login: Login, settings: Settings,
) -> None:
    contact_id, case_id = await seed_case(settings.database_url)
    _, page = await coordinator.get(f"/inbox/c/{contact_id}")
    offered = re.findall(r'<option value="([a-z_]+)">', page)
    assert offered == ["file_complete", "withdrawn"]  # never "erased", never a jump

    response, page = await coordinator.post(
        f"/inbox/c/{contact_id}/status",
        {"status": "opinion_delivered", "from": "awaiting_documents"},
    )
    assert response.status == 409
    assert "This status change is not allowed from the current status." in visible(page)
    response, _ = await coordinator.post(f"/inbox/c/{contact_id}/status",
                                         {"status": "erased", "from": "awaiting_documents"})
    assert response.status == 409
    (case,) = await rows(settings.database_url, Case)
    assert case.status == CaseStatus.AWAITING_DOCUMENTS

    response, page = await coordinator.post(
        f"/inbox/c/{contact_id}/status",
        {"status": "file_complete", "from": "awaiting_documents", "tell_family": "yes"},
    )
    assert response.status == 200 and "The status has been changed." in visible(page)
    offered = re.findall(r'<option value="([a-z_]+)">', page)
    assert offered == ["awaiting_documents", "in_review_specialist", "in_review_tumour_board",
                       "withdrawn"]
    response, page = await coordinator.post(
        f"/inbox/c/{contact_id}/status",
        {"status": "in_review_specialist", "from": "awaiting_documents"},
    )
    assert response.status == 409 and "Someone changed the status meanwhile" in visible(page)

    (case,) = await rows(settings.database_url, Case)
    assert case.status == CaseStatus.FILE_COMPLETE and case.file_complete_at is not None
    history = await rows(settings.database_url, CaseHistory, CaseHistory.case_id == case_id)
    assert [(h.to_status, h.actor) for h in history][-1] == (
        "file_complete", f"coordinator:{login.id}")
    timers = await rows(settings.database_url, Timer, Timer.case_id == case_id)
    assert [t.kind for t in timers] == ["opinion_due"]
    told = await rows(settings.database_url, Message, Message.author == "bot")
    assert [m.text for m in told] == [f"Your request {case.reference}: file complete."]
    entries = await rows(settings.database_url, AuditEntry, AuditEntry.action == "status")
    assert [e.detail for e in entries] == [{"from": "awaiting_documents",
                                            "to": "file_complete"}]


async def test_assigning_a_case_puts_it_under_mine(
    coordinator: InboxBrowser, settings: Settings,
) -> None:
    contact_id, _ = await seed_case(settings.database_url, unread=0)
    _, page = await coordinator.get("/inbox?show=mine")
    assert "No case is assigned to you." in visible(page)
    response, page = await coordinator.post(f"/inbox/c/{contact_id}/assign", {"to": "me"})
    assert "The case is assigned to you." in visible(page)
    _, page = await coordinator.get("/inbox?show=mine")
    assert f'href="/inbox/c/{contact_id}"' in page and "Me" in visible(page)
    await coordinator.post(f"/inbox/c/{contact_id}/assign", {"to": "none"})
    _, page = await coordinator.get("/inbox?show=mine")
    assert f'href="/inbox/c/{contact_id}"' not in page
    actions = [e.action for e in await rows(settings.database_url, AuditEntry)]
    assert "assign" in actions and "unassign" in actions


async def test_the_list_puts_urgent_and_overdue_conversations_first(
    coordinator: InboxBrowser, login: Login, settings: Settings,
) -> None:
    url, mine = settings.database_url, login.id
    calm, _ = await seed_case(url, unread=1, assigned_to=mine)
    urgent, _ = await seed_case(url, unread=1, urgent=True, assigned_to=mine)
    late, late_case = await seed_case(url, unread=0, assigned_to=mine)
    quiet, _ = await seed_case(url, unread=0, assigned_to=mine)
    new, _ = await seed_case(url, unread=0)
    now = datetime.now(UTC)
    database = Database(settings.database_url)
    try:
        async with UnitOfWork(database) as uow:
            uow.session.add(Timer(case_id=late_case, contact_id=late, kind="acknowledge_due",
                                  audience="coordinator", due_at=now - timedelta(hours=1),
                                  fired_at=now, created_at=now))
            await uow.commit()
    finally:
        await database.dispose()
    _, page = await coordinator.get("/inbox")
    order = [int(i) for i in CONVERSATION_LINK.findall(page)]
    assert order == [urgent, late, calm, new]  # the quiet one, taken and read, needs nobody
    assert "1 overdue deadline" in visible(page) and "Not taken yet" in visible(page)
    _, page = await coordinator.get("/inbox?show=all&sort=activity")
    assert sorted(int(i) for i in CONVERSATION_LINK.findall(page)) == sorted(
        [calm, urgent, late, quiet, new])


async def test_a_failed_delivery_flags_the_conversation_until_it_is_handled(
    coordinator: InboxBrowser, login: Login, settings: Settings,
) -> None:
    contact_id, case_id = await seed_case(settings.database_url, unread=0,
                                          assigned_to=login.id)
    now = datetime.now(UTC)
    database = Database(settings.database_url)
    try:
        async with UnitOfWork(database) as uow:
            message = Message(contact_id=contact_id, case_id=case_id, direction="out",
                              author="bot", text="A reminder about your request",
                              created_at=now)
            uow.session.add(message)
            await uow.session.flush()
            uow.session.add(OutboxItem(contact_id=contact_id, message_id=message.id,
                                       channel="webchat", payload={}, status="failed",
                                       last_error="blocked by user", created_at=now))
            contact = await uow.session.get(Contact, contact_id)
            assert contact is not None
            contact.needs_human = True
            await uow.commit()
    finally:
        await database.dispose()
    _, page = await coordinator.get("/inbox")
    assert f'href="/inbox/c/{contact_id}"' in page
    assert "1 message failed" in visible(page) and "Needs a person" in visible(page)
    _, page = await coordinator.get(f"/inbox/c/{contact_id}")
    assert "delivery--failed" in page and "blocked by user" in page
    response, page = await coordinator.post(f"/inbox/c/{contact_id}/handled")
    assert "Marked as handled." in visible(page)
    _, page = await coordinator.get("/inbox")
    assert f'href="/inbox/c/{contact_id}"' not in page
    _, page = await coordinator.get("/inbox?show=all")
    assert "1 message failed" in visible(page)  # still visible, no longer calling for action


async def test_the_audit_log_lists_views_and_changes_with_ids_only(
    coordinator: InboxBrowser, login: Login, settings: Settings,
) -> None:
    contact_id, case_id = await seed_case(settings.database_url)
    await coordinator.get(f"/inbox/c/{contact_id}")
    await coordinator.post(f"/inbox/c/{contact_id}/reply", {"text": "Dear family, thank you."})
    response, page = await coordinator.get("/inbox/audit")
    assert response.status == 200
    shown = visible(page)
    for expected in ("Opened the conversation", "Replied to the family", "Signed in",
                     "Anna Peeters"):
        assert expected in shown, expected
    entries = await rows(settings.database_url, AuditEntry)
    for entry in entries:
        for value in entry.detail.values():
            assert isinstance(value, int | str | None) or (
                isinstance(value, list) and all(isinstance(v, int) for v in value)), value
        assert "Dear family" not in str(entry.detail) and "Amira" not in str(entry.detail)
    assert {e.contact_id for e in entries if e.action in ("view", "reply")} == {contact_id}


async def test_the_inbox_speaks_the_coordinators_language_and_remembers_it(
    coordinator: InboxBrowser, settings: Settings,
) -> None:
    contact_id, _ = await seed_case(settings.database_url)
    response, page = await coordinator.get(f"/inbox/c/{contact_id}?lang=fr")
    assert '<html lang="fr" dir="ltr">' in page
    assert "Date de naissance" in visible(page) and "14 mai 2015" in visible(page)
    assert "En attente des documents" in visible(page)
    _, page = await coordinator.get("/inbox")
    assert '<html lang="fr" dir="ltr">' in page
    _, page = await coordinator.get(f"/inbox/c/{contact_id}?lang=ar")
    assert '<html lang="ar" dir="rtl">' in page
    _, page = await coordinator.get("/inbox?lang=xx")
    assert '<html lang="ar" dir="rtl">' in page  # an unknown language changes nothing


async def test_a_reply_that_is_empty_or_too_long_is_refused_and_kept_in_the_box(
    coordinator: InboxBrowser, settings: Settings,
) -> None:
    contact_id, _ = await seed_case(settings.database_url)
    await coordinator.get(f"/inbox/c/{contact_id}")
    response, page = await coordinator.post(f"/inbox/c/{contact_id}/reply", {"text": "   "})
    assert response.status == 400 and "Write a message first." in visible(page)
    long_text = "word " * 5000
    response, page = await coordinator.post(f"/inbox/c/{contact_id}/reply", {"text": long_text})
    assert response.status == 400 and "too long" in visible(page)
    assert "word word word" in page
    assert await rows(settings.database_url, Message, Message.author == "coordinator") == []


async def test_a_file_cannot_be_downloaded_without_a_file_store(
    coordinator: InboxBrowser, settings: Settings,
) -> None:
    contact_id, case_id = await seed_case(settings.database_url)
    database = Database(settings.database_url)
    try:
        async with UnitOfWork(database) as uow:
            document = Document(case_id=case_id, kind="referral_letter", filename="lettre.pdf",
                                content_type="application/pdf", size=1234, sha256="0" * 64,
                                storage_key="f" * 32)
            uow.session.add(document)
            await uow.commit()
    finally:
        await database.dispose()
    _, page = await coordinator.get(f"/inbox/c/{contact_id}")
    assert "lettre.pdf" in page
    response, _ = await coordinator.get(f"/inbox/documents/{document.id}")
    assert response.status == 404
    response, _ = await coordinator.get("/inbox/documents/999999")
    assert response.status == 404


class FakeFileStore:
    """Just enough of the file store for a download: `open(key)` streams the bytes."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """Stream a stored file in small chunks; an unknown key fails like the real store."""
        if key not in self.files:
            raise LookupError("missing")
        data = self.files[key]
        for start in range(0, len(data), 4):
            yield data[start:start + 4]


async def test_a_coordinator_downloads_a_file_through_the_store_and_it_is_audited(
    settings: Settings, login: Login, monkeypatch: pytest.MonkeyPatch,
) -> None:
    files_key = web.AppKey("files", FakeFileStore)
    monkeypatch.setattr(bot.keys, "FILES", files_key, raising=False)
    contact_id, case_id = await seed_case(settings.database_url)
    database = Database(settings.database_url)
    try:
        async with UnitOfWork(database) as uow:
            stored = Document(case_id=case_id, kind="referral_letter", size=14,
                              filename="lettre du médecin \"final\".pdf", sha256="0" * 64,
                              content_type="text/html", storage_key="k1")
            lost = Document(case_id=case_id, kind="lab_results", filename="labo.pdf", size=1,
                            sha256="1" * 64, storage_key="gone")
            uow.session.add_all([stored, lost])
            await uow.commit()
    finally:
        await database.dispose()
    app = create_app(settings)
    setup_inbox(app)
    app[files_key] = FakeFileStore({"k1": b"%PDF-1.4 hello"})
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    browser = await InboxBrowser.open(f"http://127.0.0.1:{server.port}")
    try:
        await browser.sign_in(login.email)
        _, page = await browser.get(f"/inbox/c/{contact_id}")
        assert f'href="/inbox/documents/{stored.id}"' in page
        response = await browser.session.get(f"{browser.base_url}/inbox/documents/{stored.id}")
        assert response.status == 200
        assert await response.read() == b"%PDF-1.4 hello"
        # A row from before type detection: typed by its bytes, named by the server.
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        disposition = response.headers["Content-Disposition"]
        assert re.fullmatch(rf'attachment; filename="SO-[0-9A-F]{{6}}-{stored.id}\.pdf"',
                            disposition), disposition
        response = await browser.session.get(f"{browser.base_url}/inbox/documents/{lost.id}")
        assert response.status == 404
    finally:
        await browser.close()
        await server.close()
    downloads = await rows(settings.database_url, AuditEntry, AuditEntry.action == "download")
    assert [(e.coordinator_id, e.case_id, e.contact_id, e.detail) for e in downloads] == [
        (login.id, case_id, contact_id, {"document_id": stored.id}),
        (login.id, case_id, contact_id, {"document_id": lost.id}),
    ]


async def test_an_unknown_conversation_is_not_found(coordinator: InboxBrowser) -> None:
    for path in ("/inbox/c/424242", "/inbox/c/abc", "/inbox/c/-1"):
        response, _ = await coordinator.get(path)
        assert response.status == 404, path


def test_the_session_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = load_session_key(settings, environ={})
    path = tmp_path / "data" / "keys" / "session.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_session_key(settings, environ={}) == first and len(first) == 32
    assert load_session_key(settings, environ={"SESSION_KEY": "s" * 40}) == b"s" * 40
    with pytest.raises(ValueError):
        load_session_key(settings, environ={"SESSION_KEY": "short"})
