"""Configuration from the environment: the documented variables and their defaults."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from bot.settings import Settings


def from_env(tmp_path: Path, **values: str) -> Settings:
    return Settings.from_env(values, env_file=str(tmp_path / "missing.env"))


def test_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    settings = from_env(tmp_path)

    assert settings.telegram_per_chat_interval == 1.0
    assert settings.whatsapp_per_chat_interval == 0.2
    assert settings.trusted_proxies == ()
    assert settings.inbox_idle_minutes == 30 and settings.inbox_session_hours == 12
    assert settings.files_url is None and settings.metrics_token is None


def test_provider_spacing_can_be_turned_off_without_code(tmp_path: Path) -> None:
    settings = from_env(
        tmp_path, TELEGRAM_PER_CHAT_INTERVAL="0", WHATSAPP_PER_CHAT_INTERVAL="0.05"
    )

    assert settings.telegram_per_chat_interval == 0.0
    assert settings.whatsapp_per_chat_interval == 0.05


def test_trusted_proxies_and_file_store_are_read(tmp_path: Path) -> None:
    settings = from_env(
        tmp_path, TRUSTED_PROXIES="10.0.0.0/8,::1", FILES_URL="s3://cases/prod",
        FILES_S3_ENDPOINT="http://127.0.0.1:9000", METRICS_TOKEN="t0ken",
    )

    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1"),
    )
    assert settings.files_url == "s3://cases/prod"
    assert settings.files_s3_endpoint == "http://127.0.0.1:9000"
    assert settings.metrics_token == "t0ken"


def test_a_malformed_proxy_list_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        from_env(tmp_path, TRUSTED_PROXIES="10.0.0.0/8, proxy.example")
