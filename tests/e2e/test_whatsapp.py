"""WhatsApp end to end: signed Twilio webhooks in, the real twilio client out to a fake API."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from bot.app import create_app
from bot.channels.base import Attachment, ChannelError
from bot.channels.whatsapp import WhatsAppChannel, split_text
from bot.keys import CHANNELS, DISPATCHER
from bot.settings import Settings
from intake.case import CaseStatus
from storage import repositories as repo
from storage.db import Database
from storage.tables import Case, Contact, InboundEvent, Message, OutboxItem
from storage.unit_of_work import UnitOfWork
from tests.fakes.twilio_api import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeTwilio,
    inbound_params,
    sign_and_post,
    status_params,
)

PUBLIC_URL = "https://intake.example.org"
SENDER = "whatsapp:+3220000000"
FAMILY = "whatsapp:+32470000001"
INBOUND = "/webhooks/whatsapp"
STATUS = "/webhooks/whatsapp/status"
REMINDER_SID = "HX" + "c" * 32


class ShiftedClock:
    """The real time, moved forward on demand (retries still come due)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        """Move time forward."""
        self.offset += delta


@dataclass
class World:
    """The app on a loopback port, the fake Twilio API and a database handle for checks."""

    app: web.Application
    server: TestServer
    fake: FakeTwilio
    clock: ShiftedClock
    db: Database
    seen: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Where the app listens (Twilio's signatures are for PUBLIC_URL)."""
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def channel(self) -> WhatsAppChannel:
        """The running WhatsApp channel."""
        channel = self.app[CHANNELS]["whatsapp"]
        assert isinstance(channel, WhatsAppChannel)
        return channel

    async def post(self, path: str, params: dict[str, str], **kwargs: Any) -> tuple[int, str]:
        """A webhook call signed like Twilio signs it."""
        return await sign_and_post(self.url, path, params, AUTH_TOKEN, PUBLIC_URL, **kwargs)

    async def write(self, body: str, sender: str = FAMILY, **kwargs: Any) -> list[str]:
        """The family sends a message; returns the bodies of the replies it receives."""
        status, _ = await self.post(INBOUND, inbound_params(sender, body, **kwargs))
        assert status == 200
        return await self.replies(sender)

    async def replies(self, to: str = FAMILY, timeout: float = 15.0) -> list[str]:
        """Bodies delivered since the last call, once processing and delivery are idle."""
        async with asyncio.timeout(timeout):
            while len(self.fake.sent_to(to)) <= self.seen.get(to, 0) or not await self.idle():
                await asyncio.sleep(0.05)
        new = self.fake.sent_to(to)[self.seen.get(to, 0):]
        self.seen[to] = self.seen.get(to, 0) + len(new)
        return [m.get("Body", "") for m in new]

    async def idle(self) -> bool:
        """No event waits for processing and no reply waits for delivery."""
        async with self.db.sessions() as session:
            events = await session.scalar(select(func.count()).select_from(InboundEvent)
                                          .where(InboundEvent.processed_at.is_(None)))
            rows = await session.scalar(select(func.count()).select_from(OutboxItem)
                                        .where(OutboxItem.status.in_(("pending", "sending"))))
        return events == 0 and rows == 0

    async def choose(self, key: str, to: str = FAMILY) -> list[str]:
        """Answer the last question by typing the number of an option, as shown."""
        async with self.db.sessions() as session:
            options = (await session.execute(
                select(Message.options).join(Contact, Contact.id == Message.contact_id)
                .where(Contact.external_id == to, Message.direction == "out")
                .order_by(Message.id.desc()).limit(5)
            )).scalars().all()
        current = next(o for o in options if o)
        number = [o["key"] for o in current].index(key) + 1
        label = current[number - 1]["label"]
        last_body = self.fake.sent_to(to)[-1].get("Body", "")
        assert f"\n{number}. {label}" in last_body, last_body[-300:]
        return await self.write(str(number), to)

    async def queue(self, text: str, to: str = FAMILY, **extra: Any) -> int:
        """A reply written outside a conversation turn (a coordinator, a reminder)."""
        async with UnitOfWork(self.db) as uow:
            contact = await repo.get_or_create_contact(uow.session, "whatsapp", to)
            now = self.clock()
            message = repo.add_message(uow.session, contact, direction="out", author="bot",
                                       text=text, now=now)
            await uow.session.flush()
            item = repo.add_outbox(uow.session, contact, message,
                                   {"text": text, "options": [], "multiple": False,
                                    "locale": "en", "extra": extra}, now)
            await uow.commit()
            item_id = item.id
        self.app[DISPATCHER].wake()
        return item_id

    async def rows(self, model: type, *where: Any) -> list[Any]:
        """Rows straight from the database."""
        async with self.db.sessions() as session:
            return list((await session.execute(select(model).where(*where)
                                               .order_by(model.id))).scalars())  # type: ignore[attr-defined]

    async def settled(self, model: type, predicate: Any, timeout: float = 15.0) -> list[Any]:
        """Rows once some of them satisfy `predicate` (the dispatcher works on its own)."""
        async with asyncio.timeout(timeout):
            while True:
                found = await self.rows(model)
                if predicate(found):
                    return found
                await asyncio.sleep(0.05)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    """The fake Twilio API on a loopback port."""
    async with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        yield fake


@pytest.fixture
def clock() -> Iterator[ShiftedClock]:
    """A clock the test can move forward."""
    yield ShiftedClock()


async def start(settings: Settings, fake: FakeTwilio, clock: ShiftedClock,
                **overrides: Any) -> World:
    """The app with WhatsApp on, pointed at the fake."""
    configured = settings.with_overrides(
        twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
        twilio_whatsapp_from=SENDER, twilio_api_base_url=fake.url,
        public_base_url=PUBLIC_URL, **overrides,
    )
    app = create_app(configured, clock=clock)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return World(app, server, fake, clock, Database(configured.database_url))


@pytest.fixture
async def world(settings: Settings, fake: FakeTwilio, clock: ShiftedClock
                ) -> AsyncIterator[World]:
    """The whole thing, started and stopped around a test."""
    world = await start(settings, fake, clock)
    try:
        yield world
    finally:
        await world.server.close()
        await world.db.dispose()


WHATSAPP_INTAKE: list[tuple[str, str]] = [
    ("choose", "en"),
    ("say", "yes"),
    ("choose", "parent"),
    ("say", "Amira Benali"),
    ("say", "14/05/2015"),
    ("choose", "female"),
    ("say", "Morocco"),
    ("choose", "cardiology"),
    ("choose", "surgery"),
    ("say", "Open-heart surgery to repair a ventricular septal defect"),
    ("say", "Is surgery necessary now? Is there a less invasive alternative?"),
    ("say", "skip"),
    ("say", "4"),
    ("choose", "written_video"),
    ("choose", "fr"),
    ("say", "Furosemide 10 mg daily for 6 months"),
    ("say", "Dr Karim Alami"),
    ("say", "CHU Ibn Rochd, Casablanca"),
    ("say", "k.alami@example.org"),
    ("say", "yes"),
]


async def test_a_family_completes_the_whole_intake_by_typing_numbers_and_text(
    world: World,
) -> None:
    greeting = await world.write("Hello")
    assert len(greeting) == 1, "the greeting and the language menu travel as one message"
    assert "\n3. English" in greeting[0]
    assert greeting[0].endswith("Reply with the number of your choice.")
    for how, value in WHATSAPP_INTAKE:
        replies = await (world.choose(value) if how == "choose" else world.write(value))
        assert replies, f"no reply to {value!r}"
        assert not replies[0].startswith("Please"), (value, replies)
    assert "Here is a summary of your request" in "\n".join(replies)
    done = "\n".join(await world.choose("confirm"))

    assert "registered under the reference SO-" in done
    (case,) = await world.rows(Case)
    assert case.status == CaseStatus.AWAITING_DOCUMENTS
    assert case.answers["patient_name"] == "Amira Benali"
    assert case.answers["urgency"] == ["none"]
    sent = world.fake.sent_to(FAMILY)
    assert all(m["From"] == SENDER and len(m["Body"]) <= 1600 for m in sent)
    outbox = await world.rows(OutboxItem)
    assert outbox and all(item.status == "sent" for item in outbox)
    assert {item.provider_message_id for item in outbox} <= {m["Sid"] for m in sent}
    callbacks = {m["StatusCallback"] for m in sent}
    assert callbacks <= {f"{PUBLIC_URL}{STATUS}?outbox={item.id}" for item in outbox}
    (contact,) = await world.rows(Contact)
    assert contact.external_id == FAMILY and contact.display_name == "Test Family"


async def test_unsigned_forged_or_internally_signed_webhooks_are_refused_and_store_nothing(
    world: World,
) -> None:
    params = inbound_params(FAMILY, "Hello")

    assert (await world.post(INBOUND, params, sign=False))[0] == 403
    assert (await world.post(INBOUND, params, signature="bm90IGEgc2lnbmF0dXJl"))[0] == 403
    tampered = await sign_and_post(world.url, INBOUND, params, "another-token", PUBLIC_URL)
    assert tampered[0] == 403
    # Twilio signs the public URL: a signature over the address we listen on is not valid.
    internal = await sign_and_post(world.url, INBOUND, params, AUTH_TOKEN, world.url)
    assert internal[0] == 403
    assert (await world.post(STATUS, status_params("SM" + "0" * 32, "failed"),
                             sign=False))[0] == 403
    async with ClientSession() as session, session.post(
        world.url + INBOUND, json=params, headers={"X-Twilio-Signature": "c2lnbmF0dXJl"}
    ) as response:
        assert response.status == 415

    assert await world.rows(InboundEvent) == []
    assert await world.rows(Contact) == []
    assert world.fake.attempts == 0


async def test_a_signed_request_without_message_sid_or_sender_is_refused(world: World) -> None:
    params = inbound_params(FAMILY, "Hello")
    del params["MessageSid"]

    status, _ = await world.post(INBOUND, params)

    assert status == 400
    assert await world.rows(InboundEvent) == []


async def test_the_same_message_delivered_twice_is_processed_once(world: World) -> None:
    params = inbound_params(FAMILY, "Hello")

    first = await world.post(INBOUND, params)
    replies = await world.replies()
    again = await world.post(INBOUND, params)
    await asyncio.sleep(0.5)

    assert first == again == (200, '<?xml version="1.0" encoding="UTF-8"?><Response/>')
    assert len(replies) == 1 and len(world.fake.sent_to(FAMILY)) == 1
    assert len(await world.rows(InboundEvent)) == 1


async def test_a_long_reply_is_split_under_the_limit_without_cutting_words_or_links(
    world: World,
) -> None:
    await world.write("Hello")
    link = "https://intake.example.org/upload/" + "k" * 43
    text = " ".join(f"word{i}" for i in range(500)) + f" {link} " + "end " * 300

    outbox_id = await world.queue(text.strip())
    parts = await world.replies()

    assert len(parts) == 4 and parts == split_text(text.strip())
    assert all(len(part) <= 1600 for part in parts)
    assert " ".join(parts).split() == text.split()
    assert any(link in part for part in parts)
    (row,) = await world.rows(OutboxItem, OutboxItem.id == outbox_id)
    assert row.status == "sent" and row.provider_message_id == world.fake.messages[-1]["Sid"]


async def test_outside_the_24_hour_window_a_reply_without_template_is_held_for_coordinators(
    world: World,
) -> None:
    await world.write("Hello")
    world.clock.advance(timedelta(hours=25))

    outbox_id = await world.queue("Your coordinator has a question for you.")
    rows = await world.settled(
        OutboxItem, lambda rows: [r for r in rows if r.id == outbox_id and r.status == "held"]
    )
    (row,) = [r for r in rows if r.id == outbox_id]

    assert "24-hour" in (row.last_error or "")
    (contact,) = await world.rows(Contact)
    assert contact.needs_human and contact.blocked_at is None
    assert len(world.fake.sent_to(FAMILY)) == 1


async def test_outside_the_window_a_reminder_goes_out_as_its_approved_template(
    settings: Settings, fake: FakeTwilio, clock: ShiftedClock,
) -> None:
    world = await start(settings, fake, clock,
                        extra={"TWILIO_TEMPLATE_REMINDER_EN": REMINDER_SID})
    try:
        await world.write("Hello")
        world.clock.advance(timedelta(hours=30))
        await world.queue("A reminder about your request SO-ABC234.",
                          template="reminder", variables={"1": "SO-ABC234"})
        await world.fake.wait_for(2, FAMILY)
        await world.replies()
        reminder = world.fake.sent_to(FAMILY)[-1]
        rows = await world.rows(OutboxItem)
    finally:
        await world.server.close()
        await world.db.dispose()

    assert reminder["ContentSid"] == REMINDER_SID
    assert json.loads(reminder["ContentVariables"]) == {"1": "SO-ABC234"}
    assert "Body" not in reminder
    assert [r.status for r in rows] == ["sent", "sent"]
    assert rows[-1].provider_message_id == reminder["Sid"]


async def test_status_callbacks_move_forward_and_a_failure_flags_the_contact(
    world: World,
) -> None:
    await world.write("Hello")
    greeting = world.fake.sent_to(FAMILY)[0]
    callback = urlsplit(greeting["StatusCallback"])
    assert f"{callback.scheme}://{callback.netloc}" == PUBLIC_URL
    path = f"{callback.path}?{callback.query}"

    for status in ("sent", "delivered", "read", "delivered", "read", "sent"):
        answer = await world.post(path, status_params(greeting["Sid"], status))
        assert answer[0] == 200
    (row,) = await world.rows(OutboxItem)
    assert row.delivery_status == "read"
    (contact,) = await world.rows(Contact)
    assert not contact.needs_human

    second_id = await world.queue("Thank you, we will come back to you.")
    await world.replies()
    second = world.fake.sent_to(FAMILY)[-1]
    failed = status_params(second["Sid"], "undelivered", error_code="63024")
    assert (await world.post(STATUS, failed))[0] == 200  # found by SID alone
    (row,) = await world.rows(OutboxItem, OutboxItem.id == second_id)
    assert row.delivery_status == "undelivered" and "63024" in (row.last_error or "")
    (contact,) = await world.rows(Contact)
    assert contact.needs_human

    unknown = await world.post(STATUS, status_params("SM" + "f" * 32, "delivered"))
    assert unknown[0] == 200


async def test_twilio_errors_and_rate_limits_are_retried_and_delivered_in_order(
    world: World,
) -> None:
    world.fake.fail_next(1, status=500)
    world.fake.rate_limit_next(1, retry_after=0.5)

    status, _ = await world.post(INBOUND, inbound_params(FAMILY, "Hello"))
    assert status == 200
    await world.settled(OutboxItem, lambda rows: len(rows) == 1)
    await world.queue("Second message.")
    await world.fake.wait_for(2, FAMILY, timeout=20)
    bodies = [m["Body"] for m in world.fake.sent_to(FAMILY)]

    assert "English" in bodies[0] and bodies[1] == "Second message."
    assert world.fake.attempts == 4
    rows = await world.settled(OutboxItem, lambda rows: all(r.status == "sent" for r in rows))
    assert [r.attempts for r in rows] == [3, 1]


async def test_a_family_that_unsubscribed_is_marked_blocked_and_not_retried(
    world: World,
) -> None:
    world.fake.block_next(21610)

    await world.post(INBOUND, inbound_params(FAMILY, "Hello"))
    (row,) = await world.settled(OutboxItem, lambda rows: rows and rows[0].status == "failed")

    assert row.attempts == 1 and "21610" in (row.last_error or "")
    (contact,) = await world.rows(Contact)
    assert contact.blocked_at is not None and contact.needs_human
    assert world.fake.messages == []


async def test_a_family_known_only_by_a_business_scoped_user_id_is_answered(
    world: World,
) -> None:
    bsuid = "whatsapp:US.ABC123XYZ"

    replies = await world.write("Hello", sender=bsuid, profile_name=None)

    assert replies and "English" in replies[0]
    (contact,) = await world.rows(Contact)
    assert contact.external_id == bsuid and contact.locale_hint is None


async def test_a_phone_prefix_is_only_a_hint_for_the_first_language(world: World) -> None:
    turkish = "whatsapp:+905321234567"

    await world.write("Merhaba", sender=turkish)

    (contact,) = await world.rows(Contact)
    assert contact.locale_hint == "tr"


async def test_media_sent_in_the_chat_is_recorded_with_its_twilio_url(world: World) -> None:
    url = world.fake.add_media(b"%PDF-1.7 report", "application/pdf")

    status, _ = await world.post(
        INBOUND, inbound_params(FAMILY, "", media=[(url, "application/pdf")])
    )

    assert status == 200
    (event,) = await world.rows(InboundEvent)
    assert event.payload["attachments"] == [
        {"ref": url, "filename": None, "content_type": "application/pdf", "size": None}]


async def test_media_is_downloaded_with_the_account_credentials_then_deleted(
    world: World,
) -> None:
    content = bytes(range(256)) * 1000
    url = world.fake.add_media(content, "image/jpeg")
    path = urlsplit(url).path

    received = b"".join([chunk async for chunk in world.channel.fetch(Attachment(url))])

    assert received == content
    assert world.fake.media_downloads == [path]
    assert world.fake.deleted_media == [path]
    assert world.fake.unauthorized == 0


async def test_media_over_the_size_cap_is_refused_and_deleted(world: World) -> None:
    url = world.fake.add_media(b"x" * 5000, "video/mp4")
    world.channel.max_media_bytes = 1000

    with pytest.raises(ChannelError) as refused:
        _ = [chunk async for chunk in world.channel.fetch(Attachment(url))]

    assert refused.value.permanent
    assert world.fake.deleted_media == [urlsplit(url).path]


async def test_media_that_is_gone_is_a_permanent_failure(world: World) -> None:
    url = re.sub(r"ME\w+$", "ME" + "0" * 32, world.fake.add_media(b"x"))

    with pytest.raises(ChannelError) as refused:
        _ = [chunk async for chunk in world.channel.fetch(Attachment(url))]

    assert refused.value.permanent and not refused.value.blocked
