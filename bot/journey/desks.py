"""The services of a case's second half, shared by the inbox's routes under one app key."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.journey.doctor import DoctorMail
from bot.journey.opinions import OpinionDesk
from bot.journey.quotes import QuoteDesk
from bot.journey.saved_replies import SavedReplies
from bot.journey.video import VideoDesk


@dataclass(frozen=True)
class JourneyDesks:
    """The services behind the inbox's case page, built once the database is open."""

    quotes: QuoteDesk
    opinions: OpinionDesk
    doctor: DoctorMail
    replies: SavedReplies
    video: VideoDesk


JOURNEY = web.AppKey("journey_desks", JourneyDesks)
