"""The second half of a case over HTTP: quote, opinion, treating doctor, saved reply, closing."""

from __future__ import annotations

import pytest
from aiohttp import ClientSession

from bot.settings import Settings
from storage.tables import AuditEntry, Case, CaseHistory, Email, OpinionLink, Quote, Timer
from tests.e2e.chat_client import ChatFamily, last_options, texts
from tests.e2e.journey_helpers import (
    OPINION_LINK,
    OPINION_PDF,
    CasePage,
    complete_the_file,
    only_contact_id,
    video_and_follow_up_question,
)
from tests.e2e.test_inbox import InboxBrowser, add_login, visible
from tests.e2e.test_telegram import TELEGRAM_INTAKE, TelegramFamily, start_app
from tests.e2e.test_telegram import texts as telegram_texts
from tests.e2e.test_webchat_intake import rows, start_server
from tests.e2e.upload_client import submit_case
from tests.fakes.smtp import FakeSmtp
from tests.fakes.telegram_api import FakeTelegram

SIX = ("ar", "fr", "en", "nl", "ru", "tr")


async def family_says(family: ChatFamily, text: str) -> str:
    """What the web chat family is answered."""
    return texts(await family.say(text))


async def family_reads(family: ChatFamily) -> str:
    """What the web chat family received since it last looked."""
    return texts(await family.replies())


async def _telegram_says(family: TelegramFamily, text: str) -> str:
    return telegram_texts(await family.say(text))


async def _telegram_reads(family: TelegramFamily) -> str:
    return telegram_texts(await family.replies())


@pytest.fixture
def mail_settings(settings: Settings, smtp: FakeSmtp) -> Settings:
    """E-mail on, through the loopback server, polled quickly."""
    return settings.with_overrides(smtp_url=smtp.url, smtp_from="team@second-opinion.test",
                                   mail_poll_seconds=0.1)


def saved_reply_form(marker: str) -> dict[str, str]:
    """A saved reply in the six languages, with placeholders."""
    form = {}
    for code in SIX:
        form[f"title_{code}"] = f"Documents received ({code}) {marker}"
        form[f"body_{code}"] = (f"[{code}] {{patient}}: request {{reference}} complete on "
                                "{today}.")
    return form


async def test_a_whole_case_over_the_web_chat_from_intake_to_closing(
    mail_settings: Settings, smtp: FakeSmtp,
) -> None:
    url = mail_settings.database_url
    server, base = await start_server(mail_settings)
    family = await ChatFamily.open(base)
    login = await add_login(url)
    browser = await InboxBrowser.open(base)
    try:
        case = await submit_case(family, url)
        await complete_the_file(url, base)
        complete = texts(await family.replies())
        assert "Your file is now complete" in complete
        assert "the specialists start as soon as you accept it" in complete  # quote first
        (case,) = await rows(url, Case)
        assert case.status == "file_complete"
        await browser.sign_in(login.email)
        page = CasePage(browser, await only_contact_id(url))

        # The review waits for an accepted quote.
        response, html = await page.move("in_review_specialist")
        assert response.status == 400
        assert "only once the family has accepted the quote" in visible(html)

        # 1. Quote: an amount outside the range needs a reason; the family accepts.
        response, html = await page.post("quote", service="written_opinion", amount="900")
        assert response.status == 400 and "give a short reason" in visible(html)
        response, html = await page.post("quote", service="written_opinion", amount="900",
                                         reason="Second pathologist reading")
        assert response.status == 200 and response.url.query["done"] == "quote"
        offer = await family.replies()
        assert "Written opinion on file review: \u20ac900." in texts(offer)
        assert "differs from the published range (\u20ac350\u2013\u2060650)" in texts(offer)
        assert last_options(offer) == ["quote_accept", "quote_decline"]
        accepted = await family.tap("quote_accept")
        assert "you have accepted the quote" in texts(accepted)
        (quote,) = await rows(url, Quote)
        assert (quote.answer, quote.amount_cents, quote.within_range) == ("accepted", 90000,
                                                                          False)
        assert "Accepted by the family" in visible(await page.open())
        response, _ = await page.move("in_review_specialist")
        assert response.status == 200
        await family.replies()

        # 2. The opinion: stored encrypted, the family gets its link, downloads are audited.
        response, html = await page.send_opinion(b"not a pdf at all")
        assert response.status == 400 and "must be a PDF" in visible(html)
        response, html = await page.send_opinion(OPINION_PDF, note="Call us with questions.")
        assert response.status == 200 and response.url.query["done"] == "opinion", html
        (case,) = await rows(url, Case)
        assert case.status == "opinion_delivered"
        told = texts(await family.replies())
        assert "The written opinion for your request" in told
        assert "A note from your coordinator:\nCall us with questions." in told
        token = OPINION_LINK.search(told)
        assert token is not None
        async with ClientSession(headers={"Accept-Language": "en"}) as http:
            opened = await http.get(f"{base}/opinion/{token.group(1)}")
            html = await opened.text()
            assert opened.status == 200 and 'name="birth_date"' in html
            assert 'lang="en" dir="ltr"' in html
            wrong = await http.post(f"{base}/opinion/{token.group(1)}",
                                    data={"birth_date": "15/05/2015"})
            assert wrong.status == 400 and "does not match" in await wrong.text()
            right = await http.post(f"{base}/opinion/{token.group(1)}",
                                    data={"birth_date": "14/05/2015"})
            assert right.status == 200 and right.content_type == "application/pdf"
            assert await right.read() == OPINION_PDF
        downloads = await rows(url, AuditEntry, AuditEntry.action == "opinion_download")
        assert [d.detail["audience"] for d in downloads] == ["family"]
        assert "opened 1 time" in visible(await page.open())
        # The conversation page shows the second half at a glance.
        glance = visible((await browser.get(f"/inbox/c/{page.contact_id}"))[1])
        assert "Quote: Accepted by the family" in glance
        assert "Family's link: opened 1 time" in glance
        assert "Video consultation: No video consultation booked." in glance
        _, audit_page = await browser.get("/inbox/audit")
        assert "The family downloaded the opinion" in visible(audit_page)
        assert "The family accepted the quote" in visible(audit_page)

        # 3. The treating doctor: a link by e-mail through SMTP, never the PDF.
        (mail,) = await smtp.wait_for(1)
        assert mail["To"] == "k.alami@example.org"
        assert mail["Content-Language"] == "fr"  # the report language chosen in the intake
        assert case.reference in mail["Subject"]
        assert not any(part.get_filename() for part in mail.walk())
        body = mail.get_content()
        assert "Cher Dr Karim Alami" in body and OPINION_PDF.decode() not in body
        doctor_token = OPINION_LINK.search(body)
        assert doctor_token is not None and doctor_token.group(1) != token.group(1)
        (email,) = await rows(url, Email)
        assert email.status == "sent" and doctor_token.group(1) not in email.body
        links = await rows(url, OpinionLink)
        assert sorted(link.audience for link in links) == ["doctor", "family"]
        assert "k.alami@example.org" in visible(await page.open())

        # 4. The video consultation with its reminder, then a question of the follow-up
        # period, answered from a saved reply picked by its title, in the family's language.
        await video_and_follow_up_question(
            page, server.app, url, lambda text: family_says(family, text),
            lambda: family_reads(family))
        await browser.get("/inbox/replies/new")
        response, _ = await browser.post("/inbox/replies/new", saved_reply_form("x1"))
        assert response.status == 200
        html = await page.open()
        assert "Documents received (en) x1" in html
        reply_id = html.split("Documents received (en) x1")[0].rsplit('value="', 1)[1]
        reply_id = reply_id.split('"', 1)[0]
        response, _ = await page.post("saved-reply", reply=reply_id)
        assert response.status == 200 and response.url.query["done"] == "saved_reply"
        sent = texts(await family.replies())
        assert f"[en] Amira Benali: request {case.reference} complete on" in sent

        # 5. Closed, through the status machine.
        for status in ("follow_up", "closed"):
            response, _ = await page.move(status)
            assert response.status == 200
        history = await rows(url, CaseHistory, CaseHistory.case_id == case.id)
        assert [h.to_status for h in history][-6:] == [
            "file_complete", "in_review_specialist", "opinion_delivered", "video_consultation",
            "follow_up", "closed"]
        actions = {a.action for a in await rows(url, AuditEntry)}
        assert {"quote_sent", "quote_answered", "opinion_sent", "opinion_download",
                "doctor_mail_sent", "video_booked", "saved_reply_sent", "status"} <= actions
        assert await rows(url, Timer, Timer.fired_at.is_(None), Timer.cancelled_at.is_(None),
                          Timer.audience == "family") == []
    finally:
        await browser.close()
        await family.close()
        await server.close()


async def test_a_whole_case_over_telegram_from_intake_to_closing(
    tg_settings: Settings, fake: FakeTelegram, smtp: FakeSmtp,
) -> None:
    settings = tg_settings.with_overrides(smtp_url=smtp.url, mail_poll_seconds=0.1)
    url = settings.database_url
    running = await start_app(settings)
    base = f"http://127.0.0.1:{running.server.port}"
    login = await add_login(url)
    browser = await InboxBrowser.open(base)
    async with ClientSession() as session:
        family = TelegramFamily(fake, session, running.webhook)
        try:
            await family.say("/start")
            for how, value in TELEGRAM_INTAKE:
                await (family.say(value) if how == "say" else
                       family.pick(value) if how == "pick" else family.tap(value))
            await family.tap("confirm")
            await complete_the_file(url, base)
            await family.replies()
            await browser.sign_in(login.email)
            page = CasePage(browser, await only_contact_id(url))

            response, _ = await page.post("quote", service="written_opinion", amount="500")
            assert response.status == 200
            offer = await family.replies()
            assert "Written opinion on file review: \u20ac500." in offer[-1].text
            assert offer[-1].callback_datas() == ["c:quote_accept", "c:quote_decline"]
            accepted = await family.tap("quote_accept")
            assert "you have accepted the quote" in telegram_texts(accepted)
            await fake.wait_for(
                lambda: len(fake.calls_of("answerCallbackQuery")) == family.callbacks)
            response, _ = await page.move("in_review_tumour_board")
            assert response.status == 200
            await family.replies()

            response, _ = await page.send_opinion(OPINION_PDF)
            assert response.status == 200
            told = telegram_texts(await family.replies())
            token = OPINION_LINK.search(told)
            assert token is not None
            async with ClientSession() as http:
                right = await http.post(f"{base}/opinion/{token.group(1)}",
                                        data={"birth_date": "2015-05-14"})
                assert right.status == 200 and await right.read() == OPINION_PDF
            (mail,) = await smtp.wait_for(1)
            assert "Cher Dr Karim Alami" in mail.get_content()

            await video_and_follow_up_question(
                page, running.app, url,
                lambda text: _telegram_says(family, text), lambda: _telegram_reads(family))
            html = await page.open()
            assert "Documents received" in html  # the starting set of saved replies
            reply_id = html.split(">Documents received<")[0].rsplit('value="', 1)[1]
            response, _ = await page.post("saved-reply", reply=reply_id.split('"', 1)[0])
            assert response.status == 200
            (case,) = await rows(url, Case)
            sent = telegram_texts(await family.replies())
            assert f"documents for request {case.reference}. Thank you!" in sent
            for status in ("follow_up", "closed"):
                response, _ = await page.move(status)
                assert response.status == 200
            (case,) = await rows(url, Case)
            assert case.status == "closed" and case.closed_at is not None
        finally:
            await browser.close()
            await running.close()
