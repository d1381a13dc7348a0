"""The web chat channel's HTTP side: the page, sending a message, long-polling replies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import exists, select

from bot.access.client_address import request_address
from bot.access.throttle import Throttle
from bot.channels.base import Inbound
from bot.channels.webchat import NAME as WEBCHAT
from bot.documents.links import open_links
from bot.i18n.negotiate import from_accept_language, text_direction
from bot.keys import (
    CATALOGS,
    CLOCK,
    DATABASE,
    FILES,
    JINJA,
    PROCESSOR,
    RENDERER,
    SETTINGS,
    WAKEUPS,
    WEBCHAT_CHANNEL,
)
from bot.messaging.wakeups import WEBCHAT as WEBCHAT_CHANGED
from bot.web.bodies import BodyError, read_json
from bot.web.chat_session import CHAT_SESSIONS, ChatSession
from bot.web.templating import render_page
from intake.prompts import N_, Text
from storage.tables import Contact, InboundEvent, Message, OutboxItem
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

MAX_TEXT = 20_000
MAX_BODY = MAX_TEXT * 4 + 1024
MAX_WAIT_SECONDS = 25.0
MAX_ID = 2**63 - 1
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
CHOICE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
DIGITS = re.compile(r"^[0-9]{1,19}$")
NEW_CONVERSATION_WINDOW = timedelta(hours=1)
MESSAGE_WINDOW = timedelta(minutes=1)

EXPIRED = N_("Your session has expired. Please reload the page.")
UNREADABLE = N_("Your message could not be read. Please try again.")
TOO_LONG = N_("This message is too long.")
TOO_SLOW = N_("Your message took too long to arrive. Please try again.")
TOO_MANY_NEW = N_("Many conversations were started from your connection recently. "
                  "Please try again later.")
TOO_FAST = N_("You are sending messages very quickly. Please wait a moment and try again.")

routes = web.RouteTableDef()


def _now(request: web.Request) -> datetime:
    now: datetime = request.app[CLOCK]()
    return now


def _session(request: web.Request) -> ChatSession | None:
    return request.app[CHAT_SESSIONS].from_request(request, _now(request))


async def _contact(request: web.Request, session: ChatSession) -> Contact | None:
    async with UnitOfWork(request.app[DATABASE], write=False) as uow:
        query = select(Contact).where(
            Contact.channel == WEBCHAT, Contact.external_id == session.external_id
        )
        return (await uow.session.execute(query)).scalar_one_or_none()


def _page_language(request: web.Request, contact: Contact | None) -> str:
    if contact is not None and contact.locale:
        return contact.locale
    return _visitor_language(request)


def _visitor_language(request: web.Request) -> str:
    return from_accept_language(request.headers.get("Accept-Language")) or "en"


def _error(request: web.Request, lang: str, status: int, msgid: str,
           **headers: str) -> web.Response:
    text = request.app[RENDERER].text(Text.of(msgid), lang)
    return web.json_response({"error": text}, status=status,
                             headers={"Cache-Control": "no-store", **headers})


async def _over_limit(
    request: web.Request, kind: str, limit: int, window: timedelta
) -> bool:
    """Count one more `kind` from this client address; shared by every worker."""
    name = f"webchat:{kind}:{request_address(request)}"
    count = await Throttle(request.app[DATABASE]).hit(name, window, _now(request))
    return count > limit


async def _refuse_new_conversation(request: web.Request, lang: str) -> web.Response | None:
    """The answer when this address started too many conversations lately, else None."""
    settings = request.app[SETTINGS]
    if await _over_limit(request, "new", settings.new_conversations_per_hour,
                         NEW_CONVERSATION_WINDOW):
        log.warning("webchat new conversation refused", extra={"reason": "rate"})
        retry = str(int(NEW_CONVERSATION_WINDOW.total_seconds()))
        return _error(request, lang, 429, TOO_MANY_NEW, **{"Retry-After": retry})
    return None


@routes.get("/chat")
async def chat_page(request: web.Request) -> web.Response:
    """The chat page; it resumes this browser's conversation. A page view stores nothing:
    the conversation starts with the page's first poll."""
    sessions = request.app[CHAT_SESSIONS]
    session = _session(request)
    contact = await _contact(request, session) if session else None
    lang = _page_language(request, contact)
    html = render_page(
        request.app[JINJA], request.app[CATALOGS], "chat.html", lang,
        static_url="/static", api_base="/chat/api", forget_url="/chat/forget",
    )
    response = web.Response(text=html, content_type="text/html")
    if session is None:
        # Whatever the browser sent (nothing, a planted or an expired value) is replaced.
        sessions.set_cookie(response, sessions.new(_now(request)))
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.post("/chat/forget")
async def forget_device(request: web.Request) -> web.Response:
    """"Forget this device": the browser loses its session; the conversation stays with the
    coordinators, and the next visit starts a new one."""
    if not _same_origin(request):
        lang = _visitor_language(request)
        return web.Response(status=403, text=request.app[RENDERER].text(Text.of(EXPIRED), lang))
    response = web.Response(status=303, headers={"Location": "/chat",
                                                 "Cache-Control": "no-store"})
    request.app[CHAT_SESSIONS].clear_cookie(response)
    return response


@routes.post("/chat/api/messages")
async def post_message(request: web.Request) -> web.Response:
    """A family message: stored durably, then acknowledged; replies come through the poll."""
    session = _session(request)
    lang = _visitor_language(request)
    if session is None or not _same_origin(request):
        return _error(request, lang, 403, EXPIRED)
    settings = request.app[SETTINGS]
    if await _over_limit(request, "message", settings.messages_per_minute, MESSAGE_WINDOW):
        log.warning("webchat message refused", extra={"reason": "rate"})
        retry = str(int(MESSAGE_WINDOW.total_seconds()))
        return _error(request, lang, 429, TOO_FAST, **{"Retry-After": retry})
    try:
        body: Any = await read_json(request, limit=MAX_BODY, timeout=settings.body_read_timeout)
    except BodyError as refused:
        msgid = {408: TOO_SLOW, 413: TOO_LONG}.get(refused.status, UNREADABLE)
        return _error(request, lang, refused.status, msgid)
    inbound = _parse_body(body, session, request)
    if isinstance(inbound, str):
        status = 413 if inbound == "too_long" else 400
        return _error(request, lang, status, TOO_LONG if status == 413 else UNREADABLE)
    if await _contact(request, session) is None and (
        refused_new := await _refuse_new_conversation(request, lang)
    ) is not None:
        return refused_new
    receipt = await request.app[PROCESSOR].receive(inbound)
    if receipt.created:
        # The family's own line is in the transcript: its polls, on any worker, show it.
        await request.app[WAKEUPS].announce(WEBCHAT_CHANGED, str(receipt.contact_id))
    response = web.json_response({"accepted": True, "id": receipt.message_id}, status=202)
    # Activity: the session lives on for the whole lifetime from now.
    request.app[CHAT_SESSIONS].set_cookie(response, ChatSession(session.id, _now(request)))
    return response


def _same_origin(request: web.Request) -> bool:
    """A browser's POST names its page's origin: only our own pages may post for a family
    (SameSite=Lax alone would let a sibling site of the same registrable domain in)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser cross-origin request (browsers always send it on POST)
    if origin == "null":
        # A form posted from a page with `Referrer-Policy: no-referrer` (ours) says "null";
        # the browser's own Sec-Fetch-Site, which no page can set, still tells where from.
        return request.headers.get("Sec-Fetch-Site") == "same-origin"
    allowed = {request.app[SETTINGS].base_url, f"http://{request.host}",
               f"https://{request.host}"}
    return origin.rstrip("/") in allowed


def _parse_body(body: Any, session: ChatSession, request: web.Request) -> Inbound | str:
    if not isinstance(body, dict):
        return "malformed"
    client_id = body.get("client_id")
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        return "malformed"
    text, choice, choices = body.get("text"), body.get("choice"), body.get("choices")
    if text is not None and (not isinstance(text, str)):
        return "malformed"
    if isinstance(text, str) and len(text) > MAX_TEXT:
        return "too_long"
    if choice is not None and (not isinstance(choice, str) or not CHOICE.match(choice)):
        return "malformed"
    if choices is not None and (
        not isinstance(choices, list) or not 0 < len(choices) <= 20
        or not all(isinstance(c, str) and CHOICE.match(c) for c in choices)
    ):
        return "malformed"
    if text is None and choice is None and choices is None:
        return "malformed"
    contact_key = session.external_id
    return Inbound(
        # Scoped to the session: two browsers choosing the same id stay two messages.
        channel=WEBCHAT, external_id=contact_key,
        provider_key=f"msg:{contact_key[:16]}:{client_id}",
        text=text, choice=choice, choices=tuple(choices) if choices is not None else None,
        language_hint=from_accept_language(request.headers.get("Accept-Language")),
    )


def _poll_parameters(request: web.Request) -> tuple[int, float] | None:
    """`after` (a message id) and `wait` (seconds), or None when either is not a number
    we can use (a database integer overflows past 2**63 - 1)."""
    after_text = request.query.get("after", "0")
    if not DIGITS.match(after_text) or int(after_text) > MAX_ID:
        return None
    try:
        wait = float(request.query.get("wait", "0"))
    except ValueError:
        return None
    if not math.isfinite(wait):
        return None
    return int(after_text), min(MAX_WAIT_SECONDS, max(0.0, wait))


@routes.get("/chat/api/messages")
async def poll_messages(request: web.Request) -> web.Response:
    """Long poll: the delivered transcript after `after`, as soon as there is something."""
    session = _session(request)
    lang = _visitor_language(request)
    if session is None:
        return _error(request, lang, 403, EXPIRED)
    parameters = _poll_parameters(request)
    if parameters is None:
        return _error(request, lang, 400, UNREADABLE)
    after, wait = parameters
    contact = await _contact(request, session)
    if contact is None:
        if (refused := await _refuse_new_conversation(request, lang)) is not None:
            return refused
        receipt = await request.app[PROCESSOR].receive(Inbound(
            channel=WEBCHAT, external_id=session.external_id,
            provider_key=f"start:{session.external_id[:32]}",
            start=True,
            language_hint=from_accept_language(request.headers.get("Accept-Language")),
        ))
        contact_id = receipt.contact_id
    else:
        contact_id = contact.id
    deadline = time.monotonic() + wait
    channel, wakeups = request.app[WEBCHAT_CHANNEL], request.app[WAKEUPS]
    while True:
        with channel.listening(contact_id) as delivered:
            messages, lang, busy = await _delivered(request, contact_id, after)
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0:
                break
            # Woken by a delivery in any worker (`bot.messaging.wakeups`); the re-read is only a
            # net, every second while another worker's deliveries cannot be heard.
            net = request.app[SETTINGS].wakeup_safety_seconds if wakeups.live else 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(delivered.wait(), min(net, remaining))
    return web.json_response(
        {"messages": messages, "lang": lang, "dir": text_direction(lang), "busy": busy},
        headers={"Cache-Control": "no-store"},
    )


async def _delivered(
    request: web.Request, contact_id: int, after: int
) -> tuple[list[dict[str, Any]], str, bool]:
    """The delivered transcript after `after`, the language, and whether replies are still
    on their way (an unprocessed message, or an undelivered reply: the page shows typing)."""
    async with UnitOfWork(request.app[DATABASE], write=False) as uow:
        session = uow.session
        contact = await session.get(Contact, contact_id)
        lang = (contact.locale or contact.locale_hint or "en") if contact else "en"
        # "Busy" first: on PostgreSQL each statement sees the latest commits, so a reply
        # recorded between the two reads must be counted as not busy only if it is also in
        # the messages read after it.
        busy = bool(await session.scalar(select(
            exists().where(InboundEvent.contact_id == contact_id,
                           InboundEvent.processed_at.is_(None))
            | exists().where(OutboxItem.contact_id == contact_id,
                             OutboxItem.status.in_(("pending", "sending")))
        )))
        query = (
            select(Message, OutboxItem.status, OutboxItem.payload)
            .outerjoin(OutboxItem, OutboxItem.message_id == Message.id)
            .where(Message.contact_id == contact_id, Message.id > after)
            .order_by(Message.id)
            .limit(200)
        )
        rows = (await session.execute(query)).all()
    # Only the delivered prefix: the cursor must never pass a reply still in the outbox.
    visible: list[tuple[Message, dict[str, Any] | None]] = []
    for message, status, payload in rows:
        if message.direction == "out" and status in ("pending", "sending"):
            break
        visible.append((message, _document(payload)))
    # The family's own transcript: its upload links, sealed in the database, open again.
    sealer = request.app[FILES].sealer()
    return [
        {
            "id": m.id,
            "direction": m.direction,
            "text": open_links(m.text, sealer, contact_id),
            "options": m.options,
            "multiple": m.multiple,
            "created_at": m.created_at.isoformat(),
            **({"document": document} if document else {}),
        }
        for m, document in visible
    ], lang, busy


def _document(payload: dict[str, Any] | None) -> dict[str, Any] | None:
    """A file the reply carries (the records-request letter): its link and file name."""
    extra = (payload or {}).get("extra") or {}
    document = extra.get("document") if isinstance(extra, dict) else None
    if isinstance(document, dict) and isinstance(document.get("url"), str):
        return {"url": document["url"], "filename": str(document.get("filename") or "")}
    return None
