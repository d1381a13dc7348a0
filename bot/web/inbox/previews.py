"""Series previews in the inbox: `GET /inbox/documents/{id}/preview`, login required, audited.

The first request for a document decodes its middle frame in a worker thread
(`bot.imaging.previews`), stores the PNG encrypted in the file store like any received file, and
records the object's key in the document's inspection (`preview_key`), so later views and
other workers serve the stored picture; erasure deletes it with the document. A document that
cannot be previewed is marked (`preview: "none"`) and answers 404, which the page shows as
"no preview".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from sqlalchemy import select

import bot.keys
from bot.documents.inspection import document_parts, open_parts
from bot.imaging.previews import render_preview
from bot.keys import CLOCK, DATABASE
from bot.web.inbox.actions import audit
from bot.web.inbox.auth import COORDINATOR, requires_login
from storage.files import FileStore
from storage.tables import Case, Document
from storage.unit_of_work import UnitOfWork

__all__ = ["preview_routes"]

log = logging.getLogger(__name__)

MAX_PREVIEW_BYTES = 4 << 20
NO_PREVIEW = "none"

preview_routes = web.RouteTableDef()


def _store(request: web.Request) -> FileStore | None:
    key = getattr(bot.keys, "FILES", None)
    if key is None or key not in request.app:
        return None
    store: FileStore = request.app[key]
    return store


async def _read(store: FileStore, key: str) -> bytes:
    chunks = [chunk async for chunk in store.open(key)]
    return b"".join(chunks)


def _render(store: FileStore, parts: list[dict[str, Any]]) -> bytes | None:
    with open_parts(store, parts) as fh:
        return render_preview(fh)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


@preview_routes.get("/inbox/documents/{document_id}/preview", name="inbox-preview")
@requires_login
async def preview(request: web.Request) -> web.Response:
    """A small PNG of a DICOM document's image (audited as a view of the document)."""
    try:
        document_id = int(request.match_info["document_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    store = _store(request)
    db = request.app[DATABASE]
    async with UnitOfWork(db) as uow:
        document = await uow.session.get(Document, document_id)
        if document is None or store is None or not (document.is_dicom and document.valid):
            raise web.HTTPNotFound()
        case = await uow.session.get(Case, document.case_id)
        audit(uow.session, request[COORDINATOR].id, "preview", request.app[CLOCK](),
              case_id=document.case_id, contact_id=case.contact_id if case else None,
              document_id=document_id)
        info = dict(document.inspection or {})
        parts = await document_parts(uow.session, document)
        await uow.commit()
    if info.get("preview") == NO_PREVIEW:
        raise web.HTTPNotFound(text="No preview.")
    key = info.get("preview_key")
    if isinstance(key, str) and key:
        try:
            return _png(await _read(store, key))
        except Exception as error:  # the store's own errors: missing, corrupted
            log.warning("preview unavailable", extra={"case_id": document.case_id,
                                                      "error": type(error).__name__})
    png = await asyncio.to_thread(_render, store, parts) if parts else None
    await _remember(request, store, document_id, png)
    if png is None:
        raise web.HTTPNotFound(text="No preview.")
    return _png(png)


async def _remember(
    request: web.Request, store: FileStore, document_id: int, png: bytes | None
) -> None:
    """Keep the picture (or that there is none) with the document; one key wins a race."""
    stored = await store.put(_chunks(png), max_size=MAX_PREVIEW_BYTES) if png else None
    orphan = None
    async with UnitOfWork(request.app[DATABASE]) as uow:
        document = (await uow.session.execute(
            select(Document).where(Document.id == document_id).with_for_update()
        )).scalar_one_or_none()
        if document is None:
            orphan = stored.key if stored else None
        else:
            info = dict(document.inspection or {})
            if stored is None:
                info["preview"] = NO_PREVIEW
            elif info.get("preview_key"):
                orphan = stored.key  # another request stored it first
            else:
                info["preview_key"] = stored.key
            document.inspection = info
            await uow.commit()
    if orphan:
        await store.delete(orphan)


def _png(data: bytes) -> web.Response:
    return web.Response(body=data, content_type="image/png",
                        headers={"Cache-Control": "private, no-store",
                                 "X-Content-Type-Options": "nosniff"})
