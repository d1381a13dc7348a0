"""Configuration from environment variables (a `.env` file may supply them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from dotenv import dotenv_values

from bot.access.client_address import Network, parse_networks

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/intake.db"


@dataclass(frozen=True)
class Settings:
    """Everything operators configure; see the table in the README."""

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8080
    public_base_url: str = ""
    data_dir: Path = Path("var")
    telegram_bot_token: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_api_base_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_base_url: str | None = None
    timezone: str = "Europe/Brussels"
    # Re-read of the outbox while the PostgreSQL wake-up listener is down.
    outbox_poll_seconds: float = 0.5
    # The slow re-read every loop still does while wake-ups are heard: a net, not the way.
    wakeup_safety_seconds: float = 30.0
    # A row 'sending' longer than this was claimed by a process that died: it is sent again.
    # Longer than any send can take (a large file to a slow provider).
    outbox_stale_claim_seconds: float = 120.0
    timer_poll_seconds: float = 30.0
    inbound_sweep_seconds: float = 5.0
    telegram_max_rate: float = 30.0
    # Hardening (SECURITY.md): client addresses, sessions, limits, budgets, timeouts.
    trusted_proxies: tuple[Network, ...] = ()
    inbox_idle_minutes: float = 30.0
    inbox_session_hours: float = 12.0
    webchat_session_days: float = 30.0
    new_conversations_per_hour: int = 20
    messages_per_minute: int = 30
    zip_expansion_per_archive: int = 8 * 1024**3
    zip_expansion_per_case_day: int = 32 * 1024**3
    min_free_disk_mb: int = 2048
    body_read_timeout: float = 30.0
    metrics_token: str | None = None
    files_url: str | None = None
    files_s3_endpoint: str | None = None
    files_s3_region: str | None = None
    # Provider policy: seconds between two messages to one chat (0 in benchmarks and tests).
    telegram_per_chat_interval: float = 1.0
    whatsapp_per_chat_interval: float = 0.2
    extra: Mapping[str, str] = field(default_factory=dict)
    # The second half of a case (quote, opinion, treating doctor): see notes/case2.md.
    smtp_url: str | None = None
    smtp_from: str = "second-opinion@localhost"
    quote_required: bool = True
    opinion_max_mb: int = 50
    mail_poll_seconds: float = 5.0

    @property
    def base_url(self) -> str:
        """How the outside world reaches us, without a trailing slash."""
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def telegram_enabled(self) -> bool:
        """Telegram is on when a bot token is configured."""
        return bool(self.telegram_bot_token)

    @property
    def whatsapp_enabled(self) -> bool:
        """WhatsApp is on when the Twilio account is configured."""
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some values changed (tests, CLI flags)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: str = ".env"
    ) -> Settings:
        """Read the variables of DESIGN.md; the process environment wins over `.env`."""
        values: dict[str, str] = {
            k: v for k, v in dotenv_values(env_file).items() if v is not None
        } if Path(env_file).is_file() else {}
        values.update(os.environ if environ is None else environ)

        def opt(name: str) -> str | None:
            value = values.get(name, "").strip()
            return value or None

        settings = cls(
            database_url=opt("DATABASE_URL") or DEFAULT_DATABASE_URL,
            host=opt("HOST") or "127.0.0.1",
            port=int(opt("PORT") or 8080),
            public_base_url=opt("PUBLIC_BASE_URL") or "",
            data_dir=Path(opt("DATA_DIR") or "var"),
            telegram_bot_token=opt("TELEGRAM_BOT_TOKEN"),
            telegram_webhook_secret=opt("TELEGRAM_WEBHOOK_SECRET"),
            telegram_api_base_url=opt("TELEGRAM_API_BASE_URL"),
            twilio_account_sid=opt("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=opt("TWILIO_AUTH_TOKEN"),
            twilio_whatsapp_from=opt("TWILIO_WHATSAPP_FROM"),
            twilio_api_base_url=opt("TWILIO_API_BASE_URL"),
            timezone=opt("TIMEZONE") or "Europe/Brussels",
            telegram_max_rate=float(opt("TELEGRAM_MAX_RATE") or 30.0),
            wakeup_safety_seconds=float(opt("WAKEUP_SAFETY_SECONDS") or 30.0),
            outbox_stale_claim_seconds=float(opt("OUTBOX_STALE_CLAIM_SECONDS") or 120.0),
            trusted_proxies=parse_networks(opt("TRUSTED_PROXIES")),
            inbox_idle_minutes=float(opt("INBOX_IDLE_MINUTES") or 30),
            inbox_session_hours=float(opt("INBOX_SESSION_HOURS") or 12),
            webchat_session_days=float(opt("WEBCHAT_SESSION_DAYS") or 30),
            new_conversations_per_hour=int(opt("NEW_CONVERSATIONS_PER_HOUR") or 20),
            messages_per_minute=int(opt("MESSAGES_PER_MINUTE") or 30),
            zip_expansion_per_archive=int(opt("ZIP_EXPANSION_PER_ARCHIVE") or 8 * 1024**3),
            zip_expansion_per_case_day=int(opt("ZIP_EXPANSION_PER_CASE_DAY") or 32 * 1024**3),
            min_free_disk_mb=int(opt("MIN_FREE_DISK_MB") or 2048),
            body_read_timeout=float(opt("BODY_READ_TIMEOUT") or 30),
            metrics_token=opt("METRICS_TOKEN"),
            files_url=opt("FILES_URL"),
            files_s3_endpoint=opt("FILES_S3_ENDPOINT"),
            files_s3_region=opt("FILES_S3_REGION"),
            telegram_per_chat_interval=float(opt("TELEGRAM_PER_CHAT_INTERVAL") or 1.0),
            whatsapp_per_chat_interval=float(opt("WHATSAPP_PER_CHAT_INTERVAL") or 0.2),
            extra={k: v for k, v in values.items()
                   if (k.startswith("TWILIO_TEMPLATE_") or k in ("SESSION_KEY", "FILES_KEY"))
                   and v.strip()},
            smtp_url=opt("SMTP_URL"),
            smtp_from=opt("SMTP_FROM") or "second-opinion@localhost",
            quote_required=(opt("QUOTE_REQUIRED") or "true").lower() not in ("0", "false", "no"),
            opinion_max_mb=int(opt("OPINION_MAX_MB") or 50),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse configurations that would run insecurely."""
        if self.telegram_enabled and not self.telegram_webhook_secret:
            raise ValueError("TELEGRAM_WEBHOOK_SECRET is required when Telegram is on")
        if self.whatsapp_enabled and not self.twilio_whatsapp_from:
            raise ValueError("TWILIO_WHATSAPP_FROM is required when WhatsApp is on")
