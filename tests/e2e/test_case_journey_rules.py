"""The rules around a case's second half: links revoked, second factor, e-mail failures,
declined quotes, saved replies that are not ready."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientSession, web

from bot.access.client_address import parse_networks
from bot.journey.desks import JOURNEY
from bot.settings import Settings
from intake.case import CaseStatus
from storage.tables import (
    AuditEntry,
    Case,
    Contact,
    Email,
    Message,
    Opinion,
    OpinionLink,
    Quote,
)
from tests.e2e.chat_client import ChatFamily, texts
from tests.e2e.journey_helpers import (
    OPINION_LINK,
    OPINION_PDF,
    CasePage,
    complete_the_file,
    only_contact_id,
    seed_case_for,
)
from tests.e2e.test_inbox import SEEDED_ANSWERS, InboxBrowser, add_login, visible
from tests.e2e.test_webchat_intake import rows, start_server
from tests.e2e.upload_client import submit_case
from tests.fakes.smtp import FakeSmtp


@dataclass
class Opened:
    """The app, a chatting family whose case is at some status, a coordinator on its page."""

    page: CasePage
    base: str
    family: ChatFamily
    app: web.Application


async def open_case_page(settings: Settings, status: str,
                         answers: dict[str, Any] | None = None) -> AsyncIterator[Opened]:
    """Start the app, let a family say hello in the web chat, give it a case in `status`."""
    server, base = await start_server(settings)
    login = await add_login(settings.database_url)
    family = await ChatFamily.open(base)
    browser = await InboxBrowser.open(base)
    try:
        await family.say("Hello")
        contact_id = await only_contact_id(settings.database_url)
        await seed_case_for(settings.database_url, contact_id, status,
                            answers or SEEDED_ANSWERS)
        await browser.sign_in(login.email)
        yield Opened(CasePage(browser, contact_id), base, family, server.app)
    finally:
        await family.close()
        await browser.close()
        await server.close()


async def family_texts(database_url: str) -> str:
    """Everything written to the family so far."""
    found = await rows(database_url, Message, Message.direction == "out")
    return "\n".join(m.text for m in sorted(found, key=lambda m: m.id))


def latest_token(text: str) -> str:
    """The last opinion link's token in a text."""
    tokens = OPINION_LINK.findall(text)
    assert tokens
    return str(tokens[-1])


@pytest.fixture
async def in_review(settings: Settings, smtp: FakeSmtp) -> AsyncIterator[Opened]:
    """A case with the specialists, mail on, the loopback proxy trusted (client addresses)."""
    mail = settings.with_overrides(smtp_url=smtp.url, mail_poll_seconds=0.1,
                                   trusted_proxies=parse_networks("127.0.0.1/32"))
    async for opened in open_case_page(mail, CaseStatus.IN_REVIEW_SPECIALIST):
        yield opened


async def test_a_corrected_opinion_revokes_the_old_link_and_the_new_one_works(
    in_review: Opened, settings: Settings,
) -> None:
    page, base = in_review.page, in_review.base
    await page.send_opinion(OPINION_PDF)
    first = latest_token(await family_texts(settings.database_url))
    corrected = OPINION_PDF + b"% corrected\n"
    response, _ = await page.send_opinion(corrected)
    assert response.status == 200
    told = await family_texts(settings.database_url)
    assert "A corrected version of the written opinion" in told
    second = latest_token(told)
    async with ClientSession(headers={"Accept-Language": "fr"}) as http:
        old = await http.get(f"{base}/opinion/{first}")
        text = await old.text()
        assert old.status == 410 and "SO-" not in text and 'lang="fr"' in text
        unknown = await http.get(f"{base}/opinion/{'x' * 43}")
        assert unknown.status == 404
        new = await http.post(f"{base}/opinion/{second}", data={"birth_date": "14.05.2015"})
        assert await new.read() == corrected
    opinions = sorted(await rows(settings.database_url, Opinion), key=lambda o: o.id)
    assert opinions[0].replaced_at is not None and opinions[1].replaced_at is None
    (case,) = await rows(settings.database_url, Case)
    assert case.status == "opinion_delivered"  # a correction does not move the case again


async def test_opening_the_page_counts_nothing_only_the_button_downloads(
    in_review: Opened, settings: Settings,
) -> None:
    page, base = in_review.page, in_review.base
    await page.send_opinion(OPINION_PDF)
    token = latest_token(await family_texts(settings.database_url))
    async with ClientSession() as http:
        for _ in range(3):  # a messaging app drawing a preview
            assert (await http.get(f"{base}/opinion/{token}")).status == 200
    assert not await rows(settings.database_url, AuditEntry,
                          AuditEntry.action == "opinion_download")
    assert "not opened yet" in visible(await page.open())


async def test_wrong_dates_of_birth_are_throttled_per_address_never_locking_out_the_family(
    in_review: Opened, settings: Settings,
) -> None:
    page, base = in_review.page, in_review.base
    await page.send_opinion(OPINION_PDF)
    token = latest_token(await family_texts(settings.database_url))
    guesser = {"X-Forwarded-For": "203.0.113.9"}
    family = {"X-Forwarded-For": "198.51.100.7"}
    async with ClientSession() as http:
        for guess in ("01/01/2015", "02/01/2015", "2015-01-03", "4-1-2015", "nonsense"):
            wrong = await http.post(f"{base}/opinion/{token}", data={"birth_date": guess},
                                    headers=guesser)
            assert wrong.status == 400
        held = await http.post(f"{base}/opinion/{token}", data={"birth_date": "14/05/2015"},
                               headers=guesser)
        assert held.status == 429 and "Retry-After" in held.headers
        right = await http.post(f"{base}/opinion/{token}", data={"birth_date": "14/05/2015"},
                                headers=family)
        assert right.status == 200 and await right.read() == OPINION_PDF
    (link,) = await rows(settings.database_url, OpinionLink, OpinionLink.audience == "family")
    assert link.downloads == 1 and link.first_opened_at is not None


async def test_an_opinion_posted_without_the_form_token_is_refused_and_nothing_is_stored(
    in_review: Opened, settings: Settings,
) -> None:
    page = in_review.page
    response, _ = await page.send_opinion(OPINION_PDF, csrf="forged")
    assert response.status == 403
    assert not await rows(settings.database_url, Opinion)
    objects = settings.data_dir / "files" / "objects"
    assert not objects.exists() or not [p for p in objects.rglob("*") if p.is_file()]


async def test_no_doctor_address_is_flagged_then_added_and_a_refused_mail_is_retried(
    settings: Settings, smtp: FakeSmtp,
) -> None:
    mail_on = settings.with_overrides(smtp_url=smtp.url, mail_poll_seconds=0.1)
    answers = {**SEEDED_ANSWERS, "physician_contact": "+212 522 00 00 00"}
    async for opened in open_case_page(mail_on, CaseStatus.IN_REVIEW_SPECIALIST, answers):
        page = opened.page
        await page.send_opinion(OPINION_PDF)
        assert "No e-mail address on file for the treating doctor" in visible(await page.open())
        assert not await rows(settings.database_url, Email)
        response, html = await page.post("doctor/address", email="not an address")
        assert response.status == 400 and "valid e-mail address" in visible(html)
        response, _ = await page.post("doctor/address", email="k.alami@chu.example")
        assert response.status == 200
        smtp.refuse.append(451)  # the first attempt is turned away for now
        opened.app[JOURNEY].doctor.retry_seconds = 0.2
        response, _ = await page.post("doctor/send")
        assert response.status == 200
        (email,) = await rows(settings.database_url, Email)
        assert email.to_address == "k.alami@chu.example"
        (mail,) = await smtp.wait_for(1)
        assert mail["To"] == "k.alami@chu.example"
        (email,) = await rows(settings.database_url, Email)
        assert email.status == "sent" and email.attempts == 2


async def test_a_mailbox_that_does_not_exist_is_shown_as_failed(
    settings: Settings, smtp: FakeSmtp,
) -> None:
    mail_on = settings.with_overrides(smtp_url=smtp.url, mail_poll_seconds=0.1)
    smtp.refuse.append(550)
    async for opened in open_case_page(mail_on, CaseStatus.IN_REVIEW_SPECIALIST):
        page = opened.page
        await page.send_opinion(OPINION_PDF)
        for _ in range(100):
            (email,) = await rows(settings.database_url, Email)
            if email.status == "failed":
                break
            await asyncio.sleep(0.05)
        assert email.status == "failed" and email.attempts == 1
        assert not smtp.received
        assert "failed (recipient refused)" in visible(await page.open())


async def test_without_smtp_the_opinion_reaches_the_family_and_the_inbox_says_mail_is_off(
    settings: Settings,
) -> None:
    async for opened in open_case_page(settings, CaseStatus.IN_REVIEW_SPECIALIST):
        page = opened.page
        response, _ = await page.send_opinion(OPINION_PDF)
        assert response.status == 200
        assert "E-mail is not set up on this server." in visible(await page.open())
        assert "/opinion/" in await family_texts(settings.database_url)
        assert not await rows(settings.database_url, Email)


async def test_a_declined_quote_keeps_the_review_closed_until_a_new_one_is_accepted(
    settings: Settings,
) -> None:
    async for opened in open_case_page(settings, CaseStatus.FILE_COMPLETE):
        page = opened.page
        response, _ = await page.post("quote", service="written_opinion", amount="450,50")
        assert response.status == 200
        assert "\u20ac450.50" in await family_texts(settings.database_url)
        (quote,) = await rows(settings.database_url, Quote)
        assert quote.amount_cents == 45050 and quote.within_range
        declined = await opened.family.tap("quote_decline")
        assert "decline the quote" in texts(declined)
        assert "Declined by the family" in visible(await page.open())
        response, html = await page.move("in_review_specialist")
        assert response.status == 400
        response, _ = await page.post("quote", service="written_opinion", amount="400")
        assert response.status == 200
        await opened.family.replies()
        assert "accepted the quote" in texts(await opened.family.say("1"))  # numbered
        quotes = sorted(await rows(settings.database_url, Quote), key=lambda q: q.id)
        assert [(q.answer, q.superseded_at is not None) for q in quotes] == [
            ("declined", True), ("accepted", False)]
        response, _ = await page.move("in_review_specialist")
        assert response.status == 200


async def test_a_saved_reply_missing_a_language_or_with_an_unknown_placeholder_is_not_sent(
    settings: Settings,
) -> None:
    async for opened in open_case_page(settings, CaseStatus.FILE_COMPLETE):
        page = opened.page
        browser = page.browser
        await browser.get("/inbox/replies/new")
        response, html = await browser.post("/inbox/replies/new", {
            "title_en": "Oops", "body_en": "Dear {name}"})
        assert response.status == 400 and "Use only these placeholders" in visible(html)
        response, _ = await browser.post("/inbox/replies/new", {
            "title_en": "English only", "body_en": "Hello {patient}"})
        assert response.status == 200
        _, listing = await browser.get("/inbox/replies")
        assert "English only" in visible(listing) and "Missing: AR, FR, NL, RU, TR" in visible(
            listing)
        assert "English only" not in await page.open()
        reply_id = listing.split("English only")[0].rsplit('id="reply-', 1)[1].split('"')[0]
        response, _ = await page.post("saved-reply", reply=reply_id)
        assert response.status == 400
        assert "English only" not in await family_texts(settings.database_url)


async def test_erasing_my_data_removes_the_opinion_its_links_and_the_doctor_mails(
    in_review: Opened, settings: Settings, smtp: FakeSmtp,
) -> None:
    page, base, family = in_review.page, in_review.base, in_review.family
    await page.send_opinion(OPINION_PDF)
    token = latest_token(await family_texts(settings.database_url))
    await smtp.wait_for(1)
    await family.replies()
    await family.say("erase my data")
    erased = await family.tap("yes")
    assert "has been erased" in texts(erased)
    async with ClientSession() as http:
        gone = await http.post(f"{base}/opinion/{token}", data={"birth_date": "14/05/2015"})
        assert gone.status == 404 and await gone.read() != OPINION_PDF
    for model in (Opinion, OpinionLink, Email, Quote):
        assert await rows(settings.database_url, model) == []
    objects = settings.data_dir / "files" / "objects"
    assert [p for p in objects.rglob("*") if p.is_file()] == []


async def test_new_link_after_the_opinion_reissues_the_opinion_link_and_revokes_the_old(
    in_review: Opened, settings: Settings,
) -> None:
    page, base, family = in_review.page, in_review.base, in_review.family
    await page.send_opinion(OPINION_PDF)
    first = latest_token(texts(await family.replies()))
    second = latest_token(texts(await family.say("new link")))
    response, _ = await page.post("opinion/link")
    assert response.status == 200
    third = latest_token(texts(await family.replies()))
    assert len({first, second, third}) == 3
    async with ClientSession() as http:
        for old in (first, second):
            assert (await http.get(f"{base}/opinion/{old}")).status == 410
        assert (await http.get(f"{base}/opinion/{third}")).status == 200
    actions = [a.action for a in await rows(settings.database_url, AuditEntry)]
    assert "opinion_link_reissued" in actions


async def test_a_question_in_the_follow_up_period_is_flagged_until_a_coordinator_handles_it(
    settings: Settings,
) -> None:
    async for opened in open_case_page(settings, CaseStatus.FOLLOW_UP):
        page, family = opened.page, opened.family
        await family.replies()
        answer = texts(await family.say("Should the dose change after the operation?"))
        assert "A coordinator will read it" in answer
        (contact,) = await rows(settings.database_url, Contact)
        assert contact.needs_human and contact.unread >= 1
        _, listing = await page.browser.get("/inbox")
        assert f'href="/inbox/c/{page.contact_id}"' in listing  # on the "needs attention" list
        await page.browser.get(f"/inbox/c/{page.contact_id}")
        response, _ = await page.browser.post(f"/inbox/c/{page.contact_id}/handled")
        assert response.status == 200
        (contact,) = await rows(settings.database_url, Contact)
        assert not contact.needs_human
        handled = await rows(settings.database_url, AuditEntry, AuditEntry.action == "handled")
        assert len(handled) == 1


async def test_a_case_paid_elsewhere_goes_to_review_without_a_quote_and_it_can_be_undone(
    settings: Settings,
) -> None:
    async for opened in open_case_page(settings, CaseStatus.FILE_COMPLETE):
        page = opened.page
        response, _ = await page.post("paid-elsewhere", paid="yes")
        assert response.status == 200
        assert "Paid elsewhere: the review needs no quote." in visible(await page.open())
        response, _ = await page.post("paid-elsewhere", paid="no")
        assert response.status == 200
        response, _ = await page.move("in_review_specialist")
        assert response.status == 400
        await page.post("paid-elsewhere", paid="yes")
        response, _ = await page.move("in_review_specialist")
        assert response.status == 200
        assert not await rows(settings.database_url, Quote)
        marks = await rows(settings.database_url, AuditEntry,
                           AuditEntry.action == "paid_elsewhere")
        assert [m.detail["paid"] for m in marks] == [True, False, True]


async def test_without_quote_required_the_review_starts_at_once(settings: Settings) -> None:
    async for opened in open_case_page(settings.with_overrides(quote_required=False),
                                       CaseStatus.FILE_COMPLETE):
        response, _ = await opened.page.move("in_review_tumour_board")
        assert response.status == 200


async def test_without_quote_required_a_complete_file_tells_the_family_the_review_starts(
    settings: Settings,
) -> None:
    server, base = await start_server(settings.with_overrides(quote_required=False))
    family = await ChatFamily.open(base)
    try:
        await submit_case(family, settings.database_url)
        await complete_the_file(settings.database_url, base)
        told = texts(await family.replies())
        assert "Your file is now complete" in told and "The specialists can start" in told
        assert "confirm the price" not in told
    finally:
        await family.close()
        await server.close()


async def test_an_arabic_family_gets_the_opinion_message_and_page_in_arabic_right_to_left(
    in_review: Opened, settings: Settings,
) -> None:
    page, base, family = in_review.page, in_review.base, in_review.family
    await family.replies()
    await family.say("العربية")
    await page.send_opinion(OPINION_PDF)
    told = texts(await family.replies())
    assert "الرأي المكتوب لطلبكم" in told
    token = latest_token(told)
    async with ClientSession(headers={"Accept-Language": "en"}) as http:
        opened = await http.get(f"{base}/opinion/{token}")
        html = await opened.text()
    assert 'lang="ar" dir="rtl"' in html and "رأيكم الطبي الثاني المكتوب" in html
    assert 'name="birth_date"' in html
