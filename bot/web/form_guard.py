"""The inbox's forms, read once and strictly before any of its handlers sees them.

The inbox reads its small form-encoded posts with `request.post()`, which waits for a body
as long as it trickles in, fails with a 500 on an unknown charset, and hands on a NUL that
PostgreSQL then refuses mid-transaction. aiohttp keeps the parsed form for later calls, so
reading it here first, with a deadline and checks, covers every form of the inbox (sign-in
included) without touching its handlers. Multipart posts (files) stream and are left alone.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.keys import SETTINGS
from bot.web.bodies import FORM_TYPE, UTF8_NAMES, has_unstorable
from bot.web.inbox.language import ui_text
from intake.prompts import N_

GUARDED_PREFIX = "/inbox"
UNREADABLE = N_("This request could not be read. Please try again.")


def _refuse(request: web.Request, status: int) -> web.Response:
    return web.Response(status=status, text=ui_text(request, UNREADABLE),
                        headers={"Cache-Control": "no-store"})


@web.middleware
async def form_guard(
    request: web.Request, handler: web.RequestHandler  # type: ignore[name-defined]
) -> web.StreamResponse:
    """Refuse an inbox form that is slow, undecodable or holds NUL, before its handler."""
    if (request.method == "POST" and request.path.startswith(GUARDED_PREFIX)
            and request.content_type == FORM_TYPE):
        charset = request.charset
        if charset is not None and charset.strip().lower() not in UTF8_NAMES:
            return _refuse(request, 415)
        try:
            async with asyncio.timeout(request.app[SETTINGS].body_read_timeout):
                form = await request.post()
        except TimeoutError:
            return _refuse(request, 408)
        except (UnicodeDecodeError, ValueError):
            return _refuse(request, 400)
        if any(has_unstorable(key) or (isinstance(value, str) and has_unstorable(value))
               for key, value in form.items()):
            return _refuse(request, 400)
    response: web.StreamResponse = await handler(request)
    return response
