"""The library of saved replies in the inbox: list, create, edit, retire."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.journey.context import JourneyError
from bot.journey.desks import JOURNEY, JourneyDesks
from bot.journey.saved_replies import PLACEHOLDERS, is_complete, library, title_in
from bot.keys import DATABASE
from bot.web.inbox.auth import COORDINATOR, requires_login
from bot.web.inbox.language import ui_language
from bot.web.inbox.routes import render
from intake.vocabulary import LANGUAGES
from storage.tables import SavedReply
from storage.unit_of_work import UnitOfWork

routes = web.RouteTableDef()


def _journey(request: web.Request) -> JourneyDesks:
    return request.app[JOURNEY]


@routes.get("/inbox/replies", name="inbox-replies")
@requires_login
async def replies_page(request: web.Request) -> web.Response:
    """Every saved reply, whether it can be sent, and the retired ones."""
    lang = ui_language(request)
    async with UnitOfWork(request.app[DATABASE], write=False) as uow:
        replies = await library(uow.session, with_retired=True)
    rows = [{"id": r.id, "title": title_in(r, lang), "complete": is_complete(r.texts),
             "retired": r.retired_at is not None,
             "missing": [code for code in LANGUAGES
                         if not (r.texts.get(code, {}).get("title")
                                 and r.texts.get(code, {}).get("body"))]}
            for r in replies]
    return render(request, "inbox/replies.html", nav="replies", rows=rows,
                  done=request.query.get("done"))


def _form_page(request: web.Request, reply_id: int | None, texts: dict[str, Any], *,
               status: int = 200, error: str | None = None) -> web.Response:
    return render(request, "inbox/reply_form.html", status=status, nav="replies",
                  reply_id=reply_id, texts=texts, codes=LANGUAGES,
                  placeholders=[f"{{{name}}}" for name in PLACEHOLDERS], error=error)


def _reply_id(request: web.Request) -> int | None:
    raw = request.match_info.get("reply_id")
    if raw is None:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 2**62:
        raise web.HTTPNotFound()
    return int(raw)


@routes.get("/inbox/replies/new", name="inbox-reply-new")
@routes.get("/inbox/replies/{reply_id}", name="inbox-reply-edit")
@requires_login
async def reply_form(request: web.Request) -> web.Response:
    """Write a reply in the six languages (new, or an existing one)."""
    reply_id = _reply_id(request)
    texts: dict[str, Any] = {}
    if reply_id is not None:
        async with UnitOfWork(request.app[DATABASE], write=False) as uow:
            reply = await uow.session.get(SavedReply, reply_id)
        if reply is None or reply.retired_at is not None:
            raise web.HTTPNotFound()
        texts = dict(reply.texts)
    return _form_page(request, reply_id, texts)


@routes.post("/inbox/replies/new")
@routes.post("/inbox/replies/{reply_id}")
@requires_login
async def save_reply(request: web.Request) -> web.Response:
    """Save the six languages; a reply with a language missing is kept but not sendable."""
    reply_id = _reply_id(request)
    form = await request.post()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        saved = await _journey(request).replies.save(request[COORDINATOR].id, reply_id, fields)
    except JourneyError as error:
        if error.code == "not_found":
            raise web.HTTPNotFound() from None
        texts = {code: {"title": fields.get(f"title_{code}", ""),
                        "body": fields.get(f"body_{code}", "")} for code in LANGUAGES}
        return _form_page(request, reply_id, texts, status=400, error=error.code)
    raise web.HTTPSeeOther(f"/inbox/replies?done=saved#reply-{saved}")


@routes.post("/inbox/replies/{reply_id}/retire", name="inbox-reply-retire")
@requires_login
async def retire_reply(request: web.Request) -> web.Response:
    """Take a reply out of use."""
    reply_id = _reply_id(request)
    assert reply_id is not None
    try:
        await _journey(request).replies.retire(request[COORDINATOR].id, reply_id)
    except JourneyError:
        raise web.HTTPNotFound() from None
    raise web.HTTPSeeOther("/inbox/replies?done=retired")
