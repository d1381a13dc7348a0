"""Durable receipt of an inbound event in SQLAlchemy Core: the webhook's hot path.

Every family message passes here before the provider gets its 200, so the receipt is a few
prepared statements, built once, with no ORM unit of work and no reload of what the
statements already returned. The common case (a known contact, a new event) is three round
trips: the contact's update, the transcript line, the event itself. A repeated delivery is
found by the event's unique key; the caller then rolls the transaction back, which also undoes
the contact's `last_inbound_at` and the transcript line written before the conflict showed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import Contact, InboundEvent, Message

_CONTACTS = Contact.__table__
_EVENTS = InboundEvent.__table__
_MESSAGES = Message.__table__


@dataclass(frozen=True)
class StoredEvent:
    """The ids a receipt produced (or found, for a repeated delivery)."""

    event_id: int
    contact_id: int
    message_id: int | None


def _identity(statement: Any) -> Any:
    return statement.where(_CONTACTS.c.channel == bindparam("b_channel"),
                           _CONTACTS.c.external_id == bindparam("b_external_id"))


# Built once: the statement cache then skips compiling, and no expression is rebuilt per call.
# A message in is the conversation's latest activity too (the inbox list's order).
_TOUCH = _identity(update(_CONTACTS).values(
    last_inbound_at=bindparam("now"), last_activity_at=bindparam("now"))).returning(
    _CONTACTS.c.id)
_TOUCH_NAMED = _identity(update(_CONTACTS).values(
    last_inbound_at=bindparam("now"), last_activity_at=bindparam("now"),
    display_name=bindparam("name"))).returning(_CONTACTS.c.id)
_LAST_OPTIONS = (
    select(_MESSAGES.c.options)
    .where(_MESSAGES.c.contact_id == bindparam("contact_id"), _MESSAGES.c.direction == "out")
    .order_by(_MESSAGES.c.id.desc())
    .limit(1)
)
_ADD_MESSAGE = insert(_MESSAGES).returning(_MESSAGES.c.id)
_FIND_EVENT = select(_EVENTS.c.id, _EVENTS.c.contact_id, _EVENTS.c.message_id).where(
    _EVENTS.c.channel == bindparam("channel"), _EVENTS.c.provider_key == bindparam("key"))


_NEW_CONTACT = {
    name: upsert(_CONTACTS).on_conflict_do_nothing(index_elements=["channel", "external_id"])
    .returning(_CONTACTS.c.id)
    for name, upsert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_NEW_EVENT = {
    name: upsert(_EVENTS).on_conflict_do_nothing(index_elements=["channel", "provider_key"])
    .returning(_EVENTS.c.id)
    for name, upsert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


async def touch_contact(
    session: AsyncSession, channel: str, external_id: str, *, display_name: str | None,
    locale_hint: str | None, now: datetime,
) -> int:
    """The contact's id, its last inbound time set to `now` (created on first contact)."""
    params: dict[str, Any] = {"b_channel": channel, "b_external_id": external_id, "now": now}
    if display_name:
        params["name"] = display_name
    statement = _TOUCH_NAMED if display_name else _TOUCH
    contact_id = await session.scalar(statement, params)
    if contact_id is not None:
        return int(contact_id)
    created = await session.scalar(_NEW_CONTACT[session.bind.dialect.name], {
        "channel": channel, "external_id": external_id, "display_name": display_name,
        "locale_hint": locale_hint, "last_inbound_at": now, "last_activity_at": now,
        "created_at": now,
    })
    if created is not None:
        return int(created)
    # Created meanwhile by a concurrent first message of the same person.
    return int((await session.execute(statement, params)).scalar_one())


async def last_options(session: AsyncSession, contact_id: int) -> list[dict[str, str]]:
    """The options of the contact's latest outgoing message (to show a tapped button)."""
    options = await session.scalar(_LAST_OPTIONS, {"contact_id": contact_id})
    return list(options or [])


async def add_inbound_message(
    session: AsyncSession, contact_id: int, text: str, attachments: int, now: datetime
) -> int:
    """Append the family's message to the transcript; returns its id."""
    return int(await session.scalar(_ADD_MESSAGE, {
        "contact_id": contact_id, "case_id": None, "direction": "in", "author": "family",
        "coordinator_id": None, "text": text, "options": [], "multiple": False,
        "attachments": attachments, "created_at": now,
    }))


async def insert_event(
    session: AsyncSession, *, channel: str, provider_key: str, contact_id: int,
    message_id: int | None, payload: dict[str, Any], now: datetime,
) -> int | None:
    """Store the raw event once; None when its provider key is already stored."""
    inserted = await session.scalar(_NEW_EVENT[session.bind.dialect.name], {
        "channel": channel, "provider_key": provider_key, "contact_id": contact_id,
        "message_id": message_id, "payload": payload, "received_at": now, "attempts": 0,
    })
    return None if inserted is None else int(inserted)


async def find_event(session: AsyncSession, channel: str, provider_key: str) -> StoredEvent:
    """A stored event by its provider key (a repeated delivery)."""
    row = (await session.execute(_FIND_EVENT, {"channel": channel, "key": provider_key})).one()
    return StoredEvent(int(row.id), int(row.contact_id), row.message_id)
