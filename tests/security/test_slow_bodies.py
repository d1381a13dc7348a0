"""Bodies that trickle in are cut off with 408 and leave nothing behind."""

from __future__ import annotations

import json
import os

from aiohttp import ClientSession, CookieJar
from sqlalchemy import select

from bot.settings import Settings
from storage.db import Database
from storage.tables import Document, InboundEvent, Message, UploadSession
from tests.e2e.test_inbox import seed_case
from tests.e2e.upload_client import TUS, TusClient, batch_bytes, link_for
from tests.fakes.telegram_api import SECRET, TOKEN, FakeTelegram
from tests.security.conftest import Start, count
from tests.security.rawhttp import trickle

TIMEOUT = 1.0


async def chat_cookie(base: str) -> str:
    """The session cookie a browser gets from the chat page."""
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:
        page = await http.get(f"{base}/chat")
        return f"chat_session={page.cookies['chat_session'].value}"


async def test_a_chat_message_sent_a_byte_at_a_time_is_cut_off(
    start: Start, db: Database
) -> None:
    base = await start(body_read_timeout=TIMEOUT)
    body = json.dumps({"client_id": "abcdefgh", "text": "x" * 40}).encode()
    status, took = await trickle(base, "POST", "/chat/api/messages", {
        "Cookie": await chat_cookie(base), "Content-Type": "application/json",
    }, body, first=10, every=0.3)
    assert status == 408
    assert took < TIMEOUT + 2
    assert await count(db, Message) == 0
    assert await count(db, InboundEvent) == 0


async def seeded_upload(settings: Settings, base: str) -> tuple[TusClient, str, ClientSession]:
    """An upload link of a seeded case and a 5000-byte upload created on it."""
    await seed_case(settings.database_url)
    link = await link_for(settings.database_url, base)
    http = ClientSession()
    client = TusClient(http, link)
    created = await client.create(5000, filename="report.pdf")
    assert created.status == 201
    return client, client.absolute(created.headers["Location"]), http


async def test_an_upload_piece_that_trickles_in_is_cut_off_and_not_kept(
    start: Start, settings: Settings, db: Database
) -> None:
    base = await start(body_read_timeout=TIMEOUT)
    client, url, http = await seeded_upload(settings, base)
    try:
        path = url.removeprefix(base)
        status, took = await trickle(base, "PATCH", path, {
            **TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
        }, os.urandom(5000), first=100, every=0.3, piece=1)
        assert status == 408
        assert took < 2 * TIMEOUT + 2
        head = await client.head(url)
        assert head.headers["Upload-Offset"] == "0"
    finally:
        await http.close()
    async with db.sessions() as session:
        row = (await session.execute(select(UploadSession))).scalar_one()
        assert row.offset == 0 and row.parts == []


async def test_a_slow_but_steady_upload_piece_is_accepted(
    start: Start, settings: Settings
) -> None:
    base = await start(body_read_timeout=TIMEOUT)
    client, url, http = await seeded_upload(settings, base)
    try:
        status, _ = await trickle(base, "PATCH", url.removeprefix(base), {
            **TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
        }, b"%PDF-1.4\n" + os.urandom(4991), first=0, every=0.4, piece=1500)
        assert status == 204
        assert (await client.head(url)).headers["Upload-Offset"] == "5000"
    finally:
        await http.close()


async def test_a_batch_of_files_that_trickles_in_is_cut_off_and_keeps_nothing(
    start: Start, settings: Settings, db: Database
) -> None:
    base = await start(body_read_timeout=TIMEOUT)
    await seed_case(settings.database_url)
    link = await link_for(settings.database_url, base)
    body, content_type = await batch_bytes([
        (b"%PDF-1.4\n" + os.urandom(3000), {"filename": "first.pdf"}),
        (b"%PDF-1.4\n" + os.urandom(3000), {"filename": "second.pdf"}),
    ])
    # The first file arrives whole, then the second trickles: neither may be kept.
    status, took = await trickle(base, "POST", f"{link.removeprefix(base)}/batch", {
        "Content-Type": content_type}, body, first=len(body) - 1000, every=0.3, piece=1)
    assert status == 408
    assert took < 2 * TIMEOUT + 2
    assert await count(db, UploadSession) == 0
    assert await count(db, Document) == 0
    objects = settings.data_dir / "files" / "objects"
    assert not objects.exists() or not [p for p in objects.rglob("*") if p.is_file()]


async def test_a_whatsapp_webhook_body_that_stalls_is_cut_off(start: Start, db: Database) -> None:
    base = await start(body_read_timeout=TIMEOUT, twilio_account_sid="AC" + "0" * 32,
                       twilio_auth_token="t" * 32, twilio_whatsapp_from="whatsapp:+3220000000",
                       twilio_api_base_url="http://127.0.0.1:9")
    status, _ = await trickle(base, "POST", "/webhooks/whatsapp", {
        "X-Twilio-Signature": "c2lnbmF0dXJl",
        "Content-Type": "application/x-www-form-urlencoded",
    }, b"MessageSid=SM1&From=whatsapp%3A%2B32470000001&Body=hello", first=5, every=0.3)
    assert status == 408
    assert await count(db, InboundEvent) == 0


async def test_a_telegram_update_that_stalls_is_cut_off(start: Start, db: Database) -> None:
    fake = FakeTelegram()
    await fake.start()
    try:
        base = await start(body_read_timeout=TIMEOUT, telegram_bot_token=TOKEN,
                           telegram_webhook_secret=SECRET,
                           telegram_api_base_url=fake.api_base_url)
        update = json.dumps(fake.text_update(5550001, "hello")).encode()
        status, _ = await trickle(base, "POST", "/webhooks/telegram", {
            "X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json",
        }, update, first=5, every=0.3)
        assert status == 408
    finally:
        await fake.close()
    assert await count(db, InboundEvent) == 0


async def test_a_sign_in_form_that_trickles_in_is_cut_off(start: Start) -> None:
    base = await start(body_read_timeout=TIMEOUT)
    status, took = await trickle(base, "POST", "/inbox/login", {
        "Content-Type": "application/x-www-form-urlencoded",
    }, b"email=anna%40team.example&password=secret", first=5, every=0.3)
    assert status == 408
    assert took < TIMEOUT + 2
