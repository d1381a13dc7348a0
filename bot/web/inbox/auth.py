"""Inbox sign-in: signed session cookies, CSRF tokens, and slowing down password guessing.

The session cookie is `<coordinator id>.<expiry>.<nonce>.<HMAC-SHA256>`: nothing secret in it,
nothing stored server-side, valid on every worker that shares the key. The account is still
loaded on every request, so a deactivated coordinator is out at once. A CSRF token is an HMAC of
the session cookie (of a pre-login nonce cookie on the login form); SameSite=Strict is the
second line of defence.
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
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from bot.keys import CLOCK, DATABASE, SETTINGS
from bot.settings import Settings
from bot.web.inbox.language import ui_text
from intake.prompts import N_
from storage.tables import Coordinator
from storage.unit_of_work import UnitOfWork

SESSION_COOKIE = "inbox_session"
LOGIN_COOKIE = "inbox_login"
SESSION_LIFETIME = timedelta(hours=8)
LOGIN_FORM_LIFETIME = timedelta(hours=1)
KEY_BYTES = 32
CSRF_FIELD = "csrf"
COOKIE_PATH = "/inbox"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Session:
    """A verified session: who, until when, and the cookie it came from."""

    coordinator_id: int
    expires_at: datetime
    token: str


class SessionSigner:
    """Issues and checks session cookies and CSRF tokens with one HMAC key."""

    def __init__(self, key: bytes, lifetime: timedelta = SESSION_LIFETIME) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError("the session key needs at least 32 bytes")
        self._key = key
        self.lifetime = lifetime

    def _mac(self, purpose: str, payload: str) -> str:
        message = f"{purpose}|{payload}".encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def issue(self, coordinator_id: int, now: datetime) -> str:
        """A fresh session cookie value for a coordinator who just signed in."""
        expires = int((now + self.lifetime).timestamp())
        payload = f"{coordinator_id}.{expires}.{secrets.token_urlsafe(12)}"
        return f"{payload}.{self._mac('session', payload)}"

    def read(self, token: str | None, now: datetime) -> Session | None:
        """The session a cookie carries, or None when forged, malformed or expired."""
        if not token or len(token) > 200:
            return None
        payload, _, signature = token.rpartition(".")
        if not hmac.compare_digest(signature.encode(), self._mac("session", payload).encode()):
            return None
        parts = payload.split(".")
        if len(parts) != 3:
            return None
        try:
            coordinator_id, expires = int(parts[0]), int(parts[1])
        except ValueError:
            return None
        expires_at = datetime.fromtimestamp(expires, UTC)
        if expires_at <= now or expires_at > now + self.lifetime + timedelta(minutes=5):
            return None
        return Session(coordinator_id, expires_at, token)

    def csrf_token(self, session_token: str) -> str:
        """The token every form of this session must send back."""
        return self._mac("csrf", session_token)

    def login_token(self, nonce: str) -> str:
        """The token of the login form, tied to the browser's pre-login nonce cookie."""
        return self._mac("login", nonce)

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


@dataclass
class _Failures:
    count: int
    last: datetime


class LoginThrottle:
    """Slows down password guessing per e-mail address and per client address (in-process).

    After `limit` failures within `window`, further attempts wait `base_delay`, doubling with
    every failure up to `max_delay`; a success clears the e-mail's record.
    """

    def __init__(
        self, *, per_email: int = 5, per_address: int = 20,
        window: timedelta = timedelta(minutes=15), base_delay: timedelta = timedelta(seconds=30),
        max_delay: timedelta = timedelta(minutes=15), max_entries: int = 10_000,
    ) -> None:
        self.limits = {"email": per_email, "address": per_address}
        self.window = window
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_entries = max_entries
        self._failures: dict[str, _Failures] = {}

    @staticmethod
    def keys(email: str, address: str | None) -> tuple[str, str]:
        """The records one attempt counts against."""
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        return f"email:{digest}", f"address:{address or '-'}"

    def retry_after(self, keys: Iterable[str], now: datetime) -> float:
        """Seconds to wait before another attempt is looked at; 0 when free to try."""
        wait = 0.0
        for key in keys:
            record = self._failures.get(key)
            if record is None or now - record.last > self.window:
                continue
            excess = record.count - self.limits[key.split(":", 1)[0]]
            if excess < 0:
                continue
            delay = min(self.base_delay * (2 ** min(excess, 16)), self.max_delay)
            wait = max(wait, (record.last + delay - now).total_seconds())
        return max(0.0, wait)

    def failed(self, keys: Iterable[str], now: datetime) -> None:
        """Count a failed attempt."""
        if len(self._failures) >= self.max_entries:
            self._forget_old(now)
        for key in keys:
            record = self._failures.get(key)
            if record is None or now - record.last > self.window:
                self._failures[key] = _Failures(1, now)
            else:
                record.count += 1
                record.last = now

    def succeeded(self, keys: Iterable[str]) -> None:
        """A correct password clears the e-mail's failures (not the address's)."""
        for key in keys:
            if key.startswith("email:"):
                self._failures.pop(key, None)

    def _forget_old(self, now: datetime) -> None:
        horizon = self.window + self.max_delay
        for key in [k for k, r in self._failures.items() if now - r.last > horizon]:
            del self._failures[key]
        if len(self._failures) >= self.max_entries:
            self._failures.clear()


SIGNER = web.AppKey("inbox_signer", SessionSigner)
THROTTLE = web.AppKey("inbox_throttle", LoginThrottle)
COORDINATOR = web.RequestKey("inbox_coordinator", Coordinator)
SESSION = web.RequestKey("inbox_session", Session)


def is_secure(app: web.Application) -> bool:
    """Cookies are Secure when the public address is https."""
    return app[SETTINGS].base_url.startswith("https://")


def set_session_cookie(response: web.StreamResponse, app: web.Application, token: str) -> None:
    """Attach the session cookie: HttpOnly, SameSite=Strict, Secure behind https."""
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(app[SIGNER].lifetime.total_seconds()),
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
    """The signed-in, active coordinator of this request, if any."""
    session = request.app[SIGNER].read(
        request.cookies.get(SESSION_COOKIE), request.app[CLOCK]()
    )
    if session is None:
        return None
    async with UnitOfWork(request.app[DATABASE], write=False) as uow:
        coordinator = await uow.session.get(Coordinator, session.coordinator_id)
    if coordinator is None or not coordinator.active:
        return None
    return session, coordinator


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
