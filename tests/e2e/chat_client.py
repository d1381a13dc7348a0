"""A family's web chat, driven over HTTP like the page does it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, CookieJar


@dataclass
class ChatFamily:
    """One browser session: sends answers, reads the delivered replies."""

    base_url: str
    session: ClientSession
    after: int = 0
    transcript: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    async def open(cls, base_url: str, accept_language: str = "en") -> ChatFamily:
        """Open the chat page (sets the session cookie)."""
        session = ClientSession(
            cookie_jar=CookieJar(unsafe=True), headers={"Accept-Language": accept_language}
        )
        family = cls(base_url, session)
        response = await session.get(f"{base_url}/chat")
        assert response.status == 200
        return family

    async def close(self) -> None:
        """Close the browser session."""
        await self.session.close()

    async def replies(self, wait: float = 5.0, settle: float = 0.25) -> list[dict[str, Any]]:
        """Bot messages delivered since the last call (waits for the first, then settles)."""
        got: list[dict[str, Any]] = []
        while True:
            response = await self.session.get(
                f"{self.base_url}/chat/api/messages", params={"after": self.after, "wait": wait}
            )
            assert response.status == 200, await response.text()
            data = await response.json()
            if not data["messages"]:
                return [m for m in got if m["direction"] == "out"]
            for message in data["messages"]:
                self.after = message["id"]
                got.append(message)
                self.transcript.append(message)
            self.lang, self.dir = data["lang"], data["dir"]
            wait = settle

    async def send(self, client_id: str | None = None, **body: Any) -> dict[str, Any]:
        """Post one message; returns the server's JSON answer."""
        body["client_id"] = client_id or uuid.uuid4().hex
        response = await self.session.post(f"{self.base_url}/chat/api/messages", json=body)
        assert response.status == 202, await response.text()
        return dict(await response.json())

    async def say(self, text: str) -> list[dict[str, Any]]:
        """Type an answer and read the replies."""
        await self.send(text=text)
        return await self.replies()

    async def tap(self, choice: str) -> list[dict[str, Any]]:
        """Tap a button and read the replies."""
        await self.send(choice=choice)
        return await self.replies()


def last_options(replies: list[dict[str, Any]]) -> list[str]:
    """The option keys of the last reply that has options."""
    for message in reversed(replies):
        if message["options"]:
            return [o["key"] for o in message["options"]]
    return []


def texts(replies: list[dict[str, Any]]) -> str:
    """All reply texts joined, for assertions."""
    return "\n".join(m["text"] for m in replies)
