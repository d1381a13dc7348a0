"""The coordinator inbox in a real browser, on a laptop and a tablet screen."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, ConsoleMessage, Page, ViewportSize, expect

from bot.app import create_app
from bot.settings import Settings
from bot.web.inbox import setup_inbox
from tests.e2e.browser import ARTIFACTS, open_browser, screenshot
from tests.e2e.chat_client import ChatFamily
from tests.e2e.test_inbox import PASSWORD, Login, add_login, complete_intake

pytestmark = pytest.mark.browser

LAPTOP: ViewportSize = {"width": 1366, "height": 860}
TABLET: ViewportSize = {"width": 820, "height": 1180}
REPLY = "Bonjour, je suis Anna, votre coordinatrice. Nous avons bien reçu votre demande."


@pytest.fixture
async def live_inbox(settings: Settings) -> AsyncIterator[str]:
    """The app with the inbox on a real loopback port."""
    app = create_app(settings)
    setup_inbox(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def new_page(browser: Browser, viewport: ViewportSize, errors: list[str]) -> Page:
    """A page of its own (own cookies) that collects console errors, CSP refusals included."""
    context = await browser.new_context(viewport=viewport, locale="en-GB",
                                        service_workers="block")
    context.set_default_timeout(15_000)
    page = await context.new_page()

    def collect(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", collect)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page


async def sign_in(page: Page, base_url: str, login: Login) -> None:
    """Open the inbox, land on the sign-in form, sign in."""
    await page.goto(f"{base_url}/inbox")
    await expect(page).to_have_url(re.compile(r"/inbox/login\?next="))
    await page.get_by_label("E-mail address").fill(login.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Conversations")).to_be_visible()


async def test_a_coordinator_signs_in_opens_the_case_and_replies(
    live_inbox: str, settings: Settings,
) -> None:
    login = await add_login(settings.database_url)
    family = await ChatFamily.open(live_inbox)
    errors: list[str] = []
    try:
        await complete_intake(family)
        async with open_browser() as browser:
            page = await new_page(browser, LAPTOP, errors)
            await sign_in(page, live_inbox, login)
            row = page.get_by_role("link", name="Amira Benali")
            await expect(row).to_be_visible()
            await screenshot(page, "inbox-list-laptop")

            await row.click()
            await expect(page.get_by_role("heading", name="Case summary")).to_be_visible()
            summary = page.locator(".summary")
            await expect(summary).to_contain_text("14 May 2015")
            await expect(summary).to_contain_text("Is surgery necessary now?")
            await expect(page.locator(".checklist")).to_contain_text("Referral letter")
            await screenshot(page, "inbox-conversation-laptop")

            await page.get_by_label("Reply to the family").fill(REPLY)
            await page.get_by_role("button", name="Send reply").click()
            await expect(page.get_by_role("status")).to_contain_text(
                "Your message is on its way to the family.")
            mine = page.locator("#transcript .line--coordinator").last
            await expect(mine).to_contain_text(REPLY)
            await expect(mine).to_contain_text("Coordinator Anna Peeters")
            for _ in range(20):
                if await mine.locator(".delivery--sent").count():
                    break
                await page.wait_for_timeout(250)
                await page.reload()
                mine = page.locator("#transcript .line--coordinator").last
            await expect(mine.locator(".delivery--sent")).to_have_text("Sent")
            await screenshot(page, "inbox-reply-sent-laptop")
            await page.screenshot(path=str(ARTIFACTS / "inbox-conversation-laptop-full.png"),
                                  full_page=True)

            tablet = await new_page(browser, TABLET, errors)
            await sign_in(tablet, live_inbox, login)
            await tablet.goto(f"{live_inbox}/inbox?show=all")
            await tablet.get_by_role("link", name="Amira Benali").click()
            await expect(tablet.locator("#transcript")).to_contain_text(REPLY)
            await screenshot(tablet, "inbox-conversation-tablet")
            await tablet.goto(f"{live_inbox}/inbox?show=all&lang=ar")
            await expect(tablet.locator("html")).to_have_attribute("dir", "rtl")
            await screenshot(tablet, "inbox-list-tablet-arabic")

        replies = await family.replies()
        assert [m["text"] for m in replies] == [REPLY]
    finally:
        await family.close()
    assert errors == []


async def test_the_inbox_is_usable_with_the_keyboard_alone(
    live_inbox: str, settings: Settings,
) -> None:
    login = await add_login(settings.database_url)
    errors: list[str] = []
    async with open_browser() as browser:
        page = await new_page(browser, LAPTOP, errors)
        await page.goto(f"{live_inbox}/inbox/login")
        await expect(page.get_by_label("E-mail address")).to_be_focused()
        await page.keyboard.type(login.email)
        await page.keyboard.press("Tab")
        await expect(page.get_by_label("Password")).to_be_focused()
        await page.keyboard.type(PASSWORD)
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("heading", name="Conversations")).to_be_visible()
        await expect(page.get_by_text("Nothing needs attention right now.")).to_be_visible()
        await page.keyboard.press("Tab")
        await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page.locator("#main")).to_be_focused()
        await page.get_by_label("Sort by").select_option("activity")
        await expect(page).to_have_url(f"{live_inbox}/inbox?show=attention&sort=activity")
    assert errors == []
