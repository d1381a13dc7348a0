"""The normalized messages every channel speaks, and the one-method sending interface."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Attachment:
    """A file that came with a message; `ref` is how the channel fetches it later."""

    ref: str
    filename: str | None = None
    content_type: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Inbound:
    """One family message or action, whatever channel it came from."""

    channel: str
    external_id: str
    provider_key: str
    text: str | None = None
    choice: str | None = None
    choices: tuple[str, ...] | None = None
    attachments: tuple[Attachment, ...] = ()
    display_name: str | None = None
    language_hint: str | None = None
    start: bool = False
    start_payload: str | None = None

    def to_payload(self) -> dict[str, Any]:
        """The JSON stored in the inbound event row."""
        data = asdict(self)
        data["choices"] = list(self.choices) if self.choices is not None else None
        return data

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Inbound:
        """Rebuild an event from its stored JSON."""
        choices = data.get("choices")
        return cls(
            channel=data["channel"],
            external_id=data["external_id"],
            provider_key=data["provider_key"],
            text=data.get("text"),
            choice=data.get("choice"),
            choices=tuple(choices) if choices is not None else None,
            attachments=tuple(Attachment(**a) for a in data.get("attachments") or ()),
            display_name=data.get("display_name"),
            language_hint=data.get("language_hint"),
            start=bool(data.get("start")),
            start_payload=data.get("start_payload"),
        )


@dataclass(frozen=True)
class OutOption:
    """A rendered choice: the key comes back when the family taps it."""

    key: str
    label: str


@dataclass(frozen=True)
class Outbound:
    """One rendered reply to deliver."""

    channel: str
    external_id: str
    text: str
    options: tuple[OutOption, ...] = ()
    multiple: bool = False
    contact_id: int = 0
    outbox_id: int = 0
    locale: str = "en"
    last_inbound_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """What the provider told us about a sent message."""

    provider_message_id: str | None = None


class ChannelError(Exception):
    """A failed send: `permanent` stops retries, `retry_after` is the provider's wait,
    `hold` keeps the message for coordinators (e.g. outside WhatsApp's 24-hour window),
    `blocked` means the family blocked us (marked on the contact, never retried)."""

    def __init__(
        self, reason: str, *, permanent: bool = False, retry_after: float | None = None,
        hold: bool = False, blocked: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent or blocked
        self.retry_after = retry_after
        self.hold = hold
        self.blocked = blocked


class Channel(Protocol):
    """What the outbox dispatcher needs from a channel."""

    name: str
    # Seconds between two messages to the same chat (provider rate limit), 0 for none.
    per_chat_interval: float
    # Longest text one message may carry; the reply writer merges a turn's prompts up to it.
    max_text_length: int

    async def send(self, message: Outbound) -> SendResult:
        """Deliver one message, or raise ChannelError."""
        ...

    def fetch(self, attachment: Attachment) -> AsyncIterator[bytes]:
        """Stream the bytes of a file the family sent in the chat (ChannelError if not)."""
        ...
