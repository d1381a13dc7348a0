"""The web chat channel's HTTP side: the page, sending a message, long-polling replies."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
import time
from typing import Any

from aiohttp import web
from sqlalchemy import exists, select

from bot.channels.base import Inbound
from bot.channels.webchat import NAME as WEBCHAT
from bot.i18n.negotiate import from_accept_language, text_direction
from bot.keys import (
    CATALOGS,
    DATABASE,
    FILES,
    JINJA,
    PROCESSOR,
    RENDERER,
    SETTINGS,
    WEBCHAT_CHANNEL,
)
from bot.upload_links import open_links
from bot.web.templating import render_page
from intake.prompts import Text
from storage.tables import Contact, InboundEvent, Message, OutboxItem
from storage.unit_of_work import UnitOfWork

COOKIE = "chat_session"
MAX_TEXT = 20_000
MAX_WAIT_SECONDS = 25.0
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
CHOICE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

routes = web.RouteTableDef()


def _session_token(request: web.Request) -> str | None:
    token = request.cookies.get(COOKIE, "")
    return token if 20 <= len(token) <= 100 else None


def external_id(token: str) -> str:
    """The contact key of a browser session: a hash, so the database never holds the cookie."""
    return hashlib.sha256(token.encode()).hexdigest()


async def _contact(request: web.Request, token: str) -> Contact | None:
    async with UnitOfWork(request.app[DATABASE], write=False) as uow:
        query = select(Contact).where(
            Contact.channel == WEBCHAT, Contact.external_id == external_id(token)
        )
        return (await uow.session.execute(query)).scalar_one_or_none()


def _page_language(request: web.Request, contact: Contact | None) -> str:
    if contact is not None and contact.locale:
        return contact.locale
    return from_accept_language(request.headers.get("Accept-Language")) or "en"


def _error(request: web.Request, lang: str, status: int, msgid: str) -> web.Response:
    text = request.app[RENDERER].text(Text(msgid), lang)
    return web.json_response({"error": text}, status=status)


@routes.get("/chat")
async def chat_page(request: web.Request) -> web.Response:
    """The chat page; it opens (or resumes) the conversation of this browser."""
    token = _session_token(request)
    contact = await _contact(request, token) if token else None
    lang = _page_language(request, contact)
    html = render_page(
        request.app[JINJA], request.app[CATALOGS], "chat.html", lang,
        static_url="/static", api_base="/chat/api",
    )
    response = web.Response(text=html, content_type="text/html")
    if token is None:
        secure = request.app[SETTINGS].base_url.startswith("https://")
        response.set_cookie(
            COOKIE, secrets.token_urlsafe(32), httponly=True, samesite="Lax", secure=secure,
            max_age=60 * 60 * 24 * 180, path="/chat",
        )
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.post("/chat/api/messages")
async def post_message(request: web.Request) -> web.Response:
    """A family message: stored durably, then acknowledged; replies come through the poll."""
    token = _session_token(request)
    lang = from_accept_language(request.headers.get("Accept-Language")) or "en"
    if token is None:
        return _error(request, lang, 403, "Your session has expired. Please reload the page.")
    if not _same_origin(request):
        return _error(request, lang, 403, "Your session has expired. Please reload the page.")
    if request.content_type != "application/json":
        return _error(request, lang, 415, "Your message could not be read. Please try again.")
    if request.content_length is not None and request.content_length > MAX_TEXT * 4 + 1024:
        return _error(request, lang, 413, "This message is too long.")
    try:
        body: Any = await request.json()
    except ValueError:
        return _error(request, lang, 400, "Your message could not be read. Please try again.")
    inbound = _parse_body(body, token, request)
    if isinstance(inbound, str):
        status = 413 if inbound == "too_long" else 400
        msgid = ("This message is too long." if status == 413
                 else "Your message could not be read. Please try again.")
        return _error(request, lang, status, msgid)
    receipt = await request.app[PROCESSOR].receive(inbound)
    return web.json_response({"accepted": True, "id": receipt.message_id}, status=202)


def _same_origin(request: web.Request) -> bool:
    """A browser's POST names its page's origin: only our own pages may post for a family
    (SameSite=Lax alone would let a sibling site of the same registrable domain in)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser cross-origin request (browsers always send it on POST)
    allowed = {request.app[SETTINGS].base_url, f"http://{request.host}",
               f"https://{request.host}"}
    return origin.rstrip("/") in allowed


def _parse_body(body: Any, token: str, request: web.Request) -> Inbound | str:
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
    contact_key = external_id(token)
    return Inbound(
        # Scoped to the session: two browsers choosing the same id stay two messages.
        channel=WEBCHAT, external_id=contact_key,
        provider_key=f"msg:{contact_key[:16]}:{client_id}",
        text=text, choice=choice, choices=tuple(choices) if choices is not None else None,
        language_hint=from_accept_language(request.headers.get("Accept-Language")),
    )


@routes.get("/chat/api/messages")
async def poll_messages(request: web.Request) -> web.Response:
    """Long poll: the delivered transcript after `after`, as soon as there is something."""
    token = _session_token(request)
    if token is None:
        lang = from_accept_language(request.headers.get("Accept-Language")) or "en"
        return _error(request, lang, 403, "Your session has expired. Please reload the page.")
    try:
        after = max(0, int(request.query.get("after", "0")))
        wait = min(MAX_WAIT_SECONDS, max(0.0, float(request.query.get("wait", "0"))))
    except ValueError:
        return _error(request, "en", 400, "Your message could not be read. Please try again.")
    contact = await _contact(request, token)
    if contact is None:
        receipt = await request.app[PROCESSOR].receive(Inbound(
            channel=WEBCHAT, external_id=external_id(token),
            provider_key=f"start:{external_id(token)[:32]}",
            start=True,
            language_hint=from_accept_language(request.headers.get("Accept-Language")),
        ))
        contact_id = receipt.contact_id
    else:
        contact_id = contact.id
    deadline = time.monotonic() + wait
    channel = request.app[WEBCHAT_CHANNEL]
    while True:
        with channel.listening(contact_id) as delivered:
            messages, lang, busy = await _delivered(request, contact_id, after)
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0:
                break
            # Woken at once in this process; the 1 s cap covers replies sent by another
            # worker.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(delivered.wait(), min(1.0, remaining))
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
            select(Message, OutboxItem.status)
            .outerjoin(OutboxItem, OutboxItem.message_id == Message.id)
            .where(Message.contact_id == contact_id, Message.id > after)
            .order_by(Message.id)
            .limit(200)
        )
        rows = (await session.execute(query)).all()
    # Only the delivered prefix: the cursor must never pass a reply still in the outbox.
    visible: list[Message] = []
    for message, status in rows:
        if message.direction == "out" and status in ("pending", "sending"):
            break
        visible.append(message)
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
        }
        for m in visible
    ], lang, busy
