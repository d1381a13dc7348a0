"""Series previews in a real browser: the picture loads under the inbox's security policy."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from bot.settings import Settings
from storage.tables import Contact
from tests.dicom_factory import iter_study
from tests.e2e.browser import open_browser, screenshot
from tests.e2e.test_imaging import AMIRA, SCREENSHOTS, send_batch
from tests.e2e.test_inbox import add_login
from tests.e2e.test_inbox_browser import LAPTOP, new_page, sign_in
from tests.e2e.test_webchat_intake import rows
from tests.e2e.upload_client import Intake, submitted

pytestmark = pytest.mark.browser


async def test_a_coordinator_sees_series_previews_next_to_their_verdicts(
    settings: Settings,
) -> None:
    async with submitted(settings) as intake:
        await _check_previews(intake)


async def _check_previews(intake: Intake) -> None:
    await send_batch(intake, "sc", iter_study(instances=3, gradient=True, **SCREENSHOTS,
                                              **AMIRA))
    await send_batch(intake, "ct", iter_study(instances=15, rows=64, columns=64,
                                              gradient=True, **AMIRA))
    login = await add_login(intake.settings.database_url)
    (contact,) = await rows(intake.settings.database_url, Contact)
    errors: list[str] = []
    async with open_browser() as browser:
        page = await new_page(browser, LAPTOP, errors)
        await sign_in(page, intake.base, login)
        await page.goto(f"{intake.base}/inbox/c/{contact.id}")
        series = page.locator(".series")
        await expect(series).to_have_count(2)
        await expect(page.locator(".series--problem")).to_contain_text(
            "Screen captures or derived images")
        await expect(page.locator(".series--ok")).to_contain_text("Diagnostic quality")
        previews = page.locator("img.series__preview")
        await expect(previews).to_have_count(2)
        for index in range(2):
            preview = previews.nth(index)
            await preview.scroll_into_view_if_needed()
            await expect(preview).to_have_js_property("complete", True)
            assert await preview.evaluate("img => img.naturalWidth") > 0
        await screenshot(page, "inbox-imaging-series")
    assert errors == []
