"""The chat page in a real browser: "forget this device" and the polite answer to a flood."""

from __future__ import annotations

import pytest
from playwright.async_api import Dialog, expect

from storage.db import Database
from storage.tables import Contact
from tests.e2e.browser import new_phone_page, open_browser
from tests.security.conftest import Start, count

pytestmark = pytest.mark.browser

BOT = "#messages > li.msg--out"
FAMILY = "#messages > li.msg--in"


async def test_forgetting_this_device_starts_a_new_conversation_in_the_browser(
    start: Start, db: Database
) -> None:
    base = await start()
    async with open_browser() as browser:
        page = await new_phone_page(browser, locale="fr-BE")
        await page.goto(f"{base}/chat")
        await expect(page.locator("#messages .option").first).to_be_enabled()
        await page.locator('#messages .option[data-key="fr"]').click()
        await expect(page.locator(FAMILY)).to_have_count(1)
        await page.locator("#composer-input").fill("un brouillon")
        questions: list[str] = []

        async def accept(dialog: Dialog) -> None:
            questions.append(dialog.message)
            await dialog.accept()

        page.on("dialog", accept)
        forget = page.get_by_role("button", name="Oublier cet appareil")
        async with page.expect_navigation():
            await forget.click()
        assert questions and "coordinateurs la conservent" in questions[0]
        await expect(page.locator(BOT).first).to_be_visible()
        await expect(page.locator(FAMILY)).to_have_count(0)
        await expect(page.locator("#composer-input")).to_have_value("")
    assert await count(db, Contact) == 2


async def test_a_refused_new_conversation_is_explained_in_the_familys_language(
    start: Start, db: Database
) -> None:
    base = await start(new_conversations_per_hour=0)
    async with open_browser() as browser:
        page = await new_phone_page(browser, locale="nl-BE")
        await page.goto(f"{base}/chat")
        notice = page.locator("#connection")
        await expect(notice).to_be_visible()
        await expect(notice).to_contain_text("Probeer het later opnieuw.")
    assert await count(db, Contact) == 0
