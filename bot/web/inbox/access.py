"""Audit entries for getting into the inbox and looking at its list: ids only.

A failed sign-in records the account's id when the e-mail address names one, and a keyed hash
of the client address; never the address typed, never the password. A list view records which
conversations were on screen (their ids), since the list shows patients' names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.web.inbox.actions import audit
from storage.db import Database
from storage.unit_of_work import UnitOfWork


async def record(
    database: Database, coordinator_id: int | None, action: str, now: datetime, **ids: Any
) -> None:
    """Write one audit entry in its own transaction."""
    async with UnitOfWork(database) as uow:
        audit(uow.session, coordinator_id, action, now, **ids)
        await uow.commit()


async def sign_in_failed(
    database: Database, account_id: int | None, address_hash: str, now: datetime
) -> None:
    """A refused sign-in: the account named, if any, and where it came from (hashed)."""
    await record(database, account_id, "login_failed", now, address=address_hash)


async def list_viewed(
    database: Database, coordinator_id: int, show: str, contact_ids: Sequence[int],
    now: datetime, *, refresh: bool,
) -> None:
    """The list was shown (or refreshed in the background) with these conversations."""
    await record(database, coordinator_id, "list", now, show=show,
                 contacts=list(contact_ids), refresh=refresh)
