"""Inbox sign-in: server-side sessions, CSRF tokens, and slowing down password guessing.

The session cookie holds a random token; the session itself lives in the database
(`bot.access.inbox_sessions`), so signing out, idleness, age, a password change or a deactivation
end it on every worker at once. A CSRF token is an HMAC of the session token (of a pre-login nonce
cookie on the login form), so it dies with the session; SameSite=Strict is the second line of
defence. Failed sign-ins slow down further attempts per account and client address, and per client
address (`SignInLimits`), in counters every worker shares.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import os
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from bot.access.coordinators import normalize_email
from bot.access.failure_delay import FailureDelay
from bot.access.inbox_sessions import Session, SessionStore
from bot.keys import CLOCK, SETTINGS
from bot.settings import Settings
from bot.web.inbox.language import ui_text
from intake.prompts import N_
from storage.tables import Coordinator

SESSION_COOKIE = "inbox_session"
LOGIN_COOKIE = "inbox_login"
LOGIN_FORM_LIFETIME = timedelta(hours=1)
KEY_BYTES = 32
CSRF_FIELD = "csrf"
COOKIE_PATH = "/inbox"
# The inbox page's own background refresh of the list; it is not the coordinator's activity.
REFRESH_HEADER = "X-Inbox-Refresh"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SessionSigner:
    """Derives CSRF tokens and keyed address hashes from one HMAC key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError("the session key needs at least 32 bytes")
        self._key = key

    def _mac(self, purpose: str, payload: str) -> str:
        message = f"{purpose}|{payload}".encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def csrf_token(self, session_token: str) -> str:
        """The token every form of this session must send back."""
        return self._mac("csrf", session_token)

    def login_token(self, nonce: str) -> str:
        """The token of the login form, tied to the browser's pre-login nonce cookie."""
        return self._mac("login", nonce)

    def address_hash(self, address: str) -> str:
        """A client address as the audit log keeps it: keyed, so it cannot be looked up."""
        return self._mac("address", address)[:22]

    @staticmethod
    def matches(expected: str, submitted: str | None) -> bool:
        """Compare a submitted token in constant time."""
        return bool(submitted) and hmac.compare_digest(
            expected.encode(), (submitted or "").encode()
        )


def load_session_key(settings: Settings, environ: dict[str, str] | None = None) -> bytes:
    """`SESSION_KEY` when set (32+ characters), else `DATA_DIR/keys/session.key` (0600)."""
    env = os.environ if environ is None else environ
    value = (settings.extra.get("SESSION_KEY") or env.get("SESSION_KEY", "")).strip()
    if value:
        if len(value) < KEY_BYTES:
            raise ValueError("SESSION_KEY must be at least 32 characters")
        return value.encode("utf-8")
    return _load_or_create_key_file(Path(settings.data_dir) / "keys" / "session.key")


def _load_or_create_key_file(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)) + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            # link() never replaces: when two workers race, both read the winner's key.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    try:
        key = base64.b64decode(path.read_bytes().strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{path} is not a base64 session key") from None
    if len(key) < KEY_BYTES:
        raise ValueError(f"{path} holds fewer than 32 bytes")
    return key


class SignInLimits:
    """Failed sign-ins slow down further attempts per account and address, and per address.

    There is no delay per account alone: then anyone could keep a coordinator out by failing
    on purpose. A correct password from an address that is not itself over its limit gets in
    once the account-and-address delay has passed, and every delay is capped (`FailureDelay`).
    """

    def __init__(
        self, delay: FailureDelay, *, per_account: int = 5, per_address: int = 20
    ) -> None:
        self.delay = delay
        self.per_account = per_account
        self.per_address = per_address

    def counters(self, email: str, address: str) -> dict[str, int]:
        """The counters (name: free failures) one attempt counts against."""
        return {
            f"login-account:{normalize_email(email)}|{address}": self.per_account,
            f"login-address:{address}": self.per_address,
        }

    async def wait(self, email: str, address: str, now: datetime) -> float:
        """Seconds before this attempt may be looked at."""
        return await self.delay.wait(self.counters(email, address), now)

    async def failed(self, email: str, address: str, now: datetime) -> None:
        """Count a failed attempt."""
        await self.delay.failed(self.counters(email, address), now)

    async def succeeded(self, email: str, address: str) -> None:
        """A correct password clears its account-and-address failures (not the address's)."""
        await self.delay.clear(next(iter(self.counters(email, address))))


SIGNER = web.AppKey("inbox_signer", SessionSigner)
THROTTLE = web.AppKey("inbox_throttle", SignInLimits)
SESSIONS = web.AppKey("inbox_sessions", SessionStore)
COORDINATOR = web.RequestKey("inbox_coordinator", Coordinator)
SESSION = web.RequestKey("inbox_session", Session)


def is_secure(app: web.Application) -> bool:
    """Cookies are Secure when the public address is https."""
    return app[SETTINGS].base_url.startswith("https://")


def set_session_cookie(response: web.StreamResponse, app: web.Application, token: str) -> None:
    """Attach the session cookie: HttpOnly, SameSite=Strict, Secure behind https."""
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(app[SESSIONS].lifetime.total_seconds()),
        path=COOKIE_PATH, httponly=True, samesite="Strict", secure=is_secure(app),
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    """Sign out in this browser."""
    response.del_cookie(SESSION_COOKIE, path=COOKIE_PATH)


def safe_next(target: str | None) -> str:
    """Only a local inbox path may follow the login (no open redirect)."""
    if (
        target and target.startswith(COOKIE_PATH) and not target.startswith("//")
        and "\\" not in target and not target.startswith("/inbox/login")
    ):
        return target
    return COOKIE_PATH


def login_url(target: str) -> str:
    """Where an anonymous visitor is sent, remembering the page they wanted."""
    return f"/inbox/login?next={quote(safe_next(target), safe='')}"


async def current_session(request: web.Request) -> tuple[Session, Coordinator] | None:
    """The live session and active coordinator of this request, if any."""
    return await request.app[SESSIONS].check(
        request.cookies.get(SESSION_COOKIE), request.app[CLOCK](),
        activity=request.headers.get(REFRESH_HEADER) != "1",
    )


def requires_login(handler: Handler) -> Handler:
    """Pages and actions of signed-in coordinators; every POST must carry the CSRF token."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        found = await current_session(request)
        if found is None:
            if request.method in ("GET", "HEAD"):
                raise web.HTTPFound(login_url(request.path_qs))
            raise web.HTTPForbidden(text=ui_text(request, N_("Please sign in again.")))
        session, coordinator = found
        if request.method == "POST":
            form = await request.post()
            submitted = form.get(CSRF_FIELD)
            expected = request.app[SIGNER].csrf_token(session.token)
            if not isinstance(submitted, str) or not SessionSigner.matches(expected, submitted):
                raise web.HTTPForbidden(
                    text=ui_text(request, N_("This form has expired. Please reload the page."))
                )
        request[SESSION] = session
        request[COORDINATOR] = coordinator
        response = await handler(request)
        if not response.prepared:
            response.headers["Cache-Control"] = "no-store"
        return response

    return guarded
