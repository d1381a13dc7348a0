"""Speaking the family's language: catalogs, negotiation, rendering and formatting."""

from bot.i18n.catalog import Catalogs
from bot.i18n.negotiate import (
    choose_language,
    from_accept_language,
    from_phone_number,
    from_telegram_code,
    text_direction,
)
from bot.i18n.render import RenderedOption, RenderedPrompt, Renderer, isolate, numbered_text

__all__ = [
    "Catalogs",
    "RenderedOption",
    "RenderedPrompt",
    "Renderer",
    "choose_language",
    "from_accept_language",
    "from_phone_number",
    "from_telegram_code",
    "isolate",
    "numbered_text",
    "text_direction",
]
