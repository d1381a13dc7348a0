"""The built-in web chat: delivery is making a message visible to the page's long poll."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator

from bot.channels.base import Attachment, ChannelError, Outbound, SendResult

NAME = "webchat"


class WebChatChannel:
    """Wakes the browsers waiting on a contact's conversation when a reply is delivered."""

    name = NAME
    per_chat_interval = 0.0
    max_text_length = 20_000
    # Files we send (the records-request letter) show as a document to download.
    sends_documents = True

    def __init__(self) -> None:
        self._waiters: defaultdict[int, set[asyncio.Event]] = defaultdict(set)

    async def send(self, message: Outbound) -> SendResult:
        """Nothing to transmit: the row is the transcript; the poll reads it once recorded."""
        return SendResult(provider_message_id=f"webchat:{message.outbox_id}")

    def delivered(self, contact_id: int) -> None:
        """Called by the dispatcher after it recorded a delivery: wake the long polls."""
        self.notify(contact_id)

    async def fetch(self, attachment: Attachment) -> AsyncIterator[bytes]:
        """Files reach the web chat's cases through the upload page, never as attachments."""
        raise ChannelError("the web chat has no attachments")
        yield b""  # pragma: no cover - makes this an async generator

    def notify(self, contact_id: int) -> None:
        """Wake every poll waiting on this contact."""
        for waiter in self._waiters.get(contact_id, ()):
            waiter.set()

    @contextlib.contextmanager
    def listening(self, contact_id: int) -> Iterator[asyncio.Event]:
        """An event set by the next delivery to this contact. Register before reading the
        database, so a delivery between the read and the wait is not missed."""
        waiter = asyncio.Event()
        self._waiters[contact_id].add(waiter)
        try:
            yield waiter
        finally:
            self._waiters[contact_id].discard(waiter)
            if not self._waiters[contact_id]:
                del self._waiters[contact_id]
