"""A whole intake through the web chat's HTTP interface, on the configured database."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from bot.app import create_app
from bot.settings import Settings
from intake.case import CaseStatus
from storage.db import Database
from storage.tables import Case, CaseHistory, Contact, InboundEvent, Message, OutboxItem, Timer
from tests.e2e.chat_client import ChatFamily, last_options, texts

ENGLISH_INTAKE: list[tuple[str, str]] = [
    ("tap", "en"),
    ("tap", "yes"),
    ("tap", "parent"),
    ("say", "Amira Benali"),
    ("say", "14/05/2015"),
    ("tap", "female"),
    ("say", "Morocco"),
    ("tap", "cardiology"),
    ("tap", "surgery"),
    ("say", "Open-heart surgery to repair a ventricular septal defect"),
    ("say", "Is surgery necessary now? Is there a less invasive alternative?"),
    ("say", "skip"),
    ("say", "4"),
    ("tap", "written_video"),
    ("tap", "fr"),
    ("say", "Furosemide 10 mg daily for 6 months"),
    ("say", "Dr Karim Alami"),
    ("say", "CHU Ibn Rochd, Casablanca"),
    ("say", "k.alami@example.org"),
    ("tap", "yes"),
]


async def start_server(settings: Settings) -> tuple[TestServer, str]:
    """The app on a loopback port."""
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    return server, f"http://127.0.0.1:{server.port}"


async def answer(family: ChatFamily, how: str, value: str) -> list[dict[str, Any]]:
    """Answer by button or by typing."""
    return await (family.tap(value) if how == "tap" else family.say(value))


async def rows(database_url: str, model: type, *where: Any) -> list[Any]:
    """Read rows straight from the database."""
    database = Database(database_url)
    try:
        async with database.sessions() as session:
            return list((await session.execute(select(model).where(*where))).scalars())
    finally:
        await database.dispose()


async def test_a_family_completes_the_whole_intake_and_a_case_is_ready(
    settings: Settings,
) -> None:
    server, base = await start_server(settings)
    family = await ChatFamily.open(base)
    try:
        greeting = await family.replies()
        assert last_options(greeting) == ["ar", "fr", "en", "nl", "ru", "tr"]
        for how, value in ENGLISH_INTAKE:
            replies = await answer(family, how, value)
            assert replies, f"no reply to {value!r}"
            assert not replies[0]["text"].startswith("Please"), (value, texts(replies))
        assert "Here is a summary of your request" in texts(replies)
        assert "Amira Benali" in texts(replies)
        assert last_options(replies) == ["confirm", "edit"]
        done = await family.tap("confirm")
    finally:
        await family.close()
        await server.close()

    summary = texts(done)
    assert "registered under the reference SO-" in summary
    assert "Referral letter" in summary and "Imaging (DICOM)" in summary
    assert "\u20ac" in summary
    (case,) = await rows(settings.database_url, Case)
    assert case.status == CaseStatus.AWAITING_DOCUMENTS
    assert case.answers["patient_name"] == "Amira Benali"
    assert case.answers["patient_birth_date"] == "2015-05-14"
    assert case.answers["patient_country"] == "MA"
    assert case.answers["urgency"] == ["none"]
    assert case.answers["physician_contact"] == "k.alami@example.org"
    assert case.routing is not None and case.routing["paediatric"] is True
    assert case.consent_version and case.consent_at is not None
    history = await rows(settings.database_url, CaseHistory, CaseHistory.case_id == case.id)
    assert [h.to_status for h in history] == ["intake_in_progress", "awaiting_documents"]
    timers = await rows(settings.database_url, Timer, Timer.case_id == case.id)
    assert {t.kind for t in timers} >= {"acknowledge_due", "completeness_check_due"}
    outbox = await rows(settings.database_url, OutboxItem)
    assert outbox and all(item.status == "sent" for item in outbox)
    events = await rows(settings.database_url, InboundEvent)
    assert all(event.processed_at is not None and event.error is None for event in events)


async def test_an_intake_interrupted_by_a_restart_continues_where_it_stopped(
    settings: Settings,
) -> None:
    server, base = await start_server(settings)
    family = await ChatFamily.open(base)
    await family.replies()
    for how, value in ENGLISH_INTAKE[:6]:
        await answer(family, how, value)
    await server.close()

    server, base = await start_server(settings)
    family.base_url = base
    try:
        history = await family.session.get(f"{base}/chat/api/messages", params={"after": 0})
        transcript = (await history.json())["messages"]
        assert any(m["text"] == "Amira Benali" for m in transcript)
        replies = await family.say("Morocco")
        assert "Which medical area" in texts(replies)
        for how, value in ENGLISH_INTAKE[7:]:
            await answer(family, how, value)
        done = await family.tap("confirm")
        assert "registered under the reference" in texts(done)
    finally:
        await family.close()
        await server.close()
    (case,) = await rows(settings.database_url, Case)
    assert case.answers["patient_country"] == "MA"
    assert case.answers["patient_name"] == "Amira Benali"


async def test_events_stored_before_a_crash_are_processed_after_restart(
    settings: Settings,
) -> None:
    server, base = await start_server(settings)
    family = await ChatFamily.open(base)
    await family.replies()
    await server.close()
    # The message is durable although nobody processed it: simulate by inserting it
    # through a stopped app's receive path with a server that dies right after the commit.
    app = create_app(settings)
    runner_server = TestServer(app, host="127.0.0.1")
    await runner_server.start_server()
    family.base_url = f"http://127.0.0.1:{runner_server.port}"
    from bot.keys import PROCESSOR

    processor = app[PROCESSOR]
    processor.submit = lambda contact_id: None  # type: ignore[method-assign]
    await family.send(choice="en")
    await runner_server.close()
    pending = await rows(settings.database_url, InboundEvent, InboundEvent.processed_at.is_(None))
    assert len(pending) == 1

    server, base = await start_server(settings)
    family.base_url = base
    try:
        replies = await family.replies(wait=10)
        assert "Before we start" in texts(replies)
    finally:
        await family.close()
        await server.close()


BAD_ANSWERS = [
    ("", "Please"),
    ("x" * 10_000, "3,000"),
    ("\U0001F600\U0001F600\U0001F44D", "in words"),
    ("/frobnicate", "/help"),
]


async def test_nonsense_answers_get_a_clear_re_ask_and_lose_nothing(settings: Settings) -> None:
    server, base = await start_server(settings)
    family = await ChatFamily.open(base)
    try:
        await family.replies()
        for how, value in ENGLISH_INTAKE[:3]:
            await answer(family, how, value)
        await family.say("Amira Benali")
        for bad, hint in [
            ("31/02/1980", "does not exist"),
            ("01/01/2090", "future"),
            ("01/01/1890", "130"),
            ("yesterday-ish", "date"),
        ]:
            replies = await family.say(bad)
            assert hint in texts(replies), (bad, texts(replies))
            assert "date of birth" in replies[-1]["text"]
        await family.say("14/05/2015")
        replies = await family.say("7")
        assert "1 to 3" in texts(replies)
        assert last_options(replies) == ["female", "male", "other"]
        await family.tap("female")
        await family.say("Morocco")
        await family.tap("cardiology")
        await family.tap("surgery")
        for bad, hint in BAD_ANSWERS:
            if bad == "":
                await family.send(text="   ")
                replies = await family.replies()
            else:
                replies = await family.say(bad)
            assert hint in texts(replies), (bad[:20], texts(replies))
            assert "proposed so far" in replies[-1]["text"]
        replies = await family.say("Surgery")
        assert "What exactly would you like" in texts(replies)
    finally:
        await family.close()
        await server.close()
    (case,) = await rows(settings.database_url, Case)
    assert case.answers["patient_birth_date"] == "2015-05-14"
    assert case.answers["local_proposal"] == "Surgery"


async def test_malformed_requests_get_a_clear_answer_and_store_nothing(
    settings: Settings, client: Any
) -> None:
    await client.get("/chat")
    for body in ["not json", "[]", '{"text": "hi"}', '{"client_id": "abc"}',
                 '{"client_id": "abcdefgh", "choice": "<script>"}',
                 '{"client_id": "abcdefgh", "text": 42}']:
        response = await client.post("/chat/api/messages", data=body,
                                     headers={"Content-Type": "application/json"})
        assert response.status == 400
        assert "could not be read" in (await response.json())["error"]
    response = await client.post(
        "/chat/api/messages", json={"client_id": "abcdefgh", "text": "x" * 20_001}
    )
    assert response.status == 413
    stored = await rows(settings.database_url, InboundEvent)
    assert stored == []


async def test_a_request_without_a_session_is_refused(client: Any) -> None:
    response = await client.post("/chat/api/messages", json={"client_id": "abcdefgh",
                                                             "text": "hello"})
    assert response.status == 403
    response = await client.get("/chat/api/messages")
    assert response.status == 403


async def test_a_repeated_message_is_processed_once(settings: Settings) -> None:
    server, base = await start_server(settings)
    family = await ChatFamily.open(base)
    try:
        await family.replies()
        first = await family.send(client_id="same-client-id-1", choice="en")
        again = await family.send(client_id="same-client-id-1", choice="en")
        assert first == again
        replies = await family.replies()
        assert texts(replies).count("Before we start") == 1
    finally:
        await family.close()
        await server.close()
    events = await rows(settings.database_url, InboundEvent)
    assert len([e for e in events if e.provider_key.endswith(":same-client-id-1")]) == 1


async def test_a_post_from_another_site_or_not_json_is_refused_and_stores_nothing(
    settings: Settings, client: Any
) -> None:
    await client.get("/chat")
    response = await client.post(
        "/chat/api/messages", json={"client_id": "abcdefgh", "text": "hello"},
        headers={"Origin": "https://evil.example"})
    assert response.status == 403
    response = await client.post(
        "/chat/api/messages", data='{"client_id": "abcdefgh", "text": "hello"}',
        headers={"Content-Type": "text/plain"})
    assert response.status == 415
    assert await rows(settings.database_url, InboundEvent) == []


async def test_two_sessions_using_the_same_client_id_are_two_messages(
    settings: Settings,
) -> None:
    server, base = await start_server(settings)
    first, second = await ChatFamily.open(base), await ChatFamily.open(base)
    try:
        await first.replies()
        await second.replies()
        await first.send(client_id="shared-client-id", choice="en")
        await second.send(client_id="shared-client-id", choice="fr")
        assert "Before we start" in texts(await first.replies())
        assert "Avant de commencer" in texts(await second.replies())
    finally:
        await first.close()
        await second.close()
        await server.close()


async def test_refusing_consent_keeps_nothing(settings: Settings) -> None:
    server, base = await start_server(settings)
    family = await ChatFamily.open(base)
    try:
        await family.replies()
        await family.tap("en")
        replies = await family.say("no")
        assert "Nothing you wrote has been kept" in texts(replies)
    finally:
        await family.close()
        await server.close()
    messages = await rows(settings.database_url, Message, Message.direction == "in")
    assert messages == []
    assert await rows(settings.database_url, Case) == []
    (contact,) = await rows(settings.database_url, Contact)
    assert contact.consent_at is None


async def test_erasing_my_data_erases_the_case_and_the_transcript(settings: Settings) -> None:
    server, base = await start_server(settings)
    family = await ChatFamily.open(base)
    try:
        await family.replies()
        for how, value in ENGLISH_INTAKE[:5]:
            await answer(family, how, value)
        replies = await family.say("erase my data")
        assert last_options(replies) == ["yes", "no"]
        replies = await family.tap("yes")
        assert "erased" in texts(replies)
    finally:
        await family.close()
        await server.close()
    (case,) = await rows(settings.database_url, Case)
    assert case.status == CaseStatus.ERASED and case.answers == {}
    texts_left = [m.text for m in await rows(settings.database_url, Message)]
    assert not any("Amira" in t for t in texts_left)


async def test_health_check_answers_when_the_database_does(client: Any) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["status"] == "ok"


async def test_pages_carry_protective_headers(client: Any) -> None:
    response = await client.get("/chat")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "chat_session" in response.cookies
    assert response.cookies["chat_session"]["httponly"]


async def test_two_families_at_once_do_not_mix_answers(settings: Settings) -> None:
    server, base = await start_server(settings)
    families = [await ChatFamily.open(base) for _ in range(3)]
    try:
        await asyncio.gather(*(f.replies() for f in families))

        async def run(index: int, family: ChatFamily) -> None:
            for how, value in ENGLISH_INTAKE[:4]:
                if value == "Amira Benali":
                    value = f"Patient Number {'ABC'[index]}"
                await answer(family, how, value)

        await asyncio.gather(*(run(i, f) for i, f in enumerate(families)))
    finally:
        for family in families:
            await family.close()
        await server.close()
    cases = await rows(settings.database_url, Case)
    assert sorted(c.answers.get("patient_name") for c in cases) == [
        "Patient Number A", "Patient Number B", "Patient Number C"]
    count = await _count_contacts(settings.database_url)
    assert count == 3


async def _count_contacts(url: str) -> int:
    database = Database(url)
    try:
        async with database.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(Contact)) or 0)
    finally:
        await database.dispose()
