"""Telegram end to end: the real python-telegram-bot against a fake Bot API, on our webhook."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.channels.base import Attachment, ChannelError
from bot.channels.telegram import SELECTED, TELEGRAM, TELEGRAM_COMMANDS, TelegramChannel
from bot.channels.telegram_polling import telegram_polling_ctx
from bot.keys import CATALOGS, DISPATCHER, PROCESSOR, RENDERER
from bot.settings import Settings
from intake.case import CaseStatus
from intake.commands import command_help, slash_name
from storage.db import Database
from storage.tables import Case, Contact, InboundEvent, OutboxItem
from tests.fakes.telegram_api import SECRET, FakeTelegram, Sent, post_update

CHAT = 5550001

# The web chat's English intake, by Telegram buttons and typed text; "pick" ticks options of
# a several-choice keyboard and presses its send button.
TELEGRAM_INTAKE: list[tuple[str, str]] = [
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
    ("pick", "none"),
    ("tap", "written_video"),
    ("tap", "fr"),
    ("say", "Furosemide 10 mg daily for 6 months"),
    ("say", "Dr Karim Alami"),
    ("say", "CHU Ibn Rochd, Casablanca"),
    ("say", "k.alami@example.org"),
    ("tap", "yes"),
]


@dataclass
class Running:
    """The app on a loopback port."""

    app: web.Application
    server: TestServer

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/webhooks/telegram"

    @property
    def channel(self) -> TelegramChannel:
        return self.app[TELEGRAM]

    async def close(self) -> None:
        await self.server.close()


async def start_app(
    settings: Settings, prepare: Callable[[web.Application], None] = lambda app: None,
) -> Running:
    """Start the whole app; the per-chat spacing is dropped so that tests stay fast."""
    app = create_app(settings)
    prepare(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    app[TELEGRAM].per_chat_interval = 0.0
    return Running(app, server)


@dataclass
class TelegramFamily:
    """One Telegram user: types, taps buttons, reads what the bot sent."""

    fake: FakeTelegram
    session: ClientSession
    webhook: str
    chat_id: int = CHAT
    seen: int = 0
    callbacks: int = 0

    async def post(self, update: dict[str, Any]) -> None:
        """Deliver an update through the webhook."""
        assert await post_update(self.session, self.webhook, update) == 200

    async def say(self, text: str) -> list[Sent]:
        """Type a message and read the replies."""
        await self.post(self.fake.text_update(self.chat_id, text))
        return await self.replies()

    async def tap(self, key: str) -> list[Sent]:
        """Tap the button of the latest message offering `key`."""
        message = self._offering(f"c:{key}")
        await self._callback(message, f"c:{key}")
        return await self.replies()

    async def pick(self, *keys: str) -> list[Sent]:
        """Tick options on the latest several-choice keyboard, then press send."""
        message = self._offering("d:")
        for key in keys:
            edits = len(self.fake.calls_of("editMessageReplyMarkup")) + 1
            await self._callback(message, f"m:{key}")
            await self.fake.wait_for(partial(self._edited, edits))
        await self._callback(message, "d:")
        return await self.replies()

    def _edited(self, count: int) -> bool:
        return len(self.fake.calls_of("editMessageReplyMarkup")) >= count

    async def _callback(self, message: Sent, data: str) -> None:
        self.callbacks += 1
        await self.post(self.fake.callback_update(self.chat_id, message.message_id, data))

    def _offering(self, data: str) -> Sent:
        for message in reversed(self.fake.to(self.chat_id)):
            if data in message.callback_datas():
                return message
        raise AssertionError(f"no message offers {data}")

    async def replies(self, timeout: float = 10.0, settle: float = 0.2) -> list[Sent]:
        """Messages sent to this chat since the last call (waits for one, then settles)."""
        await self.fake.wait_for(lambda: len(self.fake.to(self.chat_id)) > self.seen, timeout)
        count = -1
        while count != len(self.fake.to(self.chat_id)):
            count = len(self.fake.to(self.chat_id))
            await asyncio.sleep(settle)
        new = self.fake.to(self.chat_id)[self.seen:]
        self.seen = count
        return new


def texts(messages: list[Sent]) -> str:
    """All texts joined, for assertions."""
    return "\n".join(m.text for m in messages)


async def rows(database_url: str, model: type, *where: Any) -> list[Any]:
    """Read rows straight from the database."""
    database = Database(database_url)
    try:
        async with database.sessions() as session:
            return list((await session.execute(select(model).where(*where))).scalars())
    finally:
        await database.dispose()


async def eventually(check: Callable[[], Any], timeout: float = 10.0) -> None:
    """Wait until an async database check holds."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


async def test_a_family_completes_the_whole_intake_over_telegram_and_a_case_is_registered(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    running = await start_app(tg_settings)
    async with ClientSession() as session:
        family = TelegramFamily(fake, session, running.webhook)
        try:
            greeting = await family.say("/start")
            assert greeting[-1].callback_datas() == ["c:ar", "c:fr", "c:en", "c:nl", "c:ru",
                                                     "c:tr"]
            for how, value in TELEGRAM_INTAKE:
                replies = await (family.say(value) if how == "say" else
                                 family.pick(value) if how == "pick" else family.tap(value))
                assert not replies[0].text.startswith("Please"), (value, texts(replies))
            assert "Here is a summary of your request" in texts(replies)
            assert replies[-1].callback_datas() == ["c:confirm", "c:edit"]
            done = await family.tap("confirm")
            await fake.wait_for(
                lambda: len(fake.calls_of("answerCallbackQuery")) == family.callbacks)
            await eventually(lambda: _all_sent(tg_settings.database_url))
        finally:
            await running.close()

    assert "registered under the reference SO-" in texts(done)
    assert all(m.text and len(m.text) <= 4096 for m in fake.sent)
    assert not fake.calls_of("setWebhook")  # no public https URL in tests
    (case,) = await rows(tg_settings.database_url, Case)
    assert case.status == CaseStatus.AWAITING_DOCUMENTS
    assert case.answers["patient_name"] == "Amira Benali"
    assert case.answers["urgency"] == ["none"]
    assert case.answers["physician_contact"] == "k.alami@example.org"
    (contact,) = await rows(tg_settings.database_url, Contact)
    assert (contact.channel, contact.external_id) == ("telegram", str(CHAT))
    assert contact.display_name == "Amira" and contact.locale_hint == "en"
    outbox = await rows(tg_settings.database_url, OutboxItem)
    assert outbox and all(item.status == "sent" and item.provider_message_id for item in outbox)
    events = await rows(tg_settings.database_url, InboundEvent)
    assert all(e.processed_at is not None and e.error is None for e in events)
    # Ticking an option is a keyboard edit, not an event: one event per answer.
    assert len(events) == len(TELEGRAM_INTAKE) + 2


async def test_a_tapped_button_is_answered_and_its_keyboard_marked_as_answered(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    running = await start_app(tg_settings)
    async with ClientSession() as session:
        family = TelegramFamily(fake, session, running.webhook)
        try:
            (greeting,) = await family.say("/start")
            update = fake.callback_update(CHAT, greeting.message_id, "c:en")
            await family.post(update)
            await family.replies()
            await fake.wait_for(lambda: bool(fake.calls_of("editMessageReplyMarkup")))
            events_before = len(await rows(tg_settings.database_url, InboundEvent))
            # The marked button does nothing but stop the progress bar.
            await family.post(fake.callback_update(CHAT, greeting.message_id, "x"))
            await fake.wait_for(lambda: len(fake.calls_of("answerCallbackQuery")) == 2)
        finally:
            await running.close()

    answered = fake.calls_of("answerCallbackQuery")[0]
    assert answered["callback_query_id"] == update["callback_query"]["id"]
    (edit,) = fake.calls_of("editMessageReplyMarkup")
    assert (edit["chat_id"], edit["message_id"]) == (CHAT, greeting.message_id)
    assert edit["reply_markup"] == {"inline_keyboard": [[
        {"text": SELECTED + "English", "callback_data": "x"}]]}
    assert len(await rows(tg_settings.database_url, InboundEvent)) == events_before


async def test_a_forged_or_missing_secret_is_refused_and_nothing_is_stored(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    running = await start_app(tg_settings)
    update = fake.text_update(CHAT, "/start")
    try:
        async with ClientSession() as session:
            assert await post_update(session, running.webhook, update, secret=None) == 403
            assert await post_update(session, running.webhook, update, secret="s3cr3T") == 403
            assert await post_update(session, running.webhook, update, secret="") == 403
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET,
                       "Content-Type": "application/json"}
            for body in ["not json", "[]", '{"message": {}}', '{"update_id": "1"}']:
                async with session.post(running.webhook, data=body, headers=headers) as answer:
                    assert answer.status == 400, body
            await asyncio.sleep(0.3)
    finally:
        await running.close()

    assert await rows(tg_settings.database_url, InboundEvent) == []
    assert fake.sent == []


async def test_edits_and_channel_posts_are_acknowledged_and_not_stored(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    running = await start_app(tg_settings)
    post = fake.text_update(CHAT, "news")
    channel_post = {"update_id": post["update_id"], "channel_post": {
        **post["message"], "chat": {"id": -1001, "type": "channel", "title": "News"}}}
    try:
        async with ClientSession() as session:
            family = TelegramFamily(fake, session, running.webhook)
            await family.post(fake.edited_update(CHAT, "changed my mind"))
            await family.post(channel_post)
            await asyncio.sleep(0.3)
    finally:
        await running.close()

    assert await rows(tg_settings.database_url, InboundEvent) == []
    assert fake.sent == []


async def test_the_same_update_delivered_twice_is_processed_once(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    running = await start_app(tg_settings)
    update = fake.text_update(CHAT, "/start")
    try:
        async with ClientSession() as session:
            family = TelegramFamily(fake, session, running.webhook)
            await family.post(update)
            await family.post(update)
            replies = await family.replies(settle=0.5)
    finally:
        await running.close()

    assert len(replies) == 1
    (event,) = await rows(tg_settings.database_url, InboundEvent)
    assert event.provider_key == f"123:{update['update_id']}"


async def test_replies_survive_provider_errors_and_arrive_in_order(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    fake.fail("sendMessage", "500")
    fake.fail("sendMessage", "429", seconds=1)
    running = await start_app(tg_settings)
    try:
        async with ClientSession() as session:
            family = TelegramFamily(fake, session, running.webhook)
            await family.post(fake.text_update(CHAT, "/start"))
            await family.post(fake.text_update(CHAT, "English"))
            await fake.wait_for(lambda: len(fake.to(CHAT)) == 2, timeout=15)
            await eventually(lambda: _all_sent(tg_settings.database_url))
    finally:
        await running.close()

    first, second = fake.to(CHAT)
    assert "c:en" in first.callback_datas()
    assert "Before we start" in second.text
    assert len(fake.calls_of("sendMessage")) == 4
    outbox = sorted(await rows(tg_settings.database_url, OutboxItem), key=lambda o: o.id)
    assert [o.status for o in outbox] == ["sent", "sent"]
    assert outbox[0].attempts == 3 and outbox[1].attempts == 1


async def test_a_send_that_times_out_is_tried_again(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    fake.fail("sendMessage", "delay", seconds=1.5)
    running = await start_app(tg_settings)
    running.channel.request_timeout = 0.5
    try:
        async with ClientSession() as session:
            family = TelegramFamily(fake, session, running.webhook)
            await family.post(fake.text_update(CHAT, "/start"))
            await eventually(lambda: _all_sent(tg_settings.database_url), timeout=15)
    finally:
        await running.close()

    # At least once: the slow first attempt may have arrived too.
    assert fake.to(CHAT) and len(fake.calls_of("sendMessage")) == 2
    (item,) = await rows(tg_settings.database_url, OutboxItem)
    assert item.attempts == 2


async def _all_sent(database_url: str) -> bool:
    outbox = await rows(database_url, OutboxItem)
    return bool(outbox) and all(item.status == "sent" for item in outbox)


async def test_a_family_that_blocked_the_bot_is_marked_and_not_retried(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    fake.fail("sendMessage", "403", times=5)
    running = await start_app(tg_settings)
    try:
        async with ClientSession() as session:
            family = TelegramFamily(fake, session, running.webhook)
            await family.post(fake.text_update(CHAT, "/start"))

            async def failed() -> bool:
                outbox = await rows(tg_settings.database_url, OutboxItem)
                return bool(outbox) and outbox[0].status == "failed"

            await eventually(failed)
            await asyncio.sleep(0.5)
    finally:
        await running.close()

    assert len(fake.calls_of("sendMessage")) == 1
    (item,) = await rows(tg_settings.database_url, OutboxItem)
    assert "blocked" in (item.last_error or "")
    (contact,) = await rows(tg_settings.database_url, Contact)
    assert contact.blocked_at is not None and contact.needs_human


async def test_a_reply_committed_before_a_crash_is_delivered_after_restart(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    async def never(*args: Any) -> tuple[list[Any], dict[int, Any]]:
        return [], {}

    running = await start_app(tg_settings)
    running.app[DISPATCHER]._claim = never  # type: ignore[method-assign]
    async with ClientSession() as session:
        family = TelegramFamily(fake, session, running.webhook)
        await family.post(fake.text_update(CHAT, "/start"))

        async def queued() -> bool:
            return bool(await rows(tg_settings.database_url, OutboxItem))

        await eventually(queued)
        await running.close()
        assert fake.sent == []

        running = await start_app(tg_settings)
        try:
            family.webhook = running.webhook
            replies = await family.replies()
            await eventually(lambda: _all_sent(tg_settings.database_url))
        finally:
            await running.close()

    assert "c:en" in replies[0].callback_datas()
    (item,) = await rows(tg_settings.database_url, OutboxItem)
    assert item.status == "sent"


async def test_an_update_stored_before_a_crash_is_processed_after_restart(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    def stop_processing(app: web.Application) -> None:
        async def no_processing(app: web.Application) -> None:
            app[PROCESSOR].submit = lambda contact_id: None  # type: ignore[method-assign]

        app.on_startup.append(no_processing)

    running = await start_app(tg_settings, stop_processing)
    async with ClientSession() as session:
        family = TelegramFamily(fake, session, running.webhook)
        await family.post(fake.text_update(CHAT, "/start"))
        await running.close()
        pending = await rows(tg_settings.database_url, InboundEvent,
                             InboundEvent.processed_at.is_(None))
        assert len(pending) == 1 and fake.sent == []

        running = await start_app(tg_settings)
        try:
            family.webhook = running.webhook
            replies = await family.replies()
        finally:
            await running.close()

    assert "c:en" in replies[0].callback_datas()


async def test_a_document_is_fetched_and_one_over_the_download_limit_is_refused(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    small_id = fake.add_file(b"%PDF-1.7\n" + b"x" * 200_000, "report.pdf")
    large_id = fake.add_file(b"too big", "scan.zip", size=25_000_000)
    running = await start_app(tg_settings)
    try:
        async with ClientSession() as session:
            family = TelegramFamily(fake, session, running.webhook)
            await family.post(fake.document_update(CHAT, small_id, name="report.pdf",
                                                   mime_type="application/pdf",
                                                   caption="Cardiology report"))
            await family.post(fake.document_update(CHAT, large_id, name="scan.zip",
                                                   mime_type="application/zip"))
            events = sorted(await rows(tg_settings.database_url, InboundEvent),
                            key=lambda e: e.id)
            small, large = (Attachment(**e.payload["attachments"][0]) for e in events)
            fetched = b"".join([chunk async for chunk in running.channel.fetch(small)])
            with pytest.raises(ChannelError) as refused:
                async for _ in running.channel.fetch(large):
                    pass
            await family.replies()
    finally:
        await running.close()

    assert fetched == fake.files[small_id][1]
    assert (small.filename, small.content_type) == ("report.pdf", "application/pdf")
    assert events[0].payload["text"] == "Cardiology report"
    assert large.size == 25_000_000 and refused.value.permanent
    assert [call["file_id"] for call in fake.calls_of("getFile")] == [small_id]


async def test_start_up_registers_the_webhook_and_the_command_menus(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    def menus(app: web.Application) -> None:
        renderer = app[RENDERER]
        app[TELEGRAM_COMMANDS] = {
            lang: [(slash_name(command), renderer.text(text, lang))
                   for command, text in command_help()]
            for lang in app[CATALOGS].languages
        }

    https = tg_settings.with_overrides(public_base_url="https://intake.example.org/")
    running = await start_app(https, menus)
    await running.close()

    (webhook,) = fake.calls_of("setWebhook")
    assert webhook == {"url": "https://intake.example.org/webhooks/telegram",
                       "secret_token": SECRET, "allowed_updates": ["message", "callback_query"]}
    commands = fake.calls_of("setMyCommands")
    assert {c.get("language_code") for c in commands} == {
        None, "ar", "fr", "en", "nl", "ru", "tr"}
    english = next(c for c in commands if c.get("language_code") == "en")
    assert {"command": "help", "description": "Show the commands you can use at any time."} in (
        english["commands"])


async def test_polling_feeds_the_same_path_without_a_public_url(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    first = fake.text_update(CHAT, "/start")
    fake.updates.append(first)
    running = await start_app(
        tg_settings, lambda app: app.cleanup_ctx.append(telegram_polling_ctx))
    try:
        await fake.wait_for(lambda: bool(fake.to(CHAT)))
        await fake.wait_for(lambda: any(
            c.get("offset") == first["update_id"] + 1 for c in fake.calls_of("getUpdates")))
    finally:
        await running.close()

    assert fake.calls_of("deleteWebhook")
    assert "c:en" in fake.to(CHAT)[0].callback_datas()
    (event,) = await rows(tg_settings.database_url, InboundEvent)
    assert event.provider_key == f"123:{first['update_id']}"
