"""A copied inbox cookie stops working when the session ends: sign-out, idleness, age,
sign-out everywhere, a password change or a deactivation on the command line."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from pathlib import Path

from aiohttp import ClientSession, CookieJar
from yarl import URL

from bot.settings import Settings
from storage.tables import AuditEntry, InboxSession, Message
from tests.clock import FakeClock
from tests.e2e.test_inbox import PASSWORD, InboxBrowser, Login, add_login, seed_case
from tests.e2e.test_webchat_intake import rows
from tests.security.conftest import Serve

REFRESH = {"X-Inbox-Refresh": "1"}


async def signed_in(base: str, login: Login, password: str = PASSWORD) -> InboxBrowser:
    """A browser signed in to the inbox (its CSRF token read from the list)."""
    browser = InboxBrowser(base, ClientSession(cookie_jar=CookieJar(unsafe=True)))
    response, _ = await browser.sign_in(login.email, password)
    assert response.status == 200 and response.url.path == "/inbox"
    return browser


def cookie_of(browser: InboxBrowser) -> str:
    """The session cookie, as a thief would copy it."""
    cookies = browser.session.cookie_jar.filter_cookies(URL(browser.base_url + "/inbox"))
    return cookies["inbox_session"].value


async def thief_with(browser: InboxBrowser) -> InboxBrowser:
    """Another machine holding a copy of the browser's cookie and CSRF token."""
    thief = InboxBrowser(browser.base_url, ClientSession(cookie_jar=CookieJar(unsafe=True)),
                         csrf=browser.csrf)
    thief.session.cookie_jar.update_cookies({"inbox_session": cookie_of(browser)},
                                            URL(browser.base_url + "/inbox"))
    return thief


async def status_of(browser: InboxBrowser, path: str = "/inbox", **options: object) -> int:
    """The status of a page load, without following the redirect to the sign-in."""
    response, _ = await browser.get(path, allow_redirects=False, **options)
    return response.status


async def sessions(database_url: str) -> list[InboxSession]:
    """Every inbox session row, oldest first."""
    return sorted(await rows(database_url, InboxSession), key=lambda s: s.created_at)


async def test_a_copied_cookie_and_its_csrf_token_die_with_the_sign_out(
    settings: Settings, serve: Serve,
) -> None:
    base = await serve(settings)
    login = await add_login(settings.database_url)
    contact_id, _ = await seed_case(settings.database_url)
    browser = await signed_in(base, login)
    thief = await thief_with(browser)
    try:
        assert await status_of(thief) == 200
        response, _ = await browser.post("/inbox/logout")
        assert response.url.path == "/inbox/login"

        assert await status_of(thief) == 302
        assert await status_of(thief, f"/inbox/c/{contact_id}") == 302
        response, _ = await thief.post(f"/inbox/c/{contact_id}/reply", {"text": "hello"})
        assert response.status == 403
        assert await rows(settings.database_url, Message, Message.author == "coordinator") == []
        [ended] = await sessions(settings.database_url)
        assert ended.ended_at is not None and ended.end_reason == "logout"
        assert ended.id_hash == hashlib.sha256(cookie_of(thief).encode()).hexdigest()
    finally:
        await browser.close()
        await thief.close()


async def test_an_idle_session_ends_and_the_lists_background_refresh_does_not_keep_it(
    settings: Settings, serve: Serve, clock: FakeClock,
) -> None:
    base = await serve(settings)
    login = await add_login(settings.database_url)
    browser = await signed_in(base, login)
    try:
        for _ in range(5):
            clock.advance(minutes=5)
            assert await status_of(browser, headers=REFRESH) == 200
        clock.advance(minutes=5)  # 30 minutes since the coordinator last did anything
        assert await status_of(browser, headers=REFRESH) == 302
        clock.advance(seconds=1)
        assert await status_of(browser) == 302
        [idle] = await sessions(settings.database_url)
        assert idle.end_reason == "idle"
    finally:
        await browser.close()


async def test_activity_keeps_a_session_until_its_absolute_lifetime(
    settings: Settings, serve: Serve, clock: FakeClock,
) -> None:
    base = await serve(settings.with_overrides(inbox_session_hours=1.0))
    login = await add_login(settings.database_url)
    browser = await signed_in(base, login)
    try:
        for _ in range(2):
            clock.advance(minutes=25)
            assert await status_of(browser) == 200
        clock.advance(minutes=10)
        assert await status_of(browser) == 302
        [old] = await sessions(settings.database_url)
        assert old.end_reason == "expired"
    finally:
        await browser.close()


async def test_the_last_activity_is_written_at_most_once_a_minute(
    settings: Settings, serve: Serve, clock: FakeClock,
) -> None:
    base = await serve(settings)
    login = await add_login(settings.database_url)
    started = clock()
    browser = await signed_in(base, login)
    try:
        clock.advance(seconds=30)
        assert await status_of(browser) == 200
        [session] = await sessions(settings.database_url)
        assert session.last_seen_at == started
        clock.advance(seconds=31)
        assert await status_of(browser) == 200
        [session] = await sessions(settings.database_url)
        assert session.last_seen_at == clock()
    finally:
        await browser.close()


async def test_signing_out_everywhere_ends_this_coordinators_other_sessions_only(
    settings: Settings, serve: Serve,
) -> None:
    base = await serve(settings)
    anna = await add_login(settings.database_url)
    ben = await add_login(settings.database_url, "ben@team.example", "Ben Claes")
    laptop, phone, colleague = (
        await signed_in(base, anna), await signed_in(base, anna), await signed_in(base, ben))
    try:
        _, page = await laptop.get("/inbox")
        assert "Sign out everywhere" in page
        response, _ = await laptop.post("/inbox/logout/everywhere")
        assert response.url.path == "/inbox/login"
        assert await status_of(phone) == 302
        assert await status_of(laptop) == 302
        assert await status_of(colleague) == 200
        entries = await rows(settings.database_url, AuditEntry,
                             AuditEntry.action == "logout_all")
        assert [(e.coordinator_id, e.detail) for e in entries] == [
            (anna.id, {"sessions_ended": 2})]
    finally:
        for browser in (laptop, phone, colleague):
            await browser.close()


async def intake_bot(settings: Settings, cwd: Path, *args: str,
                     password: str | None = None) -> tuple[int, str]:
    """Run the `intake-bot` command as an operator would; exit code and output."""
    env = {**os.environ, "DATABASE_URL": settings.database_url,
           "DATA_DIR": str(settings.data_dir)}
    env.pop("COORDINATOR_PASSWORD", None)
    if password is not None:
        env["COORDINATOR_PASSWORD"] = password
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_changing_a_password_on_the_command_line_ends_every_session(
    settings: Settings, serve: Serve, tmp_path: Path,
) -> None:
    base = await serve(settings)
    login = await add_login(settings.database_url)
    browser = await signed_in(base, login)
    try:
        code, output = await intake_bot(settings, tmp_path, "change-password",
                                        login.email.upper(), password="a brand new secret")
        assert code == 0 and "1 inbox session(s) ended" in output
        assert "a brand new secret" not in output
        assert await status_of(browser) == 302

        fresh = InboxBrowser(base, ClientSession(cookie_jar=CookieJar(unsafe=True)))
        try:
            response, _ = await fresh.sign_in(login.email, PASSWORD)
            assert response.status == 401
            response, _ = await fresh.sign_in(login.email, "a brand new secret")
            assert response.status == 200 and response.url.path == "/inbox"
        finally:
            await fresh.close()

        code, output = await intake_bot(settings, tmp_path, "change-password", login.email,
                                        password="short")
        assert code == 1 and "not changed" in output
        code, output = await intake_bot(settings, tmp_path, "change-password",
                                        "nobody@team.example", password="long enough pw")
        assert code == 1 and "not changed" in output
    finally:
        await browser.close()


async def test_a_deactivated_coordinator_is_out_at_once_and_cannot_sign_in_again(
    settings: Settings, serve: Serve, tmp_path: Path,
) -> None:
    base = await serve(settings)
    login = await add_login(settings.database_url)
    browser = await signed_in(base, login)
    try:
        code, output = await intake_bot(settings, tmp_path, "deactivate-coordinator",
                                        login.email)
        assert code == 0 and "1 inbox session(s) ended" in output
        assert await status_of(browser) == 302
        response, _ = await browser.sign_in(login.email, PASSWORD)
        assert response.status == 401
        [ended] = await sessions(settings.database_url)
        assert ended.end_reason == "deactivated"
        actions = [(e.coordinator_id, e.action) for e in await rows(
            settings.database_url, AuditEntry, AuditEntry.coordinator_id == login.id)]
        assert (login.id, "account_deactivated") in actions
        assert actions[-1] == (login.id, "login_failed")
    finally:
        await browser.close()


async def test_the_database_keeps_only_hashes_of_session_tokens(
    settings: Settings, serve: Serve,
) -> None:
    base = await serve(settings)
    login = await add_login(settings.database_url)
    browser = await signed_in(base, login)
    try:
        token = cookie_of(browser)
        stored = await rows(settings.database_url, InboxSession)
        assert [s.coordinator_id for s in stored] == [login.id]
        assert token not in str([(s.id_hash, s.end_reason) for s in stored])
    finally:
        await browser.close()
