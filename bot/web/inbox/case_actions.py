"""The inbox's page for a case's second half: quote, written opinion, treating doctor, saved
replies. Forms post back and redirect (post/redirect/get), or re-render with the error."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, web
from sqlalchemy import func, select

from bot.documents.uploads import FILES
from bot.journey.context import JourneyError
from bot.journey.desks import JOURNEY, JourneyDesks
from bot.journey.doctor import DoctorMail
from bot.journey.opinions import OpinionDesk
from bot.journey.quotes import QuoteDesk
from bot.journey.saved_replies import SavedReplies, is_complete, library, title_in
from bot.journey.summary import journey
from bot.journey.video import MINUTES, VideoDesk, country_zone
from bot.keys import CHANNELS, CLOCK, DATABASE, DISPATCHER, RENDERER, SETTINGS
from bot.messaging.replies import ReplyWriter
from bot.web.inbox.auth import (
    COORDINATOR,
    CSRF_FIELD,
    SESSION,
    SIGNER,
    SessionSigner,
    current_session,
    requires_login,
)
from bot.web.inbox.language import ui_language, ui_text
from bot.web.inbox.routes import ACTIONS, render
from bot.web.inbox.saved_replies import routes as library_routes
from intake.pricing import PricedService, default_table
from intake.prompts import N_
from storage.files import FileTooLarge
from storage.tables import Case, Contact, ConversationRow
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

PDF_MAGIC = b"%PDF-"
SMALL_FIELD = 4096


routes = web.RouteTableDef()


def _int(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 2**62:
        raise web.HTTPNotFound()
    return int(value)


async def _page(request: web.Request, contact_id: int, *, status: int = 200,
                error: str | None = None) -> web.Response:
    if await request.app[ACTIONS].opened(request[COORDINATOR].id, contact_id) is None:
        raise web.HTTPNotFound(text=ui_text(request, N_("No such conversation.")))
    async with UnitOfWork(request.app[DATABASE], write=False) as uow:
        contact = await uow.session.get(Contact, contact_id)
        case = await _case_of(uow, contact_id)
        if contact is None or case is None:
            raise web.HTTPNotFound(text=ui_text(request, N_("No such conversation.")))
        summary = await journey(uow.session, case)
        replies = await library(uow.session)
    table = default_table()
    lang = ui_language(request)
    renderer = request.app[RENDERER]
    services = [{"key": r.service_key.value, "label": renderer.text(r.label, lang),
                 "range": renderer.price_range(r.low, r.high, r.currency, lang)}
                for r in (table.price(key) for key in PricedService)]
    return render(
        request, "inbox/journey.html", status=status, page=f"/inbox/c/{contact_id}/case",
        nav="list", contact=contact, case=case, journey=summary, services=services,
        saved=[{"id": r.id, "title": title_in(r, lang),
                "complete": is_complete(r.texts)} for r in replies],
        mail_on=request.app[JOURNEY].doctor.enabled,
        video_minutes=MINUTES, country_zone=country_zone(case),
        service_names={service["key"]: service["label"] for service in services},
        money=lambda amount, currency: renderer.money(amount, currency, lang),
        quote_required=request.app[SETTINGS].quote_required,
        error=error, done=request.query.get("done") if status == 200 else None,
    )


async def _case_of(uow: UnitOfWork, contact_id: int) -> Case | None:
    row = await uow.session.get(ConversationRow, contact_id)
    case_id = row.case_id if row is not None else None
    if case_id is None:
        case_id = await uow.session.scalar(
            select(func.max(Case.id)).where(Case.contact_id == contact_id))
    return await uow.session.get(Case, case_id) if case_id is not None else None


@routes.get("/inbox/c/{contact_id}/case", name="inbox-journey")
@requires_login
async def journey_page(request: web.Request) -> web.Response:
    """The case's quote, opinion, doctor e-mails and saved replies (viewing is audited)."""
    return await _page(request, _int(request.match_info["contact_id"]))


Step = Callable[[JourneyDesks, int, int, Any], Awaitable[object]]


async def _act(request: web.Request, done: str, step: Step) -> web.Response:
    contact_id = _int(request.match_info["contact_id"])
    form = await request.post()
    try:
        await step(request.app[JOURNEY], request[COORDINATOR].id, contact_id, form)
    except JourneyError as error:
        if error.code == "not_found":
            raise web.HTTPNotFound() from None
        return await _page(request, contact_id, status=400, error=error.code)
    raise web.HTTPSeeOther(f"/inbox/c/{contact_id}/case?done={done}")


def _field(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


@routes.post("/inbox/c/{contact_id}/quote", name="inbox-quote")
@requires_login
async def send_quote(request: web.Request) -> web.Response:
    """Send the confirmed service and amount; the family answers with a button."""
    return await _act(request, "quote", lambda desks, who, contact, form: desks.quotes.send(
        who, contact, _field(form, "service"), _field(form, "amount"), _field(form, "reason")))


@routes.post("/inbox/c/{contact_id}/paid-elsewhere", name="inbox-paid-elsewhere")
@requires_login
async def paid_elsewhere(request: web.Request) -> web.Response:
    """The case is paid elsewhere: the review needs no accepted quote (or undo it)."""
    return await _act(request, "paid_elsewhere", lambda desks, who, contact, form:
                      desks.quotes.paid_elsewhere(who, contact, _field(form, "paid") == "yes"))


@routes.post("/inbox/c/{contact_id}/opinion/link", name="inbox-opinion-link")
@requires_login
async def reissue_link(request: web.Request) -> web.Response:
    """Send the family a fresh opinion link (the previous one stops working)."""
    return await _act(request, "opinion_link",
                      lambda desks, who, contact, form: desks.opinions.reissue(who, contact))


@routes.post("/inbox/c/{contact_id}/doctor/address", name="inbox-doctor-address")
@requires_login
async def doctor_address(request: web.Request) -> web.Response:
    """Add or correct the treating doctor's e-mail address."""
    return await _act(request, "doctor_address", lambda desks, who, contact, form:
                      desks.doctor.set_address(who, contact, _field(form, "email")))


@routes.post("/inbox/c/{contact_id}/doctor/send", name="inbox-doctor-send")
@requires_login
async def doctor_send(request: web.Request) -> web.Response:
    """E-mail the opinion's secure link to the treating doctor now."""
    return await _act(request, "doctor_queued", lambda desks, who, contact, form:
                      desks.doctor.send_opinion_now(who, contact))


@routes.post("/inbox/c/{contact_id}/video", name="inbox-video")
@requires_login
async def book_video(request: web.Request) -> web.Response:
    """Book or move the video consultation (Brussels time) and tell the family."""
    return await _act(request, "video", lambda desks, who, contact, form: desks.video.book(
        who, contact, _field(form, "starts"), _field(form, "minutes"), _field(form, "zone"),
        _field(form, "join_url")))


@routes.post("/inbox/c/{contact_id}/video/cancel", name="inbox-video-cancel")
@requires_login
async def cancel_video(request: web.Request) -> web.Response:
    """Cancel the booked video consultation."""
    return await _act(request, "video_cancelled", lambda desks, who, contact, form:
                      desks.video.cancel(who, contact))


@routes.post("/inbox/c/{contact_id}/saved-reply", name="inbox-saved-reply")
@requires_login
async def send_saved_reply(request: web.Request) -> web.Response:
    """Send a saved reply in the family's language."""
    async def step(desks: JourneyDesks, who: int, contact: int, form: Any) -> object:
        reply = _field(form, "reply")
        if not reply.isdigit():
            raise JourneyError("reply_missing")
        return await desks.replies.send(who, contact, int(reply))

    return await _act(request, "saved_reply", step)


# -- the opinion's PDF, streamed ----------------------------------------------------------------


async def _small(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(1024):
        data += chunk
        if len(data) > SMALL_FIELD:
            raise web.HTTPRequestEntityTooLarge(max_size=SMALL_FIELD, actual_size=len(data))
    return data.decode("utf-8", "replace")


async def _pdf_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    head = b""
    while chunk := await part.read_chunk(256 * 1024):
        if len(head) < len(PDF_MAGIC):
            head += chunk[: len(PDF_MAGIC)]
            if len(head) >= len(PDF_MAGIC) and not head.startswith(PDF_MAGIC):
                raise JourneyError("opinion_not_pdf")
        yield chunk
    if not head.startswith(PDF_MAGIC):
        raise JourneyError("opinion_not_pdf")


@routes.post("/inbox/c/{contact_id}/opinion", name="inbox-opinion")
async def upload_opinion(request: web.Request) -> web.Response:
    """Store the signed PDF encrypted, move the case, send the family its link.

    `requires_login` reads the whole form with `request.post()` (1 MiB cap), so this route
    checks the same session and CSRF token itself, while streaming: the token must come
    before the file, so that nothing is stored for a forged request.
    """
    found = await current_session(request)
    if found is None:
        raise web.HTTPForbidden(text=ui_text(request, N_("Please sign in again.")))
    session, coordinator = found
    request[SESSION], request[COORDINATOR] = session, coordinator
    contact_id = _int(request.match_info["contact_id"])
    expected = request.app[SIGNER].csrf_token(session.token)
    store, desks = request.app[FILES], request.app[JOURNEY]
    max_size = request.app[SETTINGS].opinion_max_mb * 1024 * 1024
    csrf_ok, note, stored = False, "", None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise web.HTTPBadRequest()
            if part.name == CSRF_FIELD:
                csrf_ok = SessionSigner.matches(expected, await _small(part))
            elif not csrf_ok:
                raise web.HTTPForbidden(
                    text=ui_text(request, N_("This form has expired. Please reload the page.")))
            elif part.name == "note":
                note = await _small(part)
            elif part.name == "file" and stored is None:
                stored = await store.put(_pdf_chunks(part), max_size=max_size)
            else:
                await part.release()
        if not csrf_ok:
            raise web.HTTPForbidden(
                text=ui_text(request, N_("This form has expired. Please reload the page.")))
        if stored is None or stored.size == 0:
            raise JourneyError("opinion_missing")
        await desks.opinions.deliver(coordinator.id, contact_id, stored, note)
    except FileTooLarge:
        return await _page(request, contact_id, status=413, error="opinion_too_large")
    except JourneyError as error:
        if stored is not None:
            await store.delete(stored.key)
        if error.code == "not_found":
            raise web.HTTPNotFound() from None
        return await _page(request, contact_id, status=400, error=error.code)
    raise web.HTTPSeeOther(f"/inbox/c/{contact_id}/case?done=opinion")


# -- wiring ---------------------------------------------------------------------------------------


async def _journey_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, renderer, clock, db = app[SETTINGS], app[RENDERER], app[CLOCK], app[DATABASE]

    def wake() -> None:
        dispatcher = app.get(DISPATCHER)
        if dispatcher is not None:
            dispatcher.wake()

    writer = ReplyWriter(renderer, app[CHANNELS])
    doctor = DoctorMail(db, renderer, clock, settings.base_url, settings.smtp_url,
                        settings.smtp_from, settings.mail_poll_seconds)
    app[JOURNEY] = JourneyDesks(
        quotes=QuoteDesk(db, writer, renderer, clock, wake),
        opinions=OpinionDesk(db, writer, doctor, clock, settings.base_url, wake),
        doctor=doctor,
        replies=SavedReplies(db, writer, renderer, clock, settings.timezone, wake),
        video=VideoDesk(db, writer, renderer, clock, settings.base_url, wake),
    )
    task = asyncio.create_task(doctor.run(), name="doctor-mail") if doctor.enabled else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def setup_case_actions(app: web.Application) -> None:
    """Register the routes and the services (after the database and the file store)."""
    app.router.add_routes(routes)
    app.router.add_routes(library_routes)
    app.cleanup_ctx.append(_journey_ctx)
