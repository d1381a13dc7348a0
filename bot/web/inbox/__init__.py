"""The coordinators' shared inbox: `setup_inbox(app)` is all the composition root calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from bot.access.failure_delay import FailureDelay
from bot.access.inbox_sessions import SessionStore
from bot.access.throttle import Throttle
from bot.keys import CHANNELS, CLOCK, DATABASE, DISPATCHER, RENDERER, SETTINGS
from bot.messaging.replies import ReplyWriter
from bot.web.inbox.actions import InboxActions
from bot.web.inbox.auth import (
    SESSIONS,
    SIGNER,
    THROTTLE,
    SessionSigner,
    SignInLimits,
    load_session_key,
)
from bot.web.inbox.case_actions import setup_case_actions
from bot.web.inbox.previews import preview_routes
from bot.web.inbox.routes import ACTIONS, routes

__all__ = ["setup_inbox"]

INSTALLED = web.AppKey("inbox_installed", bool)


def setup_inbox(app: web.Application) -> None:
    """Add the inbox's routes and start-up to an app built by `create_app` (idempotent)."""
    if app.get(INSTALLED):
        return
    app[INSTALLED] = True
    app.router.add_routes(routes)
    app.router.add_routes(preview_routes)
    app.cleanup_ctx.append(_inbox_ctx)
    setup_case_actions(app)


async def _inbox_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the session key (a file read, so not at import or build time), the session
    store, the sign-in limits and the actions."""
    settings, database = app[SETTINGS], app[DATABASE]
    app[SIGNER] = SessionSigner(load_session_key(settings))
    app[SESSIONS] = SessionStore(
        database, idle=timedelta(minutes=settings.inbox_idle_minutes),
        lifetime=timedelta(hours=settings.inbox_session_hours),
    )
    app[THROTTLE] = SignInLimits(FailureDelay(Throttle(database)))

    def wake_dispatcher() -> None:
        dispatcher = app.get(DISPATCHER)
        if dispatcher is not None:
            dispatcher.wake()

    channels = app[CHANNELS]
    app[ACTIONS] = InboxActions(
        app[DATABASE], ReplyWriter(app[RENDERER], channels), channels, app[CLOCK],
        on_committed=wake_dispatcher, quote_required=app[SETTINGS].quote_required,
    )
    yield
