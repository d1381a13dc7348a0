"""The composition root: `create_app(settings)` wires everything; nothing runs at import."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from aiohttp import web, web_response

from bot.access.client_address import TRUSTED_PROXIES
from bot.access.throttle import forget_old_counters
from bot.channels.webchat import WebChatChannel
from bot.clock import Clock, system_clock
from bot.documents.links import seal_links_at_rest
from bot.documents.uploads import FILES, UPLOADS
from bot.handlers.files import ingest_chat_files
from bot.handlers.intake import IntakeHandler
from bot.i18n.catalog import Catalogs
from bot.i18n.render import Renderer
from bot.keys import (
    CATALOGS,
    CHANNELS,
    CLOCK,
    DATABASE,
    DISPATCHER,
    JINJA,
    PROCESSOR,
    RENDERER,
    SETTINGS,
    TIMERS,
    WAKEUPS,
    WEBCHAT_CHANNEL,
)
from bot.messaging.inbound import InboundProcessor
from bot.messaging.outbox import OutboxDispatcher
from bot.messaging.replies import ReplyWriter
from bot.messaging.timers import TimerService, follow_timer_changes, make_scheduler
from bot.messaging.wakeups import WEBCHAT, for_database
from bot.operations.warmup import warm_up
from bot.settings import Settings
from bot.web import chat, health, letter, metrics, opinion, upload
from bot.web.chat_session import CHAT_SESSIONS, ChatSessions
from bot.web.form_guard import form_guard
from bot.web.inbox import setup_inbox
from bot.web.inbox.auth import load_session_key
from bot.web.templating import make_jinja_env
from storage.db import Database

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "web" / "static"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
# No library or Python version: it would only help an attacker pick an exploit.
SERVER_NAME = "intake"
HSTS = "max-age=31536000"


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer (pages, API, redirects, errors, 404s, files) carries the same protective
    headers; a handler's own choice (a stricter CSP on a download) is kept."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Server"] = SERVER_NAME
    if request.app[SETTINGS].base_url.startswith("https://"):
        response.headers.setdefault("Strict-Transport-Security", HSTS)


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, 503 otherwise."""
    try:
        await asyncio.wait_for(request.app[DATABASE].ping(), 5)
    except Exception:
        return web.json_response({"status": "unavailable"}, status=503)
    return web.json_response({"status": "ok"})


async def index(request: web.Request) -> web.Response:
    """The root leads families to the chat."""
    raise web.HTTPFound("/chat")


def create_app(settings: Settings, clock: Clock = system_clock) -> web.Application:
    """Build the application; resources open and close in cleanup contexts."""
    # aiohttp answers a malformed request itself, before any signal runs, with its default
    # Server header (which names its and Python's versions): that default is what we change.
    web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]
    app = web.Application(middlewares=[form_guard], client_max_size=1024**2)
    app.on_response_prepare.append(security_headers)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[TRUSTED_PROXIES] = settings.trusted_proxies
    catalogs = Catalogs()
    renderer = Renderer(catalogs)
    app[CATALOGS] = catalogs
    app[RENDERER] = renderer
    app[JINJA] = make_jinja_env(catalogs)
    app[WEBCHAT_CHANNEL] = WebChatChannel()
    app[CHANNELS] = {app[WEBCHAT_CHANNEL].name: app[WEBCHAT_CHANNEL]}
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_routes(health.routes)
    app.router.add_routes(metrics.routes)
    app.router.add_routes(chat.routes)
    app.router.add_static("/static", STATIC_DIR)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_chat_sessions)
    upload.setup(app)  # routes, bad-token limiter, file store and upload service
    opinion.setup(app)  # the family's opinion page; its services come with the inbox
    letter.setup(app)  # the records-request letter's download link
    if settings.telegram_enabled:
        from bot.channels.telegram import TELEGRAM_COMMANDS, telegram_ctx
        from bot.web.telegram_webhook import routes as telegram_routes
        from intake.commands import command_help, slash_name

        app[TELEGRAM_COMMANDS] = {
            lang: [(slash_name(c), renderer.text(t, lang)) for c, t in command_help()]
            for lang in catalogs.languages
        }
        app.router.add_routes(telegram_routes)
        app.cleanup_ctx.append(telegram_ctx)
    if settings.whatsapp_enabled:
        from bot.channels.whatsapp import whatsapp_ctx
        from bot.web.whatsapp_webhook import routes as whatsapp_routes

        app.router.add_routes(whatsapp_routes)
        app.cleanup_ctx.append(whatsapp_ctx)
    app.cleanup_ctx.append(_workers)
    setup_inbox(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    database = Database(app[SETTINGS].database_url)
    app[DATABASE] = database
    yield
    await database.dispose()


async def _chat_sessions(app: web.Application) -> AsyncIterator[None]:
    # The key is a file read, so not at build time; the inbox reads the same key.
    app[CHAT_SESSIONS] = ChatSessions.for_settings(load_session_key(app[SETTINGS]),
                                                   app[SETTINGS])
    yield


async def _workers(app: web.Application) -> AsyncIterator[None]:
    settings, clock, database = app[SETTINGS], app[CLOCK], app[DATABASE]
    warm_up(app[RENDERER])
    channels = app[CHANNELS]
    sealer = app[FILES].sealer()  # upload tokens in stored replies
    await seal_links_at_rest(database, sealer, clock())
    wakeups = for_database(database)
    app[WAKEUPS] = wakeups
    wakeups.subscribe(WEBCHAT, lambda payload: _wake_webchat(app[WEBCHAT_CHANNEL], payload))
    dispatcher = OutboxDispatcher(database, channels, clock, settings.outbox_poll_seconds,
                                  sealer=sealer, wakeups=wakeups,
                                  safety_seconds=settings.wakeup_safety_seconds,
                                  stale_claim=timedelta(
                                      seconds=settings.outbox_stale_claim_seconds),
                                  record_in_thread=not database.is_sqlite)
    handler = IntakeHandler(app[RENDERER], ReplyWriter(app[RENDERER], channels, sealer),
                            settings.timezone, settings.base_url)
    processor = InboundProcessor(
        database, handler, clock, on_committed=dispatcher.wake,
        on_attachments=lambda contact_id, event_id: ingest_chat_files(app, contact_id, event_id),
        files=app[FILES],
    )
    timers = TimerService(database, ReplyWriter(app[RENDERER], channels, sealer), clock,
                          on_committed=dispatcher.wake, files=app[FILES])
    app[DISPATCHER] = dispatcher
    app[PROCESSOR] = processor
    app[TIMERS] = timers
    outbox_task = asyncio.create_task(dispatcher.run(), name="outbox")
    tasks = [asyncio.create_task(processor.run(settings.inbound_sweep_seconds),
                                 name="inbound-sweep")]
    scheduler, timer_loop = make_scheduler(timers, settings.timer_poll_seconds)
    scheduler.add_job(app[UPLOADS].expire_abandoned, "cron", hour=3, minute=47,
                      id="abandoned-uploads")
    scheduler.add_job(forget_old_counters, "cron", hour=4, minute=13, args=(database, clock),
                      id="throttle-counters")
    scheduler.start()
    follow_timer_changes(timer_loop, wakeups)
    await wakeups.start()
    yield
    scheduler.shutdown(wait=False)
    await processor.close()
    # A round in flight is finished and recorded, so nothing sent is sent twice.
    await dispatcher.stop(outbox_task)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await wakeups.close()


def _wake_webchat(channel: WebChatChannel, payload: str) -> None:
    """A web-chat conversation changed (in any worker): wake its long polls here."""
    if payload.isdigit():
        channel.notify(int(payload))
