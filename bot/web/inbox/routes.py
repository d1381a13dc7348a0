"""The inbox's pages and form actions: sign-in, the shared list, a conversation, the audit log.

Every page is server-rendered and works without JavaScript; forms post back and redirect
(post/redirect/get), or re-render with a clear error. Every view of a conversation, download
and change writes an audit entry through `InboxActions`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

import bot.keys
from bot.access.client_address import request_address
from bot.access.coordinators import check_sign_in
from bot.access.inbox_sessions import EndReason
from bot.documents.content_types import download_headers
from bot.documents.inspection import document_keys
from bot.documents.kinds import SNIFF_BYTES
from bot.journey.summary import journey
from bot.keys import CATALOGS, CLOCK, DATABASE, JINJA, RENDERER, SETTINGS
from bot.operations.metrics import metrics
from bot.web.inbox import access
from bot.web.inbox.actions import ActionError, InboxActions
from bot.web.inbox.auth import (
    COORDINATOR,
    CSRF_FIELD,
    LOGIN_COOKIE,
    LOGIN_FORM_LIFETIME,
    REFRESH_HEADER,
    SESSION,
    SESSIONS,
    SIGNER,
    THROTTLE,
    SessionSigner,
    clear_session_cookie,
    current_session,
    is_secure,
    requires_login,
    safe_next,
    set_session_cookie,
)
from bot.web.inbox.language import Formats, remember_language, ui_language, ui_text
from bot.web.inbox.present import Presenter
from bot.web.templating import render_page
from intake.prompts import N_
from intake.questionnaire import LANGUAGE_NAMES
from storage import views
from storage.tables import Case
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

ACTIONS = web.AppKey("inbox_actions", InboxActions)
MAX_EMAIL = 255
MAX_PASSWORD = 1024

routes = web.RouteTableDef()


def _int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise web.HTTPNotFound() from None
    if not 0 < number < 2**62:
        raise web.HTTPNotFound()
    return number


def _language_links(request: web.Request, path: str) -> list[dict[str, Any]]:
    """Links to this same page in each interface language."""
    current = ui_language(request)
    links = []
    for code in request.app[CATALOGS].languages:
        query = {k: v for k, v in request.query.items() if k not in ("lang", "done", "error")}
        query["lang"] = code
        links.append({"code": code, "name": LANGUAGE_NAMES.get(code, code),
                      "href": f"{path}?{urlencode(query)}", "current": code == current})
    return links


def render(
    request: web.Request, template: str, *, status: int = 200, page: str | None = None,
    **context: Any,
) -> web.Response:
    """An inbox page in the coordinator's language, with what every page needs."""
    lang = ui_language(request)
    now = request.app[CLOCK]()
    formats = Formats(lang, request.app[SETTINGS].timezone, now)
    session = request.get(SESSION)
    html = render_page(
        request.app[JINJA], request.app[CATALOGS], template, lang,
        static_url="/static", fmt=formats,
        present=Presenter(request.app[RENDERER], lang, formats),
        me=request.get(COORDINATOR),
        csrf=request.app[SIGNER].csrf_token(session.token) if session else "",
        csrf_field=CSRF_FIELD, languages=_language_links(request, page or request.path),
        ui_lang=lang,
        language_names=LANGUAGE_NAMES, **context,
    )
    response = web.Response(text=html, content_type="text/html", status=status)
    response.headers["Cache-Control"] = "no-store"
    remember_language(request, response)
    return response


# -- signing in -------------------------------------------------------------------------------


def _login_nonce(request: web.Request) -> str | None:
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    return nonce if 16 <= len(nonce) <= 64 else None


def _login_page(
    request: web.Request, nonce: str, *, status: int = 200, error: str | None = None,
    email: str = "",
) -> web.Response:
    response = render(
        request, "inbox/login.html", status=status, nav="login", error=error, email=email,
        login_csrf=request.app[SIGNER].login_token(nonce),
        next=safe_next(request.query.get("next")),
    )
    if request.cookies.get(LOGIN_COOKIE) != nonce:
        response.set_cookie(
            LOGIN_COOKIE, nonce, max_age=int(LOGIN_FORM_LIFETIME.total_seconds()),
            path="/inbox/login", httponly=True, samesite="Strict", secure=is_secure(request.app),
        )
    return response


@routes.get("/inbox/login", name="inbox-login")
async def login_form(request: web.Request) -> web.Response:
    """The sign-in form (a signed-in coordinator goes straight on)."""
    if await current_session(request) is not None:
        raise web.HTTPFound(safe_next(request.query.get("next")))
    return _login_page(request, _login_nonce(request) or secrets.token_urlsafe(24))


@routes.post("/inbox/login")
async def login(request: web.Request) -> web.Response:
    """Check the credentials; one generic message for every failure, slowed down on repeats."""
    form = await request.post()
    nonce = _login_nonce(request)
    submitted = form.get(CSRF_FIELD)
    if nonce is None or not isinstance(submitted, str) or not SessionSigner.matches(
        request.app[SIGNER].login_token(nonce), submitted
    ):
        raise web.HTTPForbidden(
            text=ui_text(request, N_("This form has expired. Please reload the page."))
        )
    email = str(form.get("email", ""))[:MAX_EMAIL].strip()
    password = str(form.get("password", ""))[:MAX_PASSWORD]
    limits, database, now = request.app[THROTTLE], request.app[DATABASE], request.app[CLOCK]()
    address = request_address(request)
    wait = await limits.wait(email, address, now)
    if wait > 0:
        # Refused before any check, so not audited: a flood of these cannot flood the log.
        metrics().sign_ins.labels("throttled").inc()
        response = _login_page(request, nonce, status=429, error="throttled", email=email)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    account_id, coordinator = None, None
    if email and password:
        async with UnitOfWork(database, write=False) as uow:
            checked = await check_sign_in(uow.session, email, password)
        account_id, coordinator = checked.account_id, checked.coordinator
    address_hash = request.app[SIGNER].address_hash(address)
    if coordinator is None:
        await limits.failed(email, address, now)
        await access.sign_in_failed(database, account_id, address_hash, now)
        log.warning("inbox sign-in refused")
        metrics().sign_ins.labels("refused").inc()
        return _login_page(request, nonce, status=401, error="refused", email=email)
    await limits.succeeded(email, address)
    metrics().sign_ins.labels("ok").inc()
    token = await request.app[SESSIONS].start(coordinator.id, now)
    await access.record(database, coordinator.id, "login", now, address=address_hash)
    target = safe_next(request.query.get("next") or str(form.get("next", "")))
    response = web.HTTPSeeOther(target)
    set_session_cookie(response, request.app, token)
    response.del_cookie(LOGIN_COOKIE, path="/inbox/login")
    raise response


@routes.post("/inbox/logout", name="inbox-logout")
@requires_login
async def logout(request: web.Request) -> web.Response:
    """Sign out of this browser: the session ends on the server, its cookie is worthless."""
    now = request.app[CLOCK]()
    await request.app[SESSIONS].end(request[SESSION].token, now, EndReason.LOGOUT)
    await access.record(request.app[DATABASE], request[COORDINATOR].id, "logout", now)
    response = web.HTTPSeeOther("/inbox/login")
    clear_session_cookie(response)
    raise response


@routes.post("/inbox/logout/everywhere", name="inbox-logout-everywhere")
@requires_login
async def logout_everywhere(request: web.Request) -> web.Response:
    """End every session of this coordinator, on every device (a lost laptop, a shared PC)."""
    now = request.app[CLOCK]()
    me = request[COORDINATOR].id
    ended = await request.app[SESSIONS].end_all(me, now, EndReason.LOGOUT_ALL)
    await access.record(request.app[DATABASE], me, "logout_all", now, sessions_ended=ended)
    response = web.HTTPSeeOther("/inbox/login")
    clear_session_cookie(response)
    raise response


# -- the list ---------------------------------------------------------------------------------


@routes.get("/inbox", name="inbox")
@requires_login
async def inbox(request: web.Request) -> web.Response:
    """The shared list of conversations, filtered and sorted."""
    try:
        show = views.InboxFilter(request.query.get("show", views.InboxFilter.ATTENTION))
        sort = views.InboxSort(request.query.get("sort", views.InboxSort.URGENCY))
    except ValueError:
        raise web.HTTPFound("/inbox") from None
    me = request[COORDINATOR]
    after = request.query.get("after")
    async with UnitOfWork(request.app[DATABASE], write=False) as uow:
        page = await views.inbox_page(uow.session, show=show, sort=sort, coordinator_id=me.id,
                                      after=views.Cursor.parse(after))
        counts = await views.inbox_counts(uow.session, coordinator_id=me.id)
    await access.list_viewed(
        request.app[DATABASE], me.id, show.value, [row.contact_id for row in page.rows],
        request.app[CLOCK](), refresh=request.headers.get(REFRESH_HEADER) == "1",
    )
    return render(request, "inbox/list.html", nav="list", rows=page.rows, counts=counts,
                  show=show.value, sort=sort.value, paged=bool(after),
                  next=str(page.next) if page.next else None)


# -- one conversation -------------------------------------------------------------------------


async def _conversation_page(
    request: web.Request, contact_id: int, *, status: int = 200, error: str | None = None,
    draft: str = "",
) -> web.Response:
    unread = await request.app[ACTIONS].opened(request[COORDINATOR].id, contact_id)
    if unread is None:
        raise web.HTTPNotFound(text=ui_text(request, N_("No such conversation.")))
    async with UnitOfWork(request.app[DATABASE], write=False) as uow:
        detail = await views.conversation_detail(uow.session, contact_id)
        if detail is None:
            raise web.HTTPNotFound(text=ui_text(request, N_("No such conversation.")))
        ids = [int(a.split(":", 1)[1]) for a in {h.actor for h in detail.history}
               if a.startswith("coordinator:") and a.split(":", 1)[1].isdigit()]
        names = await views.coordinator_names(uow.session, ids)
        case_row = await uow.session.get(Case, detail.case.id) if detail.case else None
        steps = await journey(uow.session, case_row) if case_row is not None else None
        paid_elsewhere = case_row is not None and case_row.paid_elsewhere_at is not None
    done = request.query.get("done") if status == 200 else None
    return render(
        request, "inbox/conversation.html", status=status, page=f"/inbox/c/{contact_id}",
        nav="list", detail=detail,
        error=error, done=done, draft=draft, new_from=_first_unread(detail, unread),
        actor_names={f"coordinator:{cid}": name for cid, name in names.items()},
        max_text=_max_text(request, detail.contact.channel),
        has_store=_file_store(request) is not None,
        journey=steps, paid_elsewhere=paid_elsewhere,
    )


def _first_unread(detail: views.ConversationDetail, unread: int) -> int | None:
    """The id of the first family message the coordinator had not seen yet."""
    remaining = unread
    first = None
    for line in reversed(detail.transcript):
        if remaining <= 0:
            break
        if line.direction == "in":
            first = line.id
            remaining -= 1
    return first


def _max_text(request: web.Request, channel: str) -> int:
    found = request.app[bot.keys.CHANNELS].get(channel)
    return int(getattr(found, "max_text_length", 1600))


@routes.get("/inbox/c/{contact_id}", name="inbox-conversation")
@requires_login
async def conversation(request: web.Request) -> web.Response:
    """The conversation, the case and its actions; opening it marks it read (audited)."""
    return await _conversation_page(request, _int(request.match_info["contact_id"]))


async def _act(request: web.Request, done: str, action: Any) -> web.Response:
    """Run an action; success redirects back with a notice, failure re-renders with the error."""
    contact_id = _int(request.match_info["contact_id"])
    form = await request.post()
    try:
        await action(request[COORDINATOR].id, contact_id, form)
    except ActionError as error:
        if error.code == "not_found":
            raise web.HTTPNotFound() from None
        status = 409 if error.code in ("stale_status", "invalid_transition") else 400
        draft = str(form.get("text", "")) if done == "reply" else ""
        return await _conversation_page(request, contact_id, status=status, error=error.code,
                                        draft=draft)
    raise web.HTTPSeeOther(f"/inbox/c/{contact_id}?done={quote(done)}")


@routes.post("/inbox/c/{contact_id}/reply", name="inbox-reply")
@requires_login
async def reply(request: web.Request) -> web.Response:
    """Send a message to the family through its own channel."""
    actions = request.app[ACTIONS]

    async def run(coordinator_id: int, contact_id: int, form: Any) -> None:
        await actions.reply(coordinator_id, contact_id, str(form.get("text", "")))

    return await _act(request, "reply", run)


@routes.post("/inbox/c/{contact_id}/assign", name="inbox-assign")
@requires_login
async def assign(request: web.Request) -> web.Response:
    """Assign the case to me, or release it."""
    actions = request.app[ACTIONS]
    to_me = (await request.post()).get("to") == "me"

    async def run(coordinator_id: int, contact_id: int, form: Any) -> None:
        await actions.assign(coordinator_id, contact_id, to_me=to_me)

    return await _act(request, "assigned" if to_me else "unassigned", run)


@routes.post("/inbox/c/{contact_id}/status", name="inbox-status")
@requires_login
async def change_status(request: web.Request) -> web.Response:
    """Move the case to a status the status machine allows."""
    actions = request.app[ACTIONS]

    async def run(coordinator_id: int, contact_id: int, form: Any) -> None:
        expected = form.get("from")
        await actions.change_status(
            coordinator_id, contact_id, str(form.get("status", "")),
            expected=str(expected) if expected else None,
            tell_family=form.get("tell_family") == "yes",
        )

    return await _act(request, "status", run)


@routes.post("/inbox/c/{contact_id}/takeover", name="inbox-takeover")
@requires_login
async def take_over(request: web.Request) -> web.Response:
    """A coordinator answers personally; the bot stays silent."""
    actions = request.app[ACTIONS]

    async def run(coordinator_id: int, contact_id: int, form: Any) -> None:
        await actions.take_over(coordinator_id, contact_id)

    return await _act(request, "taken_over", run)


@routes.post("/inbox/c/{contact_id}/handback", name="inbox-handback")
@requires_login
async def hand_back(request: web.Request) -> web.Response:
    """The bot resumes and asks its current question again."""
    actions = request.app[ACTIONS]

    async def run(coordinator_id: int, contact_id: int, form: Any) -> None:
        await actions.hand_back(coordinator_id, contact_id)

    return await _act(request, "handed_back", run)


@routes.post("/inbox/c/{contact_id}/handled", name="inbox-handled")
@requires_login
async def mark_handled(request: web.Request) -> web.Response:
    """Clear the "needs a person" flag once a coordinator has seen to it."""
    actions = request.app[ACTIONS]

    async def run(coordinator_id: int, contact_id: int, form: Any) -> None:
        await actions.mark_handled(coordinator_id, contact_id)

    return await _act(request, "handled", run)


# -- documents and audit ----------------------------------------------------------------------


def _file_store(request: web.Request) -> Any | None:
    """The file store, once the application provides one under `bot.keys.FILES`."""
    key = getattr(bot.keys, "FILES", None)
    if key is None or key not in request.app:
        return None
    return request.app[key]


@routes.get("/inbox/documents/{document_id}", name="inbox-document")
@requires_login
async def download(request: web.Request) -> web.StreamResponse:
    """Stream a received file to a coordinator (audited before the first byte), typed and
    named by its detected content, never by the family's file name."""
    document_id = _int(request.match_info["document_id"])
    store = _file_store(request)
    if store is None:
        raise web.HTTPNotFound(text="Files are not available on this server.")
    document = await request.app[ACTIONS].download(request[COORDINATOR].id, document_id)
    if document is None:
        raise web.HTTPNotFound()
    async with UnitOfWork(request.app[DATABASE], write=False) as uow:
        keys = await document_keys(uow.session, document)
        case = await uow.session.get(Case, document.case_id)

    async def plaintext() -> AsyncIterator[bytes]:
        for key in keys:  # one object, or the pieces of a resumed upload, in order
            async for chunk in store.open(key):
                yield chunk

    chunks = plaintext()
    first = b""
    try:
        # Enough bytes to type a document stored before type detection.
        while len(first) < SNIFF_BYTES and (chunk := await anext(chunks, b"")):
            first += chunk
    except Exception as error:  # the store's own errors: missing, corrupted
        log.warning("document unavailable", extra={"case_id": document.case_id,
                                                   "error": type(error).__name__})
        raise web.HTTPNotFound(text="This file is not available.") from None
    response = web.StreamResponse(headers=download_headers(
        document.detected_type, first, case.reference if case else None, document.id))
    await response.prepare(request)
    await response.write(first)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


@routes.get("/inbox/audit", name="inbox-audit")
@requires_login
async def audit_log(request: web.Request) -> web.Response:
    """The latest audit entries: who viewed, downloaded or changed what, and when."""
    before = request.query.get("before")
    async with UnitOfWork(request.app[DATABASE], write=False) as uow:
        lines = await views.audit_lines(
            uow.session, before=_int(before) if before else None,
        )
    older = lines[-1].id if len(lines) == views.AUDIT_LIMIT else None
    return render(request, "inbox/audit.html", nav="audit", lines=lines, older=older)

