"""Factories with defaults plus keyword overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.settings import Settings


def make_settings(**overrides: Any) -> Settings:
    """Settings for a test app; fast polling so tests don't wait."""
    values: dict[str, Any] = {
        "database_url": "sqlite+aiosqlite:///:memory:",
        "data_dir": Path("var-test"),
        "outbox_poll_seconds": 0.05,
        "timer_poll_seconds": 0.2,
        "inbound_sweep_seconds": 0.2,
    }
    values.update(overrides)
    return Settings(**values)
