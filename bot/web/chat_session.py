"""The web chat's browser session: only ids this server issued, for a limited time.

The cookie is `<id>.<last activity>.<HMAC-SHA256>` signed with the session key (purpose
`webchat`, so it never passes for an inbox token). A value the server did not sign, planted by
a sibling site or typed by hand, is replaced, never adopted; a value whose last activity is
older than `WEBCHAT_SESSION_DAYS` is refused. Sending a message re-signs it with the new time.
The database keeps only a hash of the id (the contact's external id), never the cookie.

On https the cookie is `__Host-` prefixed: browsers then refuse it from a sibling subdomain or
over plain http, the usual ways to plant one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web

from bot.settings import Settings

PLAIN_COOKIE = "chat_session"
HOST_COOKIE = "__Host-chat_session"
ID = re.compile(r"^[A-Za-z0-9_-]{43}$")
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class ChatSession:
    """A verified browser session: its id and when it was last active."""

    id: str
    active_at: datetime

    @property
    def external_id(self) -> str:
        """The contact key: a hash, so the database never holds what the cookie holds."""
        return hashlib.sha256(self.id.encode()).hexdigest()


class ChatSessions:
    """Issues, checks, refreshes and clears the web chat's session cookies."""

    def __init__(self, key: bytes, lifetime: timedelta, secure: bool) -> None:
        self._key = key
        self.lifetime = lifetime
        self.secure = secure
        self.cookie = HOST_COOKIE if secure else PLAIN_COOKIE
        self.path = "/" if secure else "/chat"

    @classmethod
    def for_settings(cls, key: bytes, settings: Settings) -> ChatSessions:
        """Lifetime and cookie attributes from the configuration."""
        return cls(key, timedelta(days=settings.webchat_session_days),
                   settings.base_url.startswith("https://"))

    def _mac(self, payload: str) -> str:
        digest = hmac.new(self._key, f"webchat|{payload}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def new(self, now: datetime) -> ChatSession:
        """A fresh session for a browser that has none (or had one we refuse)."""
        return ChatSession(secrets.token_urlsafe(32), now)

    def sign(self, session: ChatSession) -> str:
        """The cookie value of a session."""
        payload = f"{session.id}.{int(session.active_at.timestamp())}"
        return f"{payload}.{self._mac(payload)}"

    def read(self, value: str | None, now: datetime) -> ChatSession | None:
        """The session a cookie value carries; None when unsigned, forged or too old."""
        if not value or len(value) > 120:
            return None
        payload, _, signature = value.rpartition(".")
        if not hmac.compare_digest(signature.encode(), self._mac(payload).encode()):
            return None
        session_id, _, stamp = payload.partition(".")
        if not ID.match(session_id) or not stamp.isascii() or not stamp.isdigit():
            return None
        active_at = datetime.fromtimestamp(int(stamp[:12]), UTC)
        if not now - self.lifetime < active_at <= now + CLOCK_SKEW:
            return None
        return ChatSession(session_id, active_at)

    def from_request(self, request: web.BaseRequest, now: datetime) -> ChatSession | None:
        """The browser's valid session, if it sent one."""
        return self.read(request.cookies.get(self.cookie), now)

    def set_cookie(self, response: web.StreamResponse, session: ChatSession) -> None:
        """Give the browser (again) its session, valid for the lifetime from its activity."""
        response.set_cookie(
            self.cookie, self.sign(session), httponly=True, samesite="Lax", secure=self.secure,
            max_age=int(self.lifetime.total_seconds()), path=self.path,
        )

    def clear_cookie(self, response: web.StreamResponse) -> None:
        """Make the browser forget its session."""
        response.del_cookie(self.cookie, path=self.path, secure=self.secure,
                            httponly=True, samesite="Lax")


CHAT_SESSIONS = web.AppKey("chat_sessions", ChatSessions)
