"""Coordinator accounts and inbox sign-in: password hashes, CSRF tokens, the sign-in limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.access.coordinators import (
    DEMO_EMAIL,
    CoordinatorExists,
    WeakPassword,
    add_coordinator,
    authenticate,
    create_coordinator,
    ensure_demo_coordinator,
    hash_password,
    prepare_demo_login,
    verify_password,
)
from bot.access.failure_delay import FailureDelay
from bot.access.throttle import Throttle
from bot.web.inbox.auth import SessionSigner, SignInLimits, safe_next
from storage.db import Database
from storage.unit_of_work import UnitOfWork

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KEY = b"0123456789abcdef0123456789abcdef"


def test_a_password_hash_is_salted_scrypt_and_verifies() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("scrypt$15$8$1$") and first != second
    assert verify_password("correct horse", first)
    assert verify_password("correct horse", second)
    assert not verify_password("correct horsE", first)
    assert "correct horse" not in first


@pytest.mark.parametrize("stored", [
    "", "plain", "scrypt$15$8$1$salt", "scrypt$x$8$1$AAAA$AAAA", "bcrypt$15$8$1$AAAA$AAAA",
    "scrypt$40$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA", "scrypt$15$8$1$!!!$AAAA",
])
def test_a_malformed_stored_hash_never_matches(stored: str) -> None:
    assert not verify_password("anything", stored)


def test_csrf_tokens_belong_to_one_session() -> None:
    signer = SessionSigner(KEY)
    one, two = "session-token-one", "session-token-two"
    assert SessionSigner.matches(signer.csrf_token(one), signer.csrf_token(one))
    assert not SessionSigner.matches(signer.csrf_token(one), signer.csrf_token(two))
    assert not SessionSigner.matches(signer.csrf_token(one), "")
    assert not SessionSigner.matches(signer.csrf_token(one), None)
    assert signer.login_token("nonce-a") != signer.login_token("nonce-b")


def test_client_addresses_are_kept_as_keyed_hashes() -> None:
    signer = SessionSigner(KEY)
    hashed = signer.address_hash("203.0.113.7")
    assert hashed == signer.address_hash("203.0.113.7") != signer.address_hash("203.0.113.8")
    assert "203" not in hashed and hashed != SessionSigner(b"y" * 32).address_hash("203.0.113.7")


def test_a_short_session_key_is_refused() -> None:
    with pytest.raises(ValueError):
        SessionSigner(b"short")


@pytest.fixture
async def limits(database_url: str) -> AsyncIterator[SignInLimits]:
    """Sign-in limits on this test's database."""
    database = Database(database_url)
    yield SignInLimits(FailureDelay(Throttle(database)))
    await database.dispose()


async def test_the_delay_starts_after_five_failures_of_one_account_and_address_and_doubles(
    limits: SignInLimits,
) -> None:
    for minute in range(5):
        at = NOW + timedelta(minutes=minute)
        assert await limits.wait("Anna@Team.example", "10.0.0.1", at) == 0
        await limits.failed("Anna@Team.example", "10.0.0.1", at)
    last = NOW + timedelta(minutes=4)
    assert await limits.wait("anna@team.example", "10.0.0.1", last) == 30
    assert await limits.wait("anna@team.example", "10.0.0.1", last + timedelta(seconds=31)) == 0
    await limits.failed("anna@team.example", "10.0.0.1", last + timedelta(seconds=31))
    assert await limits.wait("anna@team.example", "10.0.0.1", last + timedelta(seconds=31)) == 60
    # The account itself is not locked: its owner elsewhere, and other accounts, go on.
    assert await limits.wait("anna@team.example", "10.0.0.2", last) == 0
    assert await limits.wait("ben@team.example", "10.0.0.1", last) == 0


async def test_the_delay_is_capped_so_nothing_locks_for_ever(limits: SignInLimits) -> None:
    for _ in range(40):
        await limits.failed("anna@team.example", "10.0.0.1", NOW)
    assert await limits.wait("anna@team.example", "10.0.0.1", NOW) == 300
    assert await limits.wait("anna@team.example", "10.0.0.1", NOW + timedelta(minutes=5)) == 0


async def test_the_delay_is_forgotten_after_the_window_and_after_a_success(
    limits: SignInLimits,
) -> None:
    for _ in range(6):
        await limits.failed("anna@team.example", "10.0.0.1", NOW)
    assert await limits.wait("anna@team.example", "10.0.0.1", NOW + timedelta(minutes=16)) == 0
    await limits.succeeded("anna@team.example", "10.0.0.1")
    assert await limits.wait("anna@team.example", "10.0.0.1", NOW) == 0


async def test_one_busy_address_is_slowed_down_only_after_many_accounts_fail(
    limits: SignInLimits,
) -> None:
    for index in range(19):
        await limits.failed(f"user{index}@team.example", "10.0.0.9", NOW)
    assert await limits.wait("new@team.example", "10.0.0.9", NOW) == 0
    await limits.failed("user19@team.example", "10.0.0.9", NOW)
    assert await limits.wait("new@team.example", "10.0.0.9", NOW) > 0
    assert await limits.wait("new@team.example", "10.0.0.10", NOW) == 0


@pytest.mark.parametrize(("target", "expected"), [
    ("/inbox/c/3", "/inbox/c/3"), ("/inbox?show=all", "/inbox?show=all"),
    ("https://evil.example/", "/inbox"), ("//evil.example/inbox", "/inbox"),
    ("/chat", "/inbox"), ("/inbox/login", "/inbox"), (None, "/inbox"), ("/inbox\\x", "/inbox"),
])
def test_only_a_local_inbox_page_may_follow_the_sign_in(
    target: str | None, expected: str
) -> None:
    assert safe_next(target) == expected


# -- accounts in the database -----------------------------------------------------------------


async def _create(url: str, email: str, password: str = "long enough pw") -> int:
    database = Database(url)
    try:
        async with UnitOfWork(database) as uow:
            coordinator = await create_coordinator(uow.session, email, "Anna", password)
            await uow.commit()
            return coordinator.id
    finally:
        await database.dispose()


async def _authenticate(url: str, email: str, password: str) -> int | None:
    database = Database(url)
    try:
        async with UnitOfWork(database, write=False) as uow:
            found = await authenticate(uow.session, email, password)
            return found.id if found else None
    finally:
        await database.dispose()


async def test_accounts_are_unique_per_address_whatever_its_case(database_url: str) -> None:
    created = await _create(database_url, "Anna@Team.example")
    assert await _authenticate(database_url, " anna@team.EXAMPLE ", "long enough pw") == created
    assert await _authenticate(database_url, "anna@team.example", "wrong") is None
    with pytest.raises(CoordinatorExists):
        await _create(database_url, "anna@team.example")
    with pytest.raises(WeakPassword):
        await _create(database_url, "ben@team.example", "short")


async def test_add_coordinator_is_the_command_line_way_to_create_an_account(
    database_url: str,
) -> None:
    await add_coordinator(database_url, "chris@team.example", "Chris", "a fine password")
    assert await _authenticate(database_url, "chris@team.example", "a fine password")
    with pytest.raises(CoordinatorExists):
        await add_coordinator(database_url, "chris@team.example", "Chris", "another password")


async def test_the_demo_login_gets_a_fresh_password_on_every_run(database_url: str) -> None:
    database = Database(database_url)
    try:
        async with UnitOfWork(database) as uow:
            email, first = await ensure_demo_coordinator(uow.session)
            await uow.commit()
    finally:
        await database.dispose()
    again, second = await prepare_demo_login(database_url)
    assert again == email
    assert email == DEMO_EMAIL and first != second and len(second) >= 12
    assert await _authenticate(database_url, email, first) is None
    assert await _authenticate(database_url, email, second) is not None
