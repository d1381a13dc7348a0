"""The web chat in a real browser, on a phone-sized screen, against the running app."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from playwright.async_api import Page, Request, Route, expect

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


async def settle(page: Page) -> None:
    """Wait until the bot has finished answering: nothing pending, nothing new for a moment."""
    seen = -1
    for _ in range(50):
        count = await page.locator("#messages > li").count()
        busy = await page.locator("#messages .msg--pending").count()
        if count == seen and not busy:
            return
        seen = count
        await page.wait_for_timeout(600)


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
            await settle(page)
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

        await settle(page)
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


async def test_page_keeps_server_order_escapes_text_and_retries_with_the_same_client_id(
    live_server: str,
) -> None:
    """The API is scripted here (page.route), to pin down races the real bot rarely produces."""
    released = asyncio.Event()
    posts: list[dict[str, Any]] = []
    polls = 0
    question = {
        "id": 1,
        "direction": "out",
        "multiple": False,
        "text": 'Which language? <img src="x" onerror="window.hacked=1">\nhttps://example.org/help.',
        "options": [{"key": "en", "label": "English"}, {"key": "fr", "label": "Français"}],
        "created_at": "2026-03-02T09:00:00+00:00",
    }
    later_question = {
        "id": 2,
        "direction": "out",
        "multiple": False,
        "text": "Who is writing to us?",
        "options": [{"key": "patient", "label": "The patient"}],
        "created_at": "2026-03-02T09:01:00+00:00",
    }
    own = {
        "id": 3,
        "direction": "in",
        "multiple": False,
        "text": "My question",
        "options": [],
        "created_at": "2026-03-02T09:01:01+00:00",
    }

    async def answer(route: Route, request: Request) -> None:
        nonlocal polls
        if request.method == "POST":
            posts.append(request.post_data_json or {})
            if len(posts) == 1:  # the first attempt fails: the page must retry, same client_id
                await route.fulfill(status=503, json={"error": "busy"})
            else:
                await route.fulfill(status=202, json={"accepted": True, "id": 3})
            return
        polls += 1
        batch: list[dict[str, Any]] = []
        if polls == 1:
            batch = [question]
        elif polls == 2:
            # The bot's next question reaches the page only after the family's own message
            # (id 3) was acknowledged, although the server wrote the question first (id 2).
            await released.wait()
            batch = [later_question, own]
        else:
            await asyncio.sleep(0.5)
        await route.fulfill(json={"messages": batch, "lang": "en", "dir": "ltr"})

    async with open_browser() as browser:
        page = await new_phone_page(browser, "en-GB")
        await page.route("**/chat/api/messages*", answer)
        await open_chat(page, live_server)

        bubble = page.locator(BOT).first
        await expect(bubble).to_contain_text('<img src="x" onerror="window.hacked=1">')
        assert await bubble.locator("img").count() == 0
        link = bubble.get_by_role("link")
        await expect(link).to_have_attribute("href", "https://example.org/help")
        await expect(link).to_have_attribute("rel", re.compile("noopener"))

        box = page.get_by_role("textbox")
        await box.fill("My question")
        await box.press("Enter")
        await expect(page.locator("#messages .msg--pending")).to_have_count(0, timeout=10_000)
        assert len(posts) == 2
        assert posts[0] == posts[1] == {"client_id": posts[0]["client_id"], "text": "My question"}
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
            posts[0]["client_id"],
        )

        released.set()
        await expect(page.locator('#messages > li[data-id="2"]')).to_be_attached()
        ids = await page.locator("#messages > li.msg").evaluate_all(
            "nodes => nodes.map(n => n.dataset.id)"
        )
        assert ids == ["1", "2", "3"]
        await expect(page.locator(FAMILY)).to_have_count(1)
        # The family's message came after the second question, so it answered it.
        await expect(page.get_by_role("button", name="The patient")).to_be_disabled()
        assert await page.evaluate("window.hacked") is None
        await screenshot(page, "webchat-scripted-order-and-escaping")
