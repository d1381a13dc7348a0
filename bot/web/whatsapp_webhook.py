"""Twilio's WhatsApp webhooks: inbound messages and delivery status callbacks.

Both are validated with `X-Twilio-Signature` before anything is read into the database;
inbound messages are stored durably (deduplicated on `MessageSid`) before Twilio gets its 200.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from sqlalchemy import or_, select, update
from twilio.request_validator import RequestValidator

from bot.channels.whatsapp import NAME, parse_inbound
from bot.keys import DATABASE, PROCESSOR, SETTINGS
from bot.web.bodies import BodyError, clean_text, read_form
from storage.db import Database
from storage.tables import Contact, OutboxItem
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

MAX_FORM_BYTES = 256 * 1024
OUTBOX_ID = re.compile(r"^[0-9]{1,18}$")
REFUSALS: dict[int, type[web.HTTPClientError]] = {
    408: web.HTTPRequestTimeout, 415: web.HTTPUnsupportedMediaType,
}
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

# Delivery statuses in the order they happen; a later callback never moves a row back
# (callbacks arrive out of order and may repeat). A failure is final.
STATUS_RANK = {
    "accepted": 0, "scheduled": 0, "queued": 0, "sending": 1, "sent": 2, "delivered": 3,
    "read": 4, "failed": 5, "undelivered": 5,
}
FAILED = frozenset({"failed", "undelivered"})


def _twiml() -> web.Response:
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


async def _signed_form(request: web.Request) -> MultiDictProxy[str]:
    """The posted form, only when Twilio signed it; 403 otherwise."""
    settings = request.app[SETTINGS]
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not settings.twilio_auth_token:
        raise web.HTTPForbidden(text="missing signature")
    try:
        form = await read_form(request, limit=MAX_FORM_BYTES,
                               timeout=settings.body_read_timeout)
    except BodyError as refused:
        raise REFUSALS.get(refused.status, web.HTTPBadRequest)(text=refused.code) from None
    # Twilio signs the public URL, not the one we listen on (TLS proxies, port mapping).
    url = settings.base_url + str(request.rel_url)
    validator = RequestValidator(settings.twilio_auth_token)
    if not validator.validate(url, form, signature):
        log.warning("whatsapp webhook signature rejected", extra={"channel": NAME})
        raise web.HTTPForbidden(text="invalid signature")
    # Signed as sent; what we keep is what the database can store (NUL dropped), the same
    # rule as Telegram's, since Twilio would only retry a refusal.
    return MultiDictProxy(MultiDict((key, clean_text(value)) for key, value in form.items()))


@routes.post("/webhooks/whatsapp")
async def whatsapp_inbound(request: web.Request) -> web.Response:
    """A family's message: validate, store durably, acknowledge with empty TwiML."""
    form = await _signed_form(request)
    inbound = parse_inbound(form)
    if inbound is None:
        raise web.HTTPBadRequest(text="MessageSid and From are required")
    receipt = await request.app[PROCESSOR].receive(inbound)
    log.info("whatsapp inbound stored", extra={"event_id": receipt.event_id,
                                               "contact_id": receipt.contact_id,
                                               "status": "new" if receipt.created else "repeat"})
    return _twiml()


@routes.post("/webhooks/whatsapp/status")
async def whatsapp_status(request: web.Request) -> web.Response:
    """A delivery status callback: recorded on the outbox row, failures flagged."""
    form = await _signed_form(request)
    sid = (form.get("MessageSid") or "").strip()
    status = (form.get("MessageStatus") or "").strip().lower()
    if not sid or not status:
        raise web.HTTPBadRequest(text="MessageSid and MessageStatus are required")
    outbox = request.query.get("outbox", "")
    await record_delivery_status(
        request.app[DATABASE], sid=sid, status=status,
        error_code=(form.get("ErrorCode") or "").strip()[:16] or None,
        # Our own id in the callback URL; anything else (not ASCII digits, past a database
        # integer) finds the row by its SID instead.
        outbox_id=int(outbox) if OUTBOX_ID.match(outbox) else None,
    )
    return _twiml()


async def record_delivery_status(
    db: Database, *, sid: str, status: str, error_code: str | None, outbox_id: int | None,
) -> bool:
    """Move the outbox row's delivery status forward; flag the contact when it failed.

    The row is found by the outbox id in the callback URL (every part of a split message,
    even before the dispatcher recorded the SID), else by the message SID. Repeats and
    late callbacks change nothing. Returns whether the row changed.
    """
    rank = STATUS_RANK.get(status)
    if rank is None:
        return False
    earlier = [name for name, value in STATUS_RANK.items() if value < rank]
    async with UnitOfWork(db) as uow:
        session = uow.session
        found = OutboxItem.id == outbox_id if outbox_id else (
            OutboxItem.provider_message_id == sid
        )
        row = (await session.execute(
            select(OutboxItem.id, OutboxItem.contact_id).where(OutboxItem.channel == NAME, found)
        )).first()
        if row is None:
            return False
        values: dict[str, object] = {"delivery_status": status}
        if error_code:
            values["last_error"] = f"twilio {error_code} ({status})"
        result = await session.execute(
            update(OutboxItem)
            .where(OutboxItem.id == row.id,
                   or_(OutboxItem.delivery_status.is_(None),
                       OutboxItem.delivery_status.in_(earlier)))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        changed = bool(result.rowcount)  # type: ignore[attr-defined]
        if changed and status in FAILED:
            await session.execute(
                update(Contact).where(Contact.id == row.contact_id).values(needs_human=True)
                .execution_options(synchronize_session=False)
            )
        await uow.commit()
    if changed and status in FAILED:
        log.warning("whatsapp delivery failed", extra={"outbox_id": row.id,
                                                       "contact_id": row.contact_id,
                                                       "error": error_code})
    return changed
