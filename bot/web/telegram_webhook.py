"""Telegram's webhook: check the secret, store the update durably, answer 200 at once."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from telegram import Message, Update
from telegram.error import TelegramError

from bot.channels.base import Inbound
from bot.channels.telegram import (
    ANSWERED,
    CHOOSE,
    DONE,
    TELEGRAM,
    TOGGLE,
    WEBHOOK_PATH,
    TelegramChannel,
    answered,
    parse_callback_data,
    toggled,
)
from bot.keys import PROCESSOR, SETTINGS

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

routes = web.RouteTableDef()


def _secret_matches(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    # Constant time: the secret is the only thing between the internet and our inbox.
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                               expected.encode("utf-8", "surrogateescape"))


@routes.post(WEBHOOK_PATH)
async def telegram_webhook(request: web.Request) -> web.Response:
    """One update from Telegram: refused without the secret, else stored and acknowledged."""
    expected = request.app[SETTINGS].telegram_webhook_secret
    if not _secret_matches(request.headers.get(SECRET_HEADER), expected):
        return web.Response(status=403)
    try:
        data: Any = await request.json()
    except ValueError:
        return web.Response(status=400)
    channel = request.app[TELEGRAM]
    if not isinstance(data, dict):
        return web.Response(status=400)
    try:
        update = Update.de_json(data, channel.bot)
    except (KeyError, TypeError, ValueError, AttributeError):
        return web.Response(status=400)
    await accept_update(channel, update, request.app[PROCESSOR].receive)
    return web.Response(status=200)


async def accept_update(
    channel: TelegramChannel, update: Update,
    receive: Callable[[Inbound], Awaitable[Any]],
) -> None:
    """Store what the update says (durable, deduplicated), then settle a tapped button in
    the background: the webhook's answer never waits for, or fails on, those calls."""
    inbound = channel.parse(update)
    created = False
    if inbound is not None:
        receipt = await receive(inbound)
        created = bool(receipt.created)
    if update.callback_query is not None:
        channel.spawn(settle_callback(channel, update, created))


async def settle_callback(channel: TelegramChannel, update: Update, created: bool) -> None:
    """Stop the button's progress bar; tick a toggled option or mark an answered keyboard."""
    query = update.callback_query
    if query is None:
        return
    bot = channel.bot
    try:
        await bot.answer_callback_query(query.id)
    except TelegramError as error:  # too old, or answered by an earlier delivery
        log.info("telegram callback not answered", extra={"error": type(error).__name__})
    parsed = parse_callback_data(query.data)
    message = query.message
    if parsed is None or not isinstance(message, Message) or message.reply_markup is None:
        return
    kind, key = parsed
    if kind == TOGGLE:
        markup = toggled(message.reply_markup, key)
    elif kind in (CHOOSE, DONE) and created:
        markup = answered(message.reply_markup, str(query.data))
    else:
        return
    if markup is None or kind == ANSWERED:
        return
    try:
        await bot.edit_message_reply_markup(
            chat_id=message.chat.id, message_id=message.message_id, reply_markup=markup
        )
    except TelegramError as error:
        log.info("telegram keyboard not updated", extra={"error": type(error).__name__})
