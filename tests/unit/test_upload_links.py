"""Upload links as capabilities, the bad-token limiter and the tus metadata we accept."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.access.throttle import Throttle
from bot.documents.inspection import clean_relative_path, display_name
from bot.documents.links import (
    LinkProblem,
    issue,
    issue_link_for_case,
    resolve,
    revoke,
    token_hash,
    url,
)
from bot.documents.sessions import parse_metadata
from bot.web.upload import BadTokenLimiter
from intake.checklist import ItemKind
from intake.deadlines import upload_link_expires_at
from storage.db import Database
from storage.tables import Case, Contact, Timer, UploadLink
from storage.unit_of_work import UnitOfWork

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated database with one submitted case (id 1)."""
    db = Database(database_url)
    async with UnitOfWork(db) as uow:
        contact = Contact(channel="webchat", external_id="family")
        uow.session.add(contact)
        await uow.session.flush()
        uow.session.add(Case(reference="SO-TEST23", contact_id=contact.id,
                             status="awaiting_documents", language="en", answers={},
                             submitted_at=NOW))
        await uow.commit()
    try:
        yield db
    finally:
        await db.dispose()


async def _case(uow: UnitOfWork) -> Case:
    return (await uow.session.execute(select(Case))).scalar_one()


async def test_a_link_token_is_long_random_and_only_its_hash_is_stored(
    database: Database,
) -> None:
    async with UnitOfWork(database) as uow:
        token = await issue(uow.session, (await _case(uow)).id, NOW)
        await uow.commit()
        (link,) = (await uow.session.execute(select(UploadLink))).scalars()
    assert len(token) == 43 and set(token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest() == token_hash(token)
    assert token not in link.token_hash
    assert link.expires_at == upload_link_expires_at(NOW)


async def test_resolving_tells_unknown_expired_and_revoked_apart(database: Database) -> None:
    async with UnitOfWork(database) as uow:
        case_id = (await _case(uow)).id
        first = await issue(uow.session, case_id, NOW, ttl=timedelta(days=1))
        found = await resolve(uow.session, first, NOW)
        assert isinstance(found, UploadLink) and found.case_id == case_id
        assert await resolve(uow.session, first, NOW + timedelta(days=1)) is LinkProblem.EXPIRED
        second = await issue(uow.session, case_id, NOW + timedelta(hours=1))
        assert await resolve(uow.session, first, NOW + timedelta(hours=2)) is LinkProblem.REVOKED
        assert isinstance(await resolve(uow.session, second, NOW + timedelta(hours=2)),
                          UploadLink)
        assert await resolve(uow.session, "x" * 43, NOW) is LinkProblem.UNKNOWN
        assert await resolve(uow.session, "short", NOW) is LinkProblem.UNKNOWN
        assert await resolve(uow.session, second + "/../", NOW) is LinkProblem.UNKNOWN
        assert await revoke(uow.session, case_id, NOW + timedelta(hours=3)) == 1
        assert await resolve(uow.session, second, NOW + timedelta(hours=4)) is (
            LinkProblem.REVOKED)


async def test_issuing_for_a_case_sets_the_link_reminders_and_replaces_older_ones(
    database: Database,
) -> None:
    async with UnitOfWork(database) as uow:
        case = await _case(uow)
        first = await issue_link_for_case(uow.session, case, "https://example.org/", NOW)
        later = NOW + timedelta(days=3)
        second = await issue_link_for_case(uow.session, case, "https://example.org", later)
        await uow.commit()
        timers = list((await uow.session.execute(select(Timer))).scalars())
    assert first.startswith("https://example.org/upload/") and first != second
    live = sorted((t.due_at, t.kind) for t in timers if t.cancelled_at is None)
    assert [kind for _, kind in live] == [
        "documents_reminder", "documents_reminder", "upload_link_expiring",
        "upload_link_expired"]
    assert live[-1][0] == upload_link_expires_at(later)
    assert all(t.audience == "family" and t.contact_id == case.contact_id for t in timers)
    assert {t.kind for t in timers if t.cancelled_at is not None} >= {"upload_link_expired"}


def test_the_url_joins_the_public_base_and_the_token() -> None:
    assert url("https://intake.example/", "abc") == "https://intake.example/upload/abc"


async def test_the_limiter_answers_failures_past_the_limit_with_the_time_left(
    database_url: str,
) -> None:
    database = Database(database_url)
    try:
        limiter = BadTokenLimiter(Throttle(database), limit=3, window=timedelta(seconds=60))
        t0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
        for _ in range(3):
            assert await limiter.failed("10.0.0.1", t0) is None
        assert await limiter.failed("10.0.0.1", t0 + timedelta(seconds=20)) == 41
        assert await limiter.failed("10.0.0.2", t0) is None
        assert await limiter.failed("10.0.0.1", t0 + timedelta(seconds=61)) is None
    finally:
        await database.dispose()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_metadata_is_decoded_and_a_file_name_never_becomes_a_path() -> None:
    meta = parse_metadata(
        f"filename {_b64('../../etc/passwd')},relativePath {_b64('CD/../DICOM/./IM1')},"
        f"item {_b64('lab_results')},filetype {_b64('application/pdf')},batch {_b64('b-1')}")
    assert meta.filename == "passwd"
    assert meta.relative_path == "CD/DICOM/IM1"
    assert meta.item is ItemKind.LAB_RESULTS
    assert meta.filetype == "application/pdf" and meta.batch == "b-1"
    unknown = parse_metadata(f"item {_b64('everything')},filetype {_b64('text/x; evil')}")
    assert unknown.item is None and unknown.filetype is None and unknown.filename == "file"
    with pytest.raises(ValueError):
        parse_metadata("filename not-base64!")


def test_display_names_lose_control_and_direction_characters() -> None:
    assert display_name("C:\\Users\\amira\\report\u202egpj.pdf") == "reportgpj.pdf"
    assert display_name("  .hidden  ") == "hidden"
    assert display_name("") == "file"
    assert display_name("x" * 500) == "x" * 200
    assert clean_relative_path("//") is None
    assert clean_relative_path("disc\\DICOM\\IM\x001") == "disc/DICOM/IM1"
