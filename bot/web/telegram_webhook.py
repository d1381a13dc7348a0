"""Telegram's webhook: check the secret, store the update durably, answer 200 at once."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiohttp import web
from telegram import Update

from bot.channels.telegram import TELEGRAM, WEBHOOK_PATH
from bot.keys import PROCESSOR, SETTINGS
from bot.web.bodies import BodyError, read_json

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1024**2
# Replies quote replies (reply_to_message, external_reply...): deeper than a chat body.
MAX_DEPTH = 64

routes = web.RouteTableDef()


def secret_matches(given: str | None, expected: str | None) -> bool:
    """Compare the webhook secret in constant time; a missing one never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                               expected.encode("utf-8", "surrogateescape"))


@routes.post(WEBHOOK_PATH)
async def telegram_webhook(request: web.Request) -> web.Response:
    """One update from Telegram: refused without the secret, else stored and acknowledged.

    Telegram repeats an update until it gets a 2xx, so anything we will never store
    (edits, channel posts, keyboard toggles) is acknowledged too.
    """
    if not secret_matches(request.headers.get(SECRET_HEADER),
                          request.app[SETTINGS].telegram_webhook_secret):
        return web.Response(status=403)
    try:
        # Text Telegram relays as the user typed it may hold NUL or a lone surrogate, which
        # the database cannot store: cleaned here, since a refusal would be retried forever.
        data: Any = await read_json(request, limit=MAX_UPDATE_BYTES, max_depth=MAX_DEPTH,
                                    timeout=request.app[SETTINGS].body_read_timeout,
                                    clean=True)
    except BodyError as refused:
        return web.Response(status=refused.status)
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return web.Response(status=400)
    channel = request.app[TELEGRAM]
    try:
        update = Update.de_json(data, channel.bot)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        # A shape this PTB version cannot read: acknowledged, or Telegram would hold back
        # every later update of the bot while it retries this one.
        log.warning("telegram update not understood", extra={"error": type(error).__name__})
        return web.Response(status=200)
    await channel.accept(update, request.app[PROCESSOR].receive)
    return web.Response(status=200)
