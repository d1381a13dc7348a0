"""The web chat in a real browser, on a phone-sized screen, against the running app."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.e2e.browser import new_phone_page, open_browser, screenshot

pytestmark = pytest.mark.browser

BOT = "#messages > li.msg--out"
FAMILY = "#messages > li.msg--in"
LIVE_CHOICES = "#messages .options:not(.options--past)"
# When a question asks for consent or urgency, prefer the answer that lets the intake go on.
PREFERRED_KEYS = ("yes", "agree", "accept", "consent", "i_agree", "none")
FREE_TEXT = (
    "My father is 67. The surgeon proposes removing the kidney.\nIs surgery the right choice?"
)
FREE_TEXT_END = "Is surgery the right choice?"


async def open_chat(page: Page, base_url: str) -> None:
    """Open the chat and wait for the bot's first message (the language question)."""
    await page.goto(f"{base_url}/chat")
    await expect(page.locator(BOT).first).to_be_visible()
    await expect(page.locator(f"{LIVE_CHOICES} .option").first).to_be_enabled()


async def wait_for_more(page: Page, selector: str, than: int) -> None:
    """Wait until more than `than` elements match (the bot may answer with several messages)."""
    await expect(page.locator(selector).nth(than)).to_be_attached()


async def answer_with_a_button(page: Page) -> None:
    """Tap a choice of the last question (ticking one and sending, for a multiple choice)."""
    bots, family = await page.locator(BOT).count(), await page.locator(FAMILY).count()
    question = page.locator(LIVE_CHOICES).last.locator("xpath=..")
    question_id = await question.get_attribute("data-id")
    # Pin the question by id: once answered, it no longer matches LIVE_CHOICES.
    group = page.locator(f'#messages > li[data-id="{question_id}"] .options')
    buttons = group.locator(".option")
    keys = [await button.get_attribute("data-key") for button in await buttons.all()]
    index = next((i for i, key in enumerate(keys) if key in PREFERRED_KEYS), 0)
    button = buttons.nth(index)
    label = (await button.inner_text()).strip()
    await button.tap()
    if await group.get_attribute("data-multiple") == "true":
        await expect(button).to_have_attribute("aria-pressed", "true")
        await group.locator(".option-send").tap()
    await expect(button).to_be_disabled()
    await wait_for_more(page, BOT, bots)
    await expect(page.locator(FAMILY)).to_have_count(family + 1)
    await expect(page.locator(FAMILY).last).to_contain_text(label)
    await expect(buttons.first).to_be_disabled()


async def test_family_answers_by_buttons_and_text_and_finds_it_all_after_reload(
    live_server: str,
) -> None:
    async with open_browser() as browser:
        page = await new_phone_page(browser, "en-GB")
        await open_chat(page, live_server)

        english = page.get_by_role("button", name="English", exact=True)
        bots = await page.locator(BOT).count()
        await english.tap()
        await expect(english).to_be_disabled()
        await wait_for_more(page, BOT, bots)
        await expect(page.locator(FAMILY)).to_have_count(1)
        await expect(page.locator(FAMILY).first).to_contain_text("English")
        await expect(page.locator("html")).to_have_attribute("lang", "en")

        for _ in range(3):
            if not await page.locator(LIVE_CHOICES).count():
                break
            await answer_with_a_button(page)

        bots, family = await page.locator(BOT).count(), await page.locator(FAMILY).count()
        box = page.get_by_role("textbox")
        await box.fill(FREE_TEXT)
        await box.press("Enter")
        await expect(box).to_have_value("")
        await expect(page.locator(FAMILY)).to_have_count(family + 1)
        await expect(page.locator(FAMILY).last).to_contain_text(FREE_TEXT_END)
        await wait_for_more(page, BOT, bots)
        await expect(page.locator("#messages .msg--pending")).to_have_count(0)
        # Older questions keep their buttons, inactive.
        await expect(page.locator("#messages .options--past .option").first).to_be_disabled()

        before = await page.locator("#messages > li.msg .msg__text").all_inner_texts()
        await page.reload()
        await wait_for_more(page, "#messages > li.msg", len(before) - 1)
        after = await page.locator("#messages > li.msg .msg__text").all_inner_texts()
        assert after[: len(before)] == before
        await expect(page.get_by_role("button", name="English", exact=True)).to_be_disabled()
        await expect(page.locator(FAMILY).filter(has_text=FREE_TEXT_END)).to_have_count(1)
        await screenshot(page, "webchat-english-history-after-reload")


async def test_choosing_arabic_turns_the_page_right_to_left(live_server: str) -> None:
    async with open_browser() as browser:
        page = await new_phone_page(browser, "en-GB")
        await open_chat(page, live_server)
        bots = await page.locator(BOT).count()

        await page.get_by_role("button", name="العربية", exact=True).tap()
        # The page reloads itself, rendered by the server in the new language.
        await page.wait_for_function(
            "() => JSON.parse(document.getElementById('chat-config').textContent).lang === 'ar'"
        )
        html = page.locator("html")
        await expect(html).to_have_attribute("dir", "rtl")
        await expect(html).to_have_attribute("lang", "ar")
        await wait_for_more(page, BOT, bots)
        await expect(page.get_by_role("button", name="العربية")).to_be_disabled()

        # Right to left: the family's bubble sits on the left, the bot's on the right.
        family_box = await page.locator(f"{FAMILY} .msg__bubble").first.bounding_box()
        bot_box = await page.locator(f"{BOT} .msg__bubble").last.bounding_box()
        assert family_box is not None and bot_box is not None
        assert family_box["x"] < bot_box["x"]
        assert bot_box["x"] + bot_box["width"] > family_box["x"] + family_box["width"]
        await screenshot(page, "webchat-arabic-right-to-left")


async def test_message_typed_while_offline_is_sent_once_when_the_connection_returns(
    live_server: str,
) -> None:
    async with open_browser() as browser:
        page = await new_phone_page(browser, "en-GB")
        await open_chat(page, live_server)
        bots = await page.locator(BOT).count()
        await page.get_by_role("button", name="English", exact=True).tap()
        await wait_for_more(page, BOT, bots)
        await expect(page.locator("#typing")).to_be_hidden()
        bots = await page.locator(BOT).count()

        await page.context.set_offline(True)
        box = page.get_by_role("textbox")
        await box.fill("Written on a train without signal")
        await box.press("Enter")
        pending = page.locator("#messages .msg--pending")
        await expect(pending).to_contain_text("Written on a train without signal")
        await expect(page.locator("#connection")).to_be_visible()
        await screenshot(page, "webchat-offline-pending")

        await page.context.set_offline(False)
        await expect(pending).to_have_count(0, timeout=20_000)
        await expect(page.locator("#connection")).to_be_hidden(timeout=20_000)
        sent = page.locator(FAMILY).filter(has_text=re.compile("Written on a train"))
        await expect(sent).to_have_count(1)
        await wait_for_more(page, BOT, bots)
        await expect(sent).to_have_count(1)
        await screenshot(page, "webchat-offline-delivered")
