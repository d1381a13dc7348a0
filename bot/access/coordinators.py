"""Coordinator accounts: scrypt password hashes, constant-time checks, the demo login.

A stored hash reads `scrypt$<log2 n>$<r>$<p>$<salt>$<hash>` (base64), so the cost can be
raised later without invalidating existing passwords. scrypt takes about 0.1 s and 32 MiB on
purpose: call `authenticate` (which runs it in a worker thread), never `verify_password`, from
the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access.inbox_sessions import EndReason, end_all
from storage.db import Database
from storage.tables import AuditEntry, Coordinator
from storage.unit_of_work import UnitOfWork

SCRYPT_LOG2_N = 15
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
MAX_MEMORY = 128 * 1024 * 1024
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
DEMO_EMAIL = "coordinator@demo.invalid"
DEMO_NAME = "Demo coordinator"


class CoordinatorExists(ValueError):
    """An account with this e-mail address already exists."""


class WeakPassword(ValueError):
    """The password is too short (or absurdly long) to accept."""


def normalize_email(email: str) -> str:
    """E-mail addresses compare case-insensitively and without surrounding blanks."""
    return email.strip().lower()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=1 << log2_n, r=r, p=p, maxmem=MAX_MEMORY,
        dklen=HASH_BYTES,
    )


def hash_password(password: str) -> str:
    """Hash a password with scrypt and a fresh per-user salt, for storage."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_LOG2_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Check a password against a stored hash in constant time; malformed hashes never match."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        log2_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return False
    if not (10 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16 and expected):
        return False
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=1 << log2_n, r=r, p=p, maxmem=MAX_MEMORY,
        dklen=len(expected),
    )
    return hmac.compare_digest(digest, expected)


# Checked when the e-mail is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = "$".join((
    "scrypt", str(SCRYPT_LOG2_N), str(SCRYPT_R), str(SCRYPT_P), _b64(bytes(SALT_BYTES)),
    _b64(bytes(HASH_BYTES)),
))


def _check_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword("the password is too long")


async def find_by_email(session: AsyncSession, email: str) -> Coordinator | None:
    """The account with this e-mail address, whatever its case."""
    query = select(Coordinator).where(func.lower(Coordinator.email) == normalize_email(email))
    return (await session.execute(query)).scalar_one_or_none()


async def create_coordinator(
    session: AsyncSession, email: str, name: str, password: str, *,
    now: datetime | None = None,
) -> Coordinator:
    """Add an account to the caller's transaction; refuses duplicates and weak passwords."""
    address = normalize_email(email)
    if "@" not in address or len(address) > 255:
        raise ValueError("not an e-mail address")
    if not name.strip():
        raise ValueError("a coordinator needs a name")
    _check_strength(password)
    if await find_by_email(session, address) is not None:
        raise CoordinatorExists(address)
    password_hash = await asyncio.to_thread(hash_password, password)
    coordinator = Coordinator(email=address, name=name.strip()[:255],
                              password_hash=password_hash, active=True)
    if now is not None:
        coordinator.created_at = now
    session.add(coordinator)
    await session.flush()
    return coordinator


@dataclass(frozen=True)
class SignInCheck:
    """What a sign-in attempt found: the account named (for the audit log) and if it opens."""

    account_id: int | None
    coordinator: Coordinator | None


async def check_sign_in(session: AsyncSession, email: str, password: str) -> SignInCheck:
    """Check credentials (same cost whether the account exists); a deactivated account
    never opens, even with its password."""
    coordinator = await find_by_email(session, email)
    stored = coordinator.password_hash if coordinator is not None else _DUMMY_HASH
    matches = await asyncio.to_thread(verify_password, password, stored)
    if coordinator is None:
        return SignInCheck(None, None)
    if not matches or not coordinator.active:
        return SignInCheck(coordinator.id, None)
    return SignInCheck(coordinator.id, coordinator)


async def authenticate(session: AsyncSession, email: str, password: str) -> Coordinator | None:
    """The active account these credentials open, or None (same cost either way)."""
    return (await check_sign_in(session, email, password)).coordinator


class NoSuchCoordinator(LookupError):
    """No account has this e-mail address."""


async def change_password(
    database_url: str, email: str, password: str, now: datetime
) -> tuple[int, int]:
    """Set a new password and end every session of the account (`intake-bot
    change-password`): whoever held a session or the old password is out. Returns the
    account id and how many sessions ended."""
    _check_strength(password)
    password_hash = await asyncio.to_thread(hash_password, password)
    return await _update_account(database_url, email, now, EndReason.PASSWORD,
                                 password_hash=password_hash)


async def deactivate_coordinator(database_url: str, email: str, now: datetime) -> tuple[int, int]:
    """Close an account at once (`intake-bot deactivate-coordinator`): its sessions end and
    it can no longer sign in. Returns the account id and how many sessions ended."""
    return await _update_account(database_url, email, now, EndReason.DEACTIVATED, active=False)


async def _update_account(
    database_url: str, email: str, now: datetime, reason: EndReason, **changes: Any
) -> tuple[int, int]:
    database = Database(database_url)
    try:
        async with UnitOfWork(database) as uow:
            coordinator = await find_by_email(uow.session, email)
            if coordinator is None:
                raise NoSuchCoordinator(normalize_email(email))
            for name, value in changes.items():
                setattr(coordinator, name, value)
            ended = await end_all(uow.session, coordinator.id, now, reason)
            uow.session.add(AuditEntry(
                coordinator_id=coordinator.id, action=f"account_{reason.value}",
                detail={"sessions_ended": ended, "by": "command_line"}, at=now,
            ))
            await uow.commit()
            return coordinator.id, ended
    finally:
        await database.dispose()


async def ensure_demo_coordinator(session: AsyncSession) -> tuple[str, str]:
    """The demo login: created on first run, given a fresh password on every run (caller
    commits), so the password the demo prints always works and never sits in a file."""
    password = secrets.token_urlsafe(12)
    coordinator = await find_by_email(session, DEMO_EMAIL)
    if coordinator is None:
        await create_coordinator(session, DEMO_EMAIL, DEMO_NAME, password)
    else:
        coordinator.password_hash = await asyncio.to_thread(hash_password, password)
        coordinator.active = True
    return DEMO_EMAIL, password


async def add_coordinator(database_url: str, email: str, name: str, password: str) -> None:
    """Create an account from the command line (`intake-bot add-coordinator`)."""
    database = Database(database_url)
    try:
        async with UnitOfWork(database) as uow:
            await create_coordinator(uow.session, email, name, password)
            await uow.commit()
    finally:
        await database.dispose()


async def prepare_demo_login(database_url: str) -> tuple[str, str]:
    """The demo's printed inbox login, ready in the database (`intake-bot demo`)."""
    database = Database(database_url)
    try:
        async with UnitOfWork(database) as uow:
            login = await ensure_demo_coordinator(uow.session)
            await uow.commit()
        return login
    finally:
        await database.dispose()
