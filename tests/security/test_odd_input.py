"""Odd input anywhere gets a 4xx with the usual message, never a 500, and stores nothing half:
numbers past a database integer, unknown charsets, lone surrogates, NUL, deep nesting."""

from __future__ import annotations

import base64
import json

import pytest
from aiohttp import ClientSession, CookieJar
from sqlalchemy import select

from bot.settings import Settings
from storage.db import Database
from storage.tables import InboundEvent, Message, UploadSession
from tests.e2e.test_inbox import seed_case
from tests.e2e.upload_client import TUS, link_for
from tests.security.conftest import Start, count

POLL = "/chat/api/messages"
FRENCH_UNREADABLE = "Votre message n'a pas pu être lu. Veuillez réessayer."


async def family(base: str, lang: str = "fr") -> ClientSession:
    """A browser with the chat open."""
    http = ClientSession(cookie_jar=CookieJar(unsafe=True), headers={"Accept-Language": lang})
    assert (await http.get(f"{base}/chat")).status == 200
    return http


@pytest.mark.parametrize("query", [
    {"after": "9223372036854775808"}, {"after": "99999999999999999999999"},
    {"after": "-1"}, {"after": "١٢"}, {"after": "1e3"}, {"after": " 1"},
    {"wait": "nan"}, {"wait": "inf"}, {"wait": "ten"},
])
async def test_a_poll_with_an_unusable_number_is_refused_in_the_familys_language(
    start: Start, query: dict[str, str]
) -> None:
    base = await start()
    http = await family(base)
    try:
        response = await http.get(f"{base}{POLL}", params=query)
        assert response.status == 400
        assert (await response.json())["error"] == FRENCH_UNREADABLE
    finally:
        await http.close()


NESTED = b'{"client_id": "abcdefgh", "text": "a", "x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"

BODIES: list[tuple[str, bytes, str, int]] = [
    ("unknown charset", b'{"client_id": "abcdefgh", "text": "hi"}',
     "application/json; charset=bogus", 415),
    ("latin-1 charset", b'{"client_id": "abcdefgh", "text": "hi"}',
     "application/json; charset=latin-1", 415),
    ("lone surrogate", b'{"client_id": "abcdefgh", "text": "\\ud800"}', "application/json", 400),
    ("lone low surrogate", b'{"client_id": "abcdefgh", "text": "a\\udfffb"}',
     "application/json", 400),
    ("NUL escaped", b'{"client_id": "abcdefgh", "text": "a\\u0000b"}', "application/json", 400),
    ("NUL in a key", b'{"client_id": "abcdefgh", "text": "a", "\\u0000": 1}',
     "application/json", 400),
    ("deep nesting", NESTED, "application/json", 400),
    ("moderate nesting", b'{"client_id": "abcdefgh", "text": "a", "x": ' + b"[" * 40
     + b"]" * 40 + b"}", "application/json", 400),
    ("invalid UTF-8", b'{"client_id": "abcdefgh", "text": "\xff\xfe"}', "application/json", 400),
    ("NaN", b'{"client_id": "abcdefgh", "text": "a", "n": NaN}', "application/json", 400),
    ("not JSON", b"client_id=abcdefgh&text=hi", "application/x-www-form-urlencoded", 415),
]


@pytest.mark.parametrize(("case", "body", "content_type", "status"), BODIES,
                         ids=[b[0] for b in BODIES])
async def test_an_odd_chat_message_is_refused_and_nothing_is_stored(
    start: Start, db: Database, case: str, body: bytes, content_type: str, status: int
) -> None:
    base = await start()
    http = await family(base)
    try:
        response = await http.post(f"{base}{POLL}", data=body,
                                   headers={"Content-Type": content_type})
        assert response.status == status, case
        assert (await response.json())["error"] == FRENCH_UNREADABLE
    finally:
        await http.close()
    assert await count(db, Message) == 0
    assert await count(db, InboundEvent) == 0


async def test_the_same_text_without_the_odd_character_is_accepted(
    start: Start, db: Database
) -> None:
    base = await start()
    http = await family(base)
    try:
        response = await http.post(f"{base}{POLL}", json={"client_id": "abcdefgh",
                                                          "text": "ça va 😀 \u200f"})
        assert response.status == 202
    finally:
        await http.close()
    assert await count(db, Message, Message.direction == "in") == 1


async def upload_link(settings: Settings, base: str) -> str:
    """The upload link of a seeded case."""
    await seed_case(settings.database_url)
    return await link_for(settings.database_url, base)


@pytest.mark.parametrize("length", [
    "100000000000000000000000000000", "9223372036854775808", "-1", "+5", "1_000", "٣",
    "0x10", "",
])
async def test_an_odd_upload_length_is_refused(
    start: Start, settings: Settings, db: Database, length: str
) -> None:
    base = await start()
    link = await upload_link(settings, base)
    async with ClientSession() as http:
        response = await http.post(f"{link}/files", headers={**TUS, "Upload-Length": length})
        assert response.status == 400
        assert (await response.json())["code"] == "bad_request"
    assert await count(db, UploadSession) == 0


@pytest.mark.parametrize("offset", [
    "9223372036854775808", "99999999999999999999999", "-5", "+0", "٠", "0.0",
])
async def test_an_odd_upload_offset_is_refused_and_nothing_is_kept(
    start: Start, settings: Settings, db: Database, offset: str
) -> None:
    base = await start()
    link = await upload_link(settings, base)
    async with ClientSession() as http:
        created = await http.post(f"{link}/files", headers={**TUS, "Upload-Length": "10"})
        url = base + created.headers["Location"]
        response = await http.patch(url, data=b"0123456789", headers={
            **TUS, "Upload-Offset": offset, "Content-Type": "application/offset+octet-stream"})
        assert response.status == 400
        assert (await http.head(url, headers=TUS)).headers["Upload-Offset"] == "0"


@pytest.mark.parametrize("upload_id", ["%00", "%ED%A0%80", "x" * 300, "1%00"])
async def test_an_odd_upload_id_is_not_found(
    start: Start, settings: Settings, upload_id: str
) -> None:
    base = await start()
    link = await upload_link(settings, base)
    async with ClientSession() as http:
        response = await http.head(f"{link}/files/{upload_id}", headers=TUS)
        assert response.status == 404


@pytest.mark.parametrize("key", ["filename", "relativePath", "filetype", "batch", "item"])
async def test_nul_in_upload_metadata_is_never_stored(
    start: Start, settings: Settings, db: Database, key: str
) -> None:
    base = await start()
    link = await upload_link(settings, base)
    value = base64.b64encode(b"scan\x00.pdf").decode()
    async with ClientSession() as http:
        response = await http.post(f"{link}/files", headers={
            **TUS, "Upload-Length": "10", "Upload-Metadata": f"{key} {value}"})
        assert response.status in (201, 400)
        assert (await http.get(f"{link}/status")).status == 200
    async with db.sessions() as session:
        for row in (await session.execute(select(UploadSession))).scalars():
            stored = json.dumps({k: v for k, v in vars(row).items() if not k.startswith("_")},
                                default=str)
            assert "\\u0000" not in stored


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b'{"item": "lab_results"}', "application/json; charset=bogus", 415),
    (b'{"item": "lab\\u0000results"}', "application/json", 400),
    (b'{"item": ["lab_results"]}', "application/json", 400),
    (b'{"item": "\\ud800"}', "application/json", 400),
])
async def test_an_odd_document_item_is_refused(
    start: Start, settings: Settings, body: bytes, content_type: str, status: int
) -> None:
    base = await start()
    link = await upload_link(settings, base)
    async with ClientSession() as http:
        response = await http.post(f"{link}/documents/1/item", data=body,
                                   headers={"Content-Type": content_type})
        assert response.status == status


@pytest.mark.parametrize("path", [
    "/upload/%00", "/upload/%ED%A0%80", "/chat?x=%00", "/chat?x=%ED%A0%80",
])
async def test_odd_characters_in_a_url_are_harmless(start: Start, path: str) -> None:
    base = await start()
    async with ClientSession() as http:
        response = await http.get(base + path)
        assert response.status in (200, 404)


@pytest.mark.parametrize("accept_language", [
    "*;q=nan", "fr;q=1e999", "ru;q=inf, tr;q=-1", ";;;,,,", "ar-" * 300,
])
async def test_an_odd_accept_language_gets_a_page_and_a_conversation(
    start: Start, accept_language: str
) -> None:
    base = await start()
    http = await family(base, lang=accept_language)
    try:
        assert (await http.get(f"{base}{POLL}")).status == 200
    finally:
        await http.close()
