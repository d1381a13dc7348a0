"""Long polling for local use without a public https URL: the webhook's path, fed by getUpdates."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from telegram.error import Conflict

from bot.channels.telegram import ALLOWED_UPDATES, TELEGRAM
from bot.keys import PROCESSOR

log = logging.getLogger(__name__)

POLL_TIMEOUT_SECONDS = 25
ERROR_PAUSE_SECONDS = 5.0


async def run_polling(app: web.Application) -> None:
    """Fetch updates until cancelled; an update is confirmed (offset) only once stored."""
    channel, processor = app[TELEGRAM], app[PROCESSOR]
    bot = channel.bot
    offset: int | None = None
    webhook_deleted = False
    while True:
        try:
            if not webhook_deleted:
                webhook_deleted = await bot.delete_webhook()
            updates = await bot.get_updates(
                offset=offset, timeout=POLL_TIMEOUT_SECONDS,
                allowed_updates=list(ALLOWED_UPDATES),
            )
            for update in updates:
                await channel.accept(update, processor.receive)
                offset = update.update_id + 1
        except Conflict:
            # Another process polls, or a webhook was set again meanwhile.
            log.warning("telegram polling conflict")
            webhook_deleted = False
            await asyncio.sleep(ERROR_PAUSE_SECONDS)
        except Exception:  # the network or the database: keep polling, nothing is confirmed
            log.warning("telegram polling failed", exc_info=True)
            await asyncio.sleep(ERROR_PAUSE_SECONDS)


async def telegram_polling_ctx(app: web.Application) -> AsyncIterator[None]:
    """Poll while the app runs (append after the workers' context: it needs the processor)."""
    task = asyncio.create_task(run_polling(app), name="telegram-polling")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
