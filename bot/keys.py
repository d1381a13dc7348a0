"""Typed keys for the objects the application shares between handlers."""

from __future__ import annotations

from aiohttp import web
from jinja2 import Environment

from bot.channels.base import Channel
from bot.channels.webchat import WebChatChannel
from bot.clock import Clock
from bot.i18n.catalog import Catalogs
from bot.i18n.render import Renderer
from bot.messaging.inbound import InboundProcessor
from bot.messaging.outbox import OutboxDispatcher
from bot.messaging.timers import TimerService
from bot.messaging.wakeups import Wakeups
from bot.settings import Settings
from storage.db import Database

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)  # type: ignore[type-abstract]
DATABASE = web.AppKey("database", Database)
CATALOGS = web.AppKey("catalogs", Catalogs)
RENDERER = web.AppKey("renderer", Renderer)
JINJA = web.AppKey("jinja", Environment)
WEBCHAT_CHANNEL = web.AppKey("webchat_channel", WebChatChannel)
PROCESSOR = web.AppKey("processor", InboundProcessor)
DISPATCHER = web.AppKey("dispatcher", OutboxDispatcher)
CHANNELS = web.AppKey("channels", dict[str, Channel])
TIMERS = web.AppKey("timers", TimerService)
WAKEUPS = web.AppKey("wakeups", Wakeups)

from bot.documents.uploads import FILES, UPLOADS  # noqa: E402,F401  (file store, upload service)
