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

    async def replies(self, wait: float = 5.0) -> list[dict[str, Any]]:
        """Bot messages delivered since the last call: polls until the server is done with
        everything sent so far (its `busy` flag), or `wait` passes with nothing new."""
        got: list[dict[str, Any]] = []
        while True:
            response = await self.session.get(
                f"{self.base_url}/chat/api/messages", params={"after": self.after, "wait": wait}
            )
            assert response.status == 200, await response.text()
            data = await response.json()
            for message in data["messages"]:
                self.after = message["id"]
                got.append(message)
                self.transcript.append(message)
            self.lang, self.dir = data["lang"], data["dir"]
            if data["busy"]:
                # "Busy" is read just before the messages: with a reply in this batch it may
                # already be over, so look again soon rather than after a full wait.
                wait = 0.3 if data["messages"] else 5.0
                continue
            if not data["messages"] or any(m["direction"] == "out" for m in got):
                return [m for m in got if m["direction"] == "out"]

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
