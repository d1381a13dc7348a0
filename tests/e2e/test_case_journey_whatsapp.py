"""The second half of a case over WhatsApp: numbered answers, links in the text (no files),
the doctor e-mailed, the consultation in the family's time, a follow-up question, closing."""

from __future__ import annotations

from aiohttp import ClientSession

from bot.settings import Settings
from storage.tables import AuditEntry, Case, CaseHistory, Email, Quote
from tests.e2e.journey_helpers import (
    OPINION_LINK,
    OPINION_PDF,
    CasePage,
    complete_the_file,
    only_contact_id,
    video_and_follow_up_question,
)
from tests.e2e.test_inbox import InboxBrowser, add_login
from tests.e2e.test_whatsapp import (
    FAMILY,
    PUBLIC_URL,
    WHATSAPP_INTAKE,
    ShiftedClock,
    World,
    start,
)
from tests.e2e.test_whatsapp import fake as fake  # noqa: F401  (the fixture)
from tests.fakes.smtp import FakeSmtp
from tests.fakes.twilio_api import FakeTwilio


async def test_a_whole_case_over_whatsapp_from_intake_to_closing(
    settings: Settings, fake: FakeTwilio, smtp: FakeSmtp,
) -> None:
    world: World = await start(settings, fake, ShiftedClock(), smtp_url=smtp.url,
                               smtp_from="team@second-opinion.test", mail_poll_seconds=0.1)
    url = settings.database_url
    base = world.url
    login = await add_login(url)
    browser = await InboxBrowser.open(base, behind_tls=True)
    try:
        await world.write("Hello")
        for how, value in WHATSAPP_INTAKE:
            await (world.choose(value) if how == "choose" else world.write(value))
        assert "registered under the reference" in "\n".join(await world.choose("confirm"))
        await complete_the_file(url, base)
        assert "Your file is now complete" in "\n".join(await world.replies())
        await browser.sign_in(login.email)
        page = CasePage(browser, await only_contact_id(url))

        # The quote: numbered options in the text, answered by typing the number.
        response, _ = await page.post("quote", service="written_opinion", amount="500")
        assert response.status == 200
        offer = "\n".join(await world.replies())
        assert "Written opinion on file review: \u20ac500." in offer
        assert "you have accepted the quote" in "\n".join(await world.choose("quote_accept"))
        (quote,) = await world.rows(Quote)
        assert quote.answer == "accepted"
        response, _ = await page.move("in_review_specialist")
        assert response.status == 200
        await world.replies()

        # The opinion: a link in the text; the family's download is audited.
        response, _ = await page.send_opinion(OPINION_PDF)
        assert response.status == 200
        told = "\n".join(await world.replies())
        token = OPINION_LINK.search(told)
        assert token is not None and "https://intake.example.org/opinion/" in told
        async with ClientSession() as http:
            right = await http.post(f"{base}/opinion/{token.group(1)}",
                                    data={"birth_date": "14.05.2015"})
            assert right.status == 200 and await right.read() == OPINION_PDF
        downloads = await world.rows(AuditEntry, AuditEntry.action == "opinion_download")
        assert [d.detail["audience"] for d in downloads] == ["family"]
        (mail,) = await smtp.wait_for(1)
        assert "Cher Dr Karim Alami" in mail.get_content()
        assert [e.status for e in await world.settled(
            Email, lambda found: found and found[0].status == "sent")] == ["sent"]

        # The consultation (the calendar as a link: WhatsApp carries no .ics here), its
        # reminder, and a follow-up question.
        await video_and_follow_up_question(
            page, world.app, url, lambda text: _says(world, text), lambda: _reads(world))
        bodies = "\n".join(m.get("Body", "") for m in world.fake.sent_to(FAMILY))
        assert f"{PUBLIC_URL}/consultation/" in bodies

        # Answered from a saved reply of the starting set, in the family's language.
        html = await page.open()
        reply_id = html.split(">Documents received<")[0].rsplit('value="', 1)[1]
        response, _ = await page.post("saved-reply", reply=reply_id.split('"', 1)[0])
        assert response.status == 200
        (case,) = await world.rows(Case)
        assert f"documents for request {case.reference}. Thank you!" in "\n".join(
            await world.replies())
        for status in ("follow_up", "closed"):
            response, _ = await page.move(status)
            assert response.status == 200
        (case,) = await world.rows(Case)
        assert case.status == "closed" and case.closed_at is not None
        history = await world.rows(CaseHistory, CaseHistory.case_id == case.id)
        assert [h.to_status for h in history][-4:] == [
            "opinion_delivered", "video_consultation", "follow_up", "closed"]
    finally:
        await browser.close()
        await world.server.close()
        await world.db.dispose()


async def _says(world: World, text: str) -> str:
    return "\n".join(await world.write(text))


async def _reads(world: World) -> str:
    return "\n".join(await world.replies())
