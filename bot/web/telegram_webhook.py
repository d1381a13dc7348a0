"""Telegram's webhook: check the secret, store the update durably, answer 200 at once."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiohttp import web
from telegram import Update

from bot.channels.telegram import TELEGRAM, WEBHOOK_PATH
from bot.keys import PROCESSOR, SETTINGS

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

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
        data: Any = await request.json()
    except ValueError:
        return web.Response(status=400)
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
