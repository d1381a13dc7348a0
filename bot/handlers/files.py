"""Files the family sends inside the chat: fetched from the channel, then the upload pipeline.

Each attachment is identified by (inbound event, position): `chat:<event id>:<index>` is
unique on `upload_sessions.source_ref`, so running this again for the same event (a retry, a
restart) neither stores nor announces anything twice.
"""

from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy import select

from bot.channels.base import ChannelError, Inbound
from bot.documents.inspection import display_name
from bot.documents.links import has_live_link, issue_link_for_case
from bot.documents.messages import problem_text, use_upload_link
from bot.documents.sessions import FileMeta
from bot.documents.uploads import UPLOADS, UploadService
from bot.keys import CHANNELS, DATABASE, SETTINGS
from intake.case import CaseStatus
from intake.prompts import Prompt
from storage.files import FileTooLarge
from storage.tables import Case, Contact, InboundEvent
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

TERMINAL = (CaseStatus.CLOSED, CaseStatus.WITHDRAWN, CaseStatus.ERASED)


async def _submitted_case(uow: UnitOfWork, contact_id: int) -> Case | None:
    query = (
        select(Case)
        .where(Case.contact_id == contact_id, Case.submitted_at.is_not(None),
               Case.status.not_in(TERMINAL))
        .order_by(Case.submitted_at.desc(), Case.id.desc())
        .limit(1)
    )
    return (await uow.session.execute(query)).scalar_one_or_none()


async def ingest_chat_files(app: web.Application, contact_id: int, event_id: int) -> int:
    """Store and inspect the attachments of one inbound event; returns how many were new.

    Only for a contact with a submitted case. An attachment the channel cannot hand over
    (Telegram bots cannot download files over 20 MB) gets the family pointed to the upload
    page, with a new link if none is live.
    """
    service: UploadService = app[UPLOADS]
    async with UnitOfWork(app[DATABASE], write=False) as uow:
        event = await uow.session.get(InboundEvent, event_id)
        contact = await uow.session.get(Contact, contact_id)
        case = await _submitted_case(uow, contact_id)
    if event is None or contact is None or case is None or event.contact_id != contact_id:
        return 0
    attachments = Inbound.from_payload(event.payload).attachments
    channel = app[CHANNELS].get(contact.channel)
    batch = f"chat{event_id}"[:32]
    added = 0
    refused: list[FileMeta] = []
    no_space = False
    for index, attachment in enumerate(attachments):
        ref = f"chat:{event_id}:{index}"
        seen = await service.recorded(ref)
        if seen is not None:
            if seen.status == "uploaded":
                await service.complete(seen.id)
            continue
        meta = FileMeta(filename=display_name(attachment.filename or f"file-{index + 1}"),
                        filetype=attachment.content_type, batch=batch)
        if channel is None:
            continue
        if not await service.budgets.disk_allows(attachment.size or 0):
            await service.budgets.alert_disk_low(case.id)
            no_space = await service.record_refusal(case.id, meta, ref) or no_space
            continue
        room = min(service.limits.file_bytes, await service.room(case.id))
        try:
            stored = await service.store.put(channel.fetch(attachment), max_size=room)
        except (ChannelError, FileTooLarge) as error:
            log.info("chat file not fetched", extra={
                "case_id": case.id, "channel": contact.channel,
                "error": type(error).__name__})
            if await service.record_refusal(case.id, meta, ref):
                refused.append(meta)
            continue
        if await service.adopt(case.id, stored, meta, ref) is not None:
            added += 1
    if added:
        await service.finish_batch(case.id)
    if refused:
        await _point_to_upload_page(app, service, contact_id, case.id)
    if no_space:
        await _say(app, service, contact_id, case.id, Prompt(problem_text("no_space")))
    return added


async def _say(
    app: web.Application, service: UploadService, contact_id: int, case_id: int, prompt: Prompt
) -> None:
    async with UnitOfWork(app[DATABASE]) as uow:
        contact = await uow.session.get(Contact, contact_id)
        case = await uow.session.get(Case, case_id)
        if contact is None or case is None:
            return
        await service.writer.queue(uow.session, contact, [prompt], case.language,
                                   service.clock(), case_id=case.id)
        await uow.commit()
    service.on_committed()


async def _point_to_upload_page(
    app: web.Application, service: UploadService, contact_id: int, case_id: int
) -> None:
    now = service.clock()
    async with UnitOfWork(app[DATABASE]) as uow:
        contact = await uow.session.get(Contact, contact_id)
        case = await uow.session.get(Case, case_id)
        if contact is None or case is None:
            return
        url = None
        if not await has_live_link(uow.session, case.id, now):
            url = await issue_link_for_case(uow.session, case, app[SETTINGS].base_url, now)
        await service.writer.queue(uow.session, contact, [Prompt(use_upload_link(url))],
                                   case.language, now, case_id=case.id)
        await uow.commit()
    service.on_committed()
