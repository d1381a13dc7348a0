"""Password guessing on the inbox: slowed down for every worker, never a lock-out of the
owner, and every refused sign-in in the audit log with ids only."""

from __future__ import annotations

from aiohttp import ClientSession, CookieJar

from bot.settings import Settings
from storage.tables import AuditEntry, ThrottleCounter
from tests.clock import FakeClock
from tests.e2e.test_inbox import PASSWORD, InboxBrowser, add_login, seed_case
from tests.e2e.test_webchat_intake import rows
from tests.security.conftest import Serve, from_client

ATTACKER = "198.51.100.66"
OWNER = "203.0.113.10"


def browser_from(base: str, address: str) -> InboxBrowser:
    """A browser whose requests the proxy forwards for `address`."""
    return InboxBrowser(base, ClientSession(cookie_jar=CookieJar(unsafe=True),
                                            headers=from_client(address)))


async def test_a_guesser_cannot_lock_the_owner_out_and_the_delay_is_capped(
    proxied: Settings, serve: Serve, clock: FakeClock,
) -> None:
    base = await serve(proxied)
    login = await add_login(proxied.database_url)
    attacker, owner = browser_from(base, ATTACKER), browser_from(base, OWNER)
    try:
        statuses = [(await attacker.sign_in(login.email, f"guess {n}"))[0].status
                    for n in range(8)]
        assert statuses[:5] == [401] * 5 and 429 in statuses[5:]

        response, _ = await owner.sign_in(login.email)
        assert response.status == 200 and response.url.path == "/inbox"

        # Each failure past the free ones doubles the delay: 30 s, 60 s, 120 s, 240 s, then
        # the cap of 5 minutes.
        for seconds in (31, 61, 121, 241):
            clock.advance(seconds=seconds)
            assert (await attacker.sign_in(login.email, "guess"))[0].status == 401
        # Even the right password waits on the guesser's own address, but never for long.
        response, _ = await attacker.sign_in(login.email)
        assert response.status == 429
        assert 290 <= int(response.headers["Retry-After"]) <= 301
        clock.advance(minutes=5, seconds=1)
        response, _ = await attacker.sign_in(login.email)
        assert response.status == 200 and response.url.path == "/inbox"
    finally:
        await attacker.close()
        await owner.close()


async def test_an_address_over_its_limit_waits_even_with_a_correct_password_then_gets_in(
    proxied: Settings, serve: Serve, clock: FakeClock,
) -> None:
    base = await serve(proxied)
    login = await add_login(proxied.database_url)
    sprayer = browser_from(base, ATTACKER)
    try:
        for n in range(20):  # one try per made-up account: only the address's count grows
            response, _ = await sprayer.sign_in(f"user{n}@team.example", "Winter2026!")
            assert response.status == 401
        response, _ = await sprayer.sign_in(login.email)
        assert response.status == 429
        clock.advance(minutes=5, seconds=1)
        response, _ = await sprayer.sign_in(login.email)
        assert response.status == 200
    finally:
        await sprayer.close()


async def test_the_failures_are_counted_for_every_worker(
    proxied: Settings, serve: Serve,
) -> None:
    first, second = await serve(proxied), await serve(proxied)
    login = await add_login(proxied.database_url)
    one, two = browser_from(first, ATTACKER), browser_from(second, ATTACKER)
    try:
        for n in range(3):
            assert (await one.sign_in(login.email, f"guess {n}"))[0].status == 401
        for n in range(2):
            assert (await two.sign_in(login.email, f"more {n}"))[0].status == 401
        assert (await one.sign_in(login.email, "again"))[0].status == 429
        assert (await two.sign_in(login.email, "again"))[0].status == 429
        counters = await rows(proxied.database_url, ThrottleCounter)
        assert not any(login.email in c.key_hash or ATTACKER in c.key_hash for c in counters)
    finally:
        await one.close()
        await two.close()


async def test_refused_sign_ins_are_audited_with_ids_only(
    proxied: Settings, serve: Serve,
) -> None:
    base = await serve(proxied)
    login = await add_login(proxied.database_url)
    browser = browser_from(base, ATTACKER)
    try:
        await browser.sign_in(login.email, "a wrong password")
        await browser.sign_in("nobody@team.example", "another wrong one")
        response, _ = await browser.sign_in(login.email)
        assert response.status == 200
    finally:
        await browser.close()
    entries = sorted(await rows(proxied.database_url, AuditEntry,
                                AuditEntry.action.in_(("login", "login_failed"))),
                     key=lambda e: e.id)
    assert [(e.action, e.coordinator_id) for e in entries] == [
        ("login_failed", login.id), ("login_failed", None), ("login", login.id)]
    addresses = {e.detail["address"] for e in entries}
    assert len(addresses) == 1  # one client, one key: its attempts can be linked
    written = str([(e.action, e.detail) for e in entries])
    for secret in (ATTACKER, login.email, "nobody@team.example", "wrong", PASSWORD):
        assert secret not in written


async def test_every_view_of_the_list_is_audited_with_the_conversations_shown(
    settings: Settings, serve: Serve,
) -> None:
    base = await serve(settings)
    login = await add_login(settings.database_url)
    contact_id, _ = await seed_case(settings.database_url)
    browser = InboxBrowser(base, ClientSession(cookie_jar=CookieJar(unsafe=True)))
    try:
        await browser.sign_in(login.email)
        await browser.get("/inbox?show=mine", headers={"X-Inbox-Refresh": "1"})
        _, page = await browser.get("/inbox/audit")
    finally:
        await browser.close()
    views = sorted(await rows(settings.database_url, AuditEntry, AuditEntry.action == "list"),
                   key=lambda e: e.id)
    assert [(e.coordinator_id, e.detail) for e in views] == [
        (login.id, {"show": "attention", "contacts": [contact_id], "refresh": False}),
        (login.id, {"show": "mine", "contacts": [], "refresh": True}),
    ]
    assert "Viewed the list of conversations" in page and "1 conversation shown" in page
