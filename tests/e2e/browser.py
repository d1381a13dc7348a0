"""A real headless Chromium for page tests: the system browser, launched one way everywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, ViewportSize, async_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
PHONE_VIEWPORT: ViewportSize = {"width": 390, "height": 844}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@asynccontextmanager
async def open_browser() -> AsyncIterator[Browser]:
    """Launch the system Chromium (never a downloaded one) and close it afterwards."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            await browser.close()


async def new_phone_page(browser: Browser, locale: str = "en-GB") -> Page:
    """Open a page the size of a family's phone, touch-enabled, in the given browser locale.

    Each page gets its own context, so its own cookies: one page is one family.
    """
    context = await browser.new_context(
        viewport=PHONE_VIEWPORT,
        screen={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale=locale,
        service_workers="block",
    )
    context.set_default_timeout(15_000)
    return await context.new_page()


async def screenshot(page: Page, name: str) -> Path:
    """Save what the phone screen shows under test-artifacts/, for a human to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path
