"""Channel rules in one place: WhatsApp's 24-hour window and the templates that cross it.

Meta lets a business send free-form WhatsApp messages only within 24 hours of the family's
last message; outside that window only a pre-approved template (a Twilio Content SID `HX…`)
may open the conversation again, and since 2025-04 a template text sent as `Body` fails with
63016. Anything that cannot go out is held for the coordinators, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

WINDOW = timedelta(hours=24)
# The family's clock is Meta's, not ours; a message sent in the window's last seconds may
# reach Meta after it closed and fail with 63016.
WINDOW_MARGIN = timedelta(minutes=2)

TEMPLATE_PREFIX = "TWILIO_TEMPLATE_"
DEFAULT_TEMPLATE_LOCALE = "en"
_CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
_KIND = re.compile(r"[a-z][a-z0-9_]*")
_LOCALE = re.compile(r"[a-z]{2,3}")


def within_window(
    last_inbound_at: datetime | None, now: datetime, margin: timedelta = WINDOW_MARGIN
) -> bool:
    """Whether a free-form WhatsApp message may be sent now (24 h after the family wrote)."""
    if last_inbound_at is None:
        return False
    if last_inbound_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("naive datetime passed to the WhatsApp window check")
    return now - last_inbound_at < WINDOW - margin


@dataclass(frozen=True)
class TemplateConfig:
    """Approved WhatsApp templates: Content SID per (kind, locale), from configuration."""

    sids: Mapping[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TemplateConfig:
        """Read `TWILIO_TEMPLATE_<KIND>_<LANG>=HX…` (e.g. `TWILIO_TEMPLATE_REMINDER_FR`)."""
        sids: dict[tuple[str, str], str] = {}
        for name, raw in environ.items():
            if not name.startswith(TEMPLATE_PREFIX):
                continue
            value = (raw or "").strip()
            if not value:
                continue
            kind, _, locale = name[len(TEMPLATE_PREFIX):].lower().rpartition("_")
            if not _KIND.fullmatch(kind) or not _LOCALE.fullmatch(locale):
                raise ValueError(f"{name}: expected TWILIO_TEMPLATE_<KIND>_<LANG>")
            if not _CONTENT_SID.fullmatch(value):
                raise ValueError(f"{name}: expected a Content SID (HX followed by 32 hex)")
            sids[(kind, locale)] = value
        return cls(sids)

    def content_sid(self, kind: str, locale: str) -> str | None:
        """The template for this kind in the family's language, else the English one."""
        kind = kind.lower()
        return self.sids.get((kind, locale.lower())) or self.sids.get(
            (kind, DEFAULT_TEMPLATE_LOCALE)
        )


@dataclass(frozen=True)
class WhatsAppDelivery:
    """How one WhatsApp message may go out now: as typed, as a template, or not at all."""

    mode: Literal["free_form", "template", "hold"]
    content_sid: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""


def whatsapp_delivery(
    last_inbound_at: datetime | None, now: datetime, extra: Mapping[str, Any], locale: str,
    templates: TemplateConfig,
) -> WhatsAppDelivery:
    """Decide free-form, template (outside the window, when one is configured) or hold."""
    if within_window(last_inbound_at, now):
        return WhatsAppDelivery("free_form")
    kind = extra.get("template")
    if not isinstance(kind, str) or not kind:
        return WhatsAppDelivery("hold", reason="outside the 24-hour window, no template")
    content_sid = templates.content_sid(kind, locale)
    if content_sid is None:
        return WhatsAppDelivery(
            "hold", reason=f"outside the 24-hour window, no {kind[:40]} template configured"
        )
    return WhatsAppDelivery(
        "template", content_sid=content_sid, variables=template_variables(extra.get("variables"))
    )


def template_variables(raw: object) -> dict[str, str]:
    """Content variables as Twilio wants them: string keys ("1") and string values."""
    if not isinstance(raw, Mapping):
        return {}
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}
