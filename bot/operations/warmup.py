"""Load lazily built tables once at start-up, not inside the first families' requests.

The answer matchers index language, country and month names from Babel's locale data, and
the first rendering in each language loads that language's data: together about a second of
CPU that would otherwise stall every request in flight behind the first ones. Everything
here is cached per process, so a second app in the same process pays nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from bot.i18n.render import Renderer
from intake import answers
from intake.commands import match_command, match_language_name
from intake.prompts import N_, Text
from intake.vocabulary import LANGUAGES


def warm_up(renderer: Renderer) -> None:
    """Build the matchers' indexes and touch each language's locale data."""
    today = date(2026, 1, 1)
    match_language_name("english")
    match_command("help")
    answers.parse_country("Belgium")
    answers.parse_date("1 March 1980", today)
    for lang in LANGUAGES:
        answers.parse_yes_no("yes", lang)
        renderer.text(Text(N_("Yes")), lang)
        # A bare placeholder, deliberately not a catalog message (Text() is not extracted).
        renderer.text(Text("{when}", {"when": datetime(2026, 1, 1, tzinfo=UTC)}), lang)
        renderer.price_range(Decimal(1), Decimal(2), "EUR", lang)
