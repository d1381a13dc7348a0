"""Fixtures of the end-to-end tests: the fake providers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.settings import Settings
from tests.fakes.smtp import FakeSmtp
from tests.fakes.telegram_api import SECRET, TOKEN, FakeTelegram


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `telegram_ctx` opts into, undone after each test."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """The Bot API on a loopback port."""
    api = FakeTelegram()
    await api.start()
    yield api
    await api.close()


@pytest.fixture
def tg_settings(settings: Settings, fake: FakeTelegram) -> Settings:
    """Telegram on, pointed at the fake."""
    return settings.with_overrides(
        telegram_bot_token=TOKEN, telegram_webhook_secret=SECRET,
        telegram_api_base_url=fake.api_base_url,
    )


@pytest.fixture
async def smtp() -> AsyncIterator[FakeSmtp]:
    """A real SMTP server on a loopback port (the treating doctor's mail)."""
    server = FakeSmtp()
    await server.start()
    yield server
    await server.close()


from tests.task_guard import _no_task_left_behind  # noqa: E402,F401  (autouse, every test here)
