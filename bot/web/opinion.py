"""The family's (or the treating doctor's) opinion page: one button, the PDF, every download
audited; and the video consultation's calendar file.

Opening the page counts nothing: messaging apps fetch links to draw previews. Only the
button (a POST) downloads and is counted. When the case has the patient's date of birth, the
button asks for it (a second factor for a forwarded link). Wrong dates are throttled per link
and client address, so someone else's guesses never lock the family out.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import date, timedelta

from aiohttp import web

from bot.access.client_address import request_address
from bot.access.throttle import Throttle
from bot.documents.links import LinkProblem
from bot.documents.uploads import FILES
from bot.i18n.negotiate import from_accept_language
from bot.journey.desks import JOURNEY
from bot.journey.opinion_links import Audience, resolve
from bot.journey.video import booking_for_token, calendar_file
from bot.keys import CATALOGS, CLOCK, DATABASE, JINJA, RENDERER
from bot.web.templating import render_page
from intake.prompts import N_, Text
from storage.tables import Case, Contact, Opinion
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

WRONG_DATES = 5
WRONG_WINDOW = timedelta(minutes=15)
ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
DAY_FIRST = re.compile(r"(\d{1,2})[./\- ](\d{1,2})[./\- ](\d{4})")

routes = web.RouteTableDef()

_PROBLEMS = {
    LinkProblem.UNKNOWN: N_("This link is not valid. Please check that you copied all of it."),
    LinkProblem.EXPIRED: N_("This link has expired. Write \u201cnew link\u201d in the chat to "
                            "get a new one."),
    LinkProblem.REVOKED: N_("This link no longer works: a newer one was sent to you in the "
                            "chat."),
}


def parse_birth_date(text: str) -> date | None:
    """A date typed as day/month/year (also with dots or dashes) or as ISO year-month-day."""
    text = text.strip()
    iso, day_first = ISO.fullmatch(text), DAY_FIRST.fullmatch(text)
    try:
        if iso:
            return date(int(iso[1]), int(iso[2]), int(iso[3]))
        if day_first:
            return date(int(day_first[3]), int(day_first[2]), int(day_first[1]))
    except ValueError:
        return None
    return None


def _page(request: web.Request, lang: str, template: str, status: int = 200,
          **context: object) -> web.Response:
    html = render_page(request.app[JINJA], request.app[CATALOGS], template, lang,
                       static_url="/static", **context)
    return web.Response(text=html, content_type="text/html", status=status,
                        headers={"Cache-Control": "no-store"})


def _problem(request: web.Request, problem: LinkProblem) -> web.Response:
    lang = from_accept_language(request.headers.get("Accept-Language")) or "en"
    message = request.app[RENDERER].text(Text(_PROBLEMS[problem]), lang)
    return _page(request, lang, "opinion_error.html",
                 404 if problem is LinkProblem.UNKNOWN else 410, message=message)


async def _open(request: web.Request) -> tuple[Case, str] | web.Response:
    """The case a token opens and the page's language, or the page saying why not."""
    async with UnitOfWork(request.app[DATABASE], write=False) as uow:
        found = await resolve(uow.session, request.match_info["token"], request.app[CLOCK]())
        if isinstance(found, LinkProblem):
            return _problem(request, found)
        case = await uow.session.get(Case, found.case_id)
        contact = await uow.session.get(Contact, case.contact_id) if case and case.contact_id \
            else None
    if case is None or case.status == "erased":
        return _problem(request, LinkProblem.REVOKED)
    if found.audience == Audience.DOCTOR:
        lang = str((case.answers or {}).get("report_language") or case.language)
    else:
        lang = (contact.locale if contact is not None else None) or case.language
    return case, request.app[CATALOGS].resolve(lang)


def _birth_date(case: Case) -> date | None:
    value = (case.answers or {}).get("patient_birth_date")
    return parse_birth_date(value) if isinstance(value, str) else None


@routes.get("/opinion/{token}")
async def opinion_page(request: web.Request) -> web.Response:
    """The page with the download button, in the family's language (right to left for
    Arabic)."""
    opened = await _open(request)
    if isinstance(opened, web.Response):
        return opened
    case, lang = opened
    return _page(request, lang, "opinion.html", reference=case.reference,
                 ask_birth_date=_birth_date(case) is not None, error=None)


@routes.post("/opinion/{token}")
async def opinion_download(request: web.Request) -> web.StreamResponse:
    """Check the date of birth if asked, record the download, stream the PDF."""
    opened = await _open(request)
    if isinstance(opened, web.Response):
        return opened
    case, lang = opened
    token = request.match_info["token"]
    expected = _birth_date(case)
    if expected is not None:
        throttle, now = Throttle(request.app[DATABASE]), request.app[CLOCK]()
        name = f"opinion-birth-date:{token}:{request_address(request)}"
        if await throttle.peek(name, WRONG_WINDOW, now) >= WRONG_DATES:
            response = _page(request, lang, "opinion.html", 429, reference=case.reference,
                             ask_birth_date=True, error="throttled")
            response.headers["Retry-After"] = str(int(WRONG_WINDOW.total_seconds()))
            return response
        form = await request.post()
        typed = form.get("birth_date")
        if not isinstance(typed, str) or parse_birth_date(typed[:40]) != expected:
            await throttle.hit(name, WRONG_WINDOW, now)
            return _page(request, lang, "opinion.html", 400, reference=case.reference,
                         ask_birth_date=True, error="wrong_date")
    found = await request.app[JOURNEY].opinions.open_download(token)
    if isinstance(found, LinkProblem):
        return _problem(request, found)
    opinion, _link = found
    return await _stream(request, opinion, case.reference)


async def _stream(request: web.Request, opinion: Opinion, reference: str) -> web.StreamResponse:
    store = request.app[FILES]

    chunks: AsyncIterator[bytes] = store.open(opinion.storage_key)
    try:
        first = await anext(chunks, b"")
    except Exception as error:  # the store's own errors: missing, corrupted
        log.warning("opinion unavailable", extra={"case_id": opinion.case_id,
                                                  "error": type(error).__name__})
        raise web.HTTPNotFound() from None
    response = web.StreamResponse(headers={
        "Content-Type": "application/pdf",
        "Content-Disposition": f'attachment; filename="opinion-{reference}.pdf"',
        "Content-Length": str(opinion.size),
        "Cache-Control": "no-store",
    })
    await response.prepare(request)
    await response.write(first)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


@routes.get("/consultation/{token}.ics")
async def consultation_calendar(request: web.Request) -> web.Response:
    """The booked video consultation as a calendar file (its own capability link)."""
    async with UnitOfWork(request.app[DATABASE], write=False) as uow:
        booking = await booking_for_token(uow.session, request.match_info["token"])
        case = await uow.session.get(Case, booking.case_id) if booking else None
        contact = await uow.session.get(Contact, case.contact_id) if case and case.contact_id \
            else None
    if booking is None or case is None:
        return _problem(request, LinkProblem.REVOKED)
    lang = request.app[CATALOGS].resolve((contact.locale if contact else None) or case.language)
    summary = request.app[RENDERER].text(Text.of(
        "Video consultation — request {reference}", reference=case.reference), lang)
    return web.Response(body=calendar_file(booking, summary), headers={
        "Content-Type": "text/calendar; charset=utf-8",
        "Content-Disposition": f'attachment; filename="consultation-{case.reference}.ics"',
        "Cache-Control": "no-store",
    })


def setup(app: web.Application) -> None:
    """Register the opinion page (the services come with the inbox's setup)."""
    app.router.add_routes(routes)
