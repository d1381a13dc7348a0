"""Web chat sessions: only ids the server signed, for a limited time, and forgettable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from aiohttp import ClientSession, DummyCookieJar

from bot.settings import Settings
from bot.web.chat_session import ChatSession, ChatSessions
from bot.web.inbox.auth import load_session_key
from storage.db import Database
from storage.tables import Contact, Message
from tests.e2e.chat_client import ChatFamily
from tests.security.conftest import Start, count

POLL = "/chat/api/messages"


def signer(settings: Settings, days: float = 30) -> ChatSessions:
    """What the server signs with (the key file the app created in DATA_DIR)."""
    return ChatSessions(load_session_key(settings), timedelta(days=days), secure=False)


async def test_a_planted_session_id_is_replaced_and_never_adopted(
    start: Start, db: Database
) -> None:
    base = await start()
    planted = secrets.token_urlsafe(32)
    async with ClientSession(cookie_jar=DummyCookieJar()) as http:
        cookie = {"Cookie": f"chat_session={planted}"}
        page = await http.get(f"{base}/chat", headers=cookie)
        assert page.status == 200
        issued = page.cookies["chat_session"].value
        assert issued and planted not in issued
        poll = await http.get(f"{base}{POLL}", headers=cookie)
        assert poll.status == 403
        sent = await http.post(f"{base}{POLL}", headers=cookie,
                               json={"client_id": "abcdefgh", "text": "hello"})
        assert sent.status == 403
    planted_key = hashlib.sha256(planted.encode()).hexdigest()
    assert await count(db, Contact, Contact.external_id == planted_key) == 0
    assert await count(db, Contact) == 0


async def test_a_signature_of_another_id_does_not_carry_over(
    start: Start, settings: Settings
) -> None:
    base = await start()
    async with ClientSession(cookie_jar=DummyCookieJar()) as http:
        issued = (await http.get(f"{base}/chat")).cookies["chat_session"].value
        session_id, stamp, mac = issued.split(".")
        forged = f"{secrets.token_urlsafe(32)}.{stamp}.{mac}"
        poll = await http.get(f"{base}{POLL}", headers={"Cookie": f"chat_session={forged}"})
        assert poll.status == 403
        assert "expired" in (await poll.json())["error"]


async def test_a_session_older_than_the_lifetime_is_refused_and_replaced(
    start: Start, settings: Settings
) -> None:
    base = await start(webchat_session_days=30)
    sessions = signer(settings)
    old = sessions.sign(ChatSession(secrets.token_urlsafe(32),
                                    datetime.now(UTC) - timedelta(days=31)))
    recent = sessions.sign(ChatSession(secrets.token_urlsafe(32),
                                       datetime.now(UTC) - timedelta(days=29)))
    async with ClientSession(cookie_jar=DummyCookieJar()) as http:
        refused = await http.get(f"{base}{POLL}", headers={"Cookie": f"chat_session={old}"})
        assert refused.status == 403
        page = await http.get(f"{base}/chat", headers={"Cookie": f"chat_session={old}"})
        assert page.cookies["chat_session"].value != old
        accepted = await http.get(f"{base}{POLL}", headers={"Cookie": f"chat_session={recent}"})
        assert accepted.status == 200


async def test_the_cookie_lives_webchat_session_days_and_is_refreshed_by_a_message(
    start: Start, settings: Settings
) -> None:
    base = await start(webchat_session_days=7)
    sessions = signer(settings, days=7)
    async with ClientSession(cookie_jar=DummyCookieJar()) as http:
        page = await http.get(f"{base}/chat")
        morsel = page.cookies["chat_session"]
        assert morsel["max-age"] == str(7 * 24 * 3600)
        assert morsel["httponly"] and morsel["samesite"] == "Lax"
        first = sessions.read(morsel.value, datetime.now(UTC))
        assert first is not None
        # A session last active six days ago sends a message: it lives on from now.
        earlier = sessions.sign(ChatSession(first.id, datetime.now(UTC) - timedelta(days=6)))
        sent = await http.post(f"{base}{POLL}", headers={"Cookie": f"chat_session={earlier}"},
                               json={"client_id": "abcdefgh", "text": "hello"})
        assert sent.status == 202
        refreshed = sessions.read(sent.cookies["chat_session"].value, datetime.now(UTC))
        assert refreshed is not None and refreshed.id == first.id
        assert refreshed.active_at > datetime.now(UTC) - timedelta(minutes=1)
        assert sent.cookies["chat_session"]["max-age"] == str(7 * 24 * 3600)


async def test_on_https_the_cookie_is_host_only_and_secure(start: Start) -> None:
    base = await start(public_base_url="https://chat.example.org")
    async with ClientSession(cookie_jar=DummyCookieJar()) as http:
        page = await http.get(f"{base}/chat")
        morsel = page.cookies["__Host-chat_session"]
        assert morsel["secure"] and morsel["path"] == "/" and not morsel["domain"]
        assert "chat_session" not in page.cookies


async def test_forgetting_the_device_starts_afresh_and_keeps_the_conversation(
    start: Start, db: Database
) -> None:
    base = await start()
    family = await ChatFamily.open(base)
    try:
        greeting = [m["text"] for m in await family.replies()]
        await family.send(choice="en")
        await family.replies()
        old = {c.key: c.value for c in family.session.cookie_jar}["chat_session"]
        forgot = await family.session.post(f"{base}/chat/forget", allow_redirects=False)
        assert forgot.status == 303 and forgot.headers["Location"] == "/chat"
        assert forgot.cookies["chat_session"]["max-age"] == "0"
        assert "chat_session" not in {c.key for c in family.session.cookie_jar}
        page = await family.session.get(f"{base}/chat")
        assert page.cookies["chat_session"].value != old
        family.after, family.transcript = 0, []
        fresh = [m["text"] for m in await family.replies()]
        # A new conversation: the greeting again, nothing of the forgotten one.
        assert fresh == greeting
        assert all(m["direction"] == "out" for m in family.transcript)
    finally:
        await family.close()
    assert await count(db, Contact) == 2
    assert await count(db, Message, Message.direction == "in") == 1


async def test_another_site_cannot_make_the_browser_forget(start: Start) -> None:
    base = await start()
    async with ClientSession(cookie_jar=DummyCookieJar()) as http:
        response = await http.post(f"{base}/chat/forget", allow_redirects=False,
                                   headers={"Origin": "https://evil.example"})
        assert response.status == 403
        assert "chat_session" not in response.cookies


async def test_a_null_origin_is_believed_only_with_the_browsers_same_origin_mark(
    start: Start,
) -> None:
    base = await start()
    async with ClientSession(cookie_jar=DummyCookieJar()) as http:
        cross = await http.post(f"{base}/chat/forget", allow_redirects=False, headers={
            "Origin": "null", "Sec-Fetch-Site": "cross-site"})
        assert cross.status == 403
        own = await http.post(f"{base}/chat/forget", allow_redirects=False, headers={
            "Origin": "null", "Sec-Fetch-Site": "same-origin"})
        assert own.status == 303
