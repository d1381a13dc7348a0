"""Attack: make the server unpack far more than was sent, or fill its disk.

Before the budgets, ZIP members up to 8 MiB skipped the ratio check and nothing capped an
archive's or a case's total expansion (83 KB became 84 MB, again and again), and uploads went
on until the disk was full.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile

from aiohttp import ClientSession

from bot.documents.uploads import UPLOADS
from bot.settings import Settings
from storage.tables import AuditEntry, Contact, Document, Message
from tests.e2e.test_telegram import TelegramFamily, texts
from tests.e2e.upload_client import pdf
from tests.fakes.telegram_api import FakeTelegram
from tests.security.conftest import Site, open_site

MIB = 1 << 20
CHAT = 5550779
TOO_LARGE = "This ZIP archive is too large once unpacked."
DAILY = "Your ZIP archives for this request have reached today's unpacking limit"
NO_SPACE = {
    "en": "We cannot receive files at the moment.",
    "fr": "Nous ne pouvons pas recevoir de fichiers pour le moment.",
}


def amplifying_zip(label: str, members: int = 3) -> bytes:
    """Members of exactly 8 MiB of lab-like text each: every one under the ratio floor,
    together a few dozen KiB that unpack to `members` × 8 MiB."""
    line = f"{label} haemoglobin 13.5 g/dl (normal 12-16)\n".encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for index in range(members):
            body = (f"sample {index}\n".encode() + line * (8 * MIB // len(line) + 1))[:8 * MIB]
            archive.writestr(f"labs/{label}-{index}.txt", body)
    return buffer.getvalue()


async def transcript(site: Site) -> str:
    """What the bot wrote to the seeded family."""
    found = await site.rows(Message, Message.contact_id == site.contact_id,
                            Message.direction == "out")
    return "\n".join(m.text for m in found)


async def test_an_archive_expanding_beyond_its_budget_is_not_unpacked(settings: Settings) -> None:
    site = await open_site(settings.with_overrides(zip_expansion_per_archive=20 * MIB))
    try:
        bomb = amplifying_zip("a")
        assert len(bomb) < 200_000  # 24 MiB once unpacked
        await site.tus.send(bomb, filename="labs.zip", batch="z")
        await site.tus.done()
        documents = await site.documents()
    finally:
        await site.close()
    (archive,) = documents
    assert (archive.filename, archive.valid, archive.inspection["problem"]) == (
        "labs.zip", False, "too_large")
    assert archive.detected_type == "zip"
    assert TOO_LARGE in await transcript(site)


async def test_a_case_cannot_unpack_more_than_its_daily_budget(settings: Settings) -> None:
    site = await open_site(settings.with_overrides(
        zip_expansion_per_archive=32 * MIB, zip_expansion_per_case_day=40 * MIB))
    try:
        await site.tus.send(amplifying_zip("first"), filename="first.zip", batch="a")
        await site.tus.done()
        await site.tus.send(amplifying_zip("second"), filename="second.zip", batch="b")
        await site.tus.done()
        documents = await site.documents()
    finally:
        await site.close()
    unpacked = [d for d in documents if d.valid]
    assert sorted(d.filename for d in unpacked) == [
        "first-0.txt", "first-1.txt", "first-2.txt"]
    assert sum(d.size for d in unpacked) == 24 * MIB
    (refused,) = [d for d in documents if not d.valid]
    assert (refused.filename, refused.inspection["problem"]) == ("second.zip", "daily_limit")
    assert DAILY in await transcript(site)


async def test_below_the_free_disk_floor_uploads_are_refused_and_coordinators_alerted(
    settings: Settings,
) -> None:
    site = await open_site(settings, language="fr")
    try:
        data = pdf("report")
        created = await site.tus.create(len(data), filename="report.pdf")
        assert created.status == 201
        url = site.tus.absolute(created.headers["Location"])
        # The disk fills up while the family is uploading.
        budgets = site.app[UPLOADS].budgets
        budgets.limits = dataclasses.replace(budgets.limits, min_free_bytes=1 << 62)
        refused = await site.tus.patch(url, 0, data)
        assert refused.status == 507
        assert (await refused.json())["error"].startswith(NO_SPACE["fr"])
        again = await site.tus.create(len(data), filename="other.pdf")
        assert again.status == 507
        assert (await again.json())["error"].startswith(NO_SPACE["fr"])
        assert (await site.tus.head(url)).headers["Upload-Offset"] == "0"  # resumable later

        browser = await site.coordinator()
        try:
            _, audit = await browser.get("/inbox/audit?lang=en")
        finally:
            await browser.close()
        alerts = await site.rows(AuditEntry, AuditEntry.action == "disk_low")
        (contact,) = await site.rows(Contact)
    finally:
        await site.close()
    assert await site.documents() == []
    assert [(a.case_id, a.contact_id) for a in alerts] == [(site.case_id, site.contact_id)]
    assert contact.needs_human is True
    assert "the server&#39;s disk is nearly full" in audit or (
        "the server's disk is nearly full" in audit)


async def test_below_the_floor_a_telegram_file_is_not_fetched_and_the_family_is_told(
    tg_settings: Settings, fake: FakeTelegram,
) -> None:
    site = await open_site(tg_settings.with_overrides(min_free_disk_mb=1 << 40),
                           channel="telegram", external_id=str(CHAT))
    try:
        async with ClientSession() as session:
            family = TelegramFamily(fake, session, f"{site.base}/webhooks/telegram",
                                    chat_id=CHAT)
            file_id = fake.add_file(pdf("referral"), "referral.pdf")
            await family.post(fake.document_update(CHAT, file_id, name="referral.pdf",
                                                   mime_type="application/pdf"))
            told = texts(await family.replies())
    finally:
        await site.close()
    assert NO_SPACE["en"] in told
    assert fake.calls_of("getFile") == []
    assert await site.rows(Document) == []
    assert await site.rows(AuditEntry, AuditEntry.action == "disk_low")
