"""Helpers for upload tests: a submitted case, its upload link, and a small tus 1.0.0 client."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientResponse, ClientSession, FormData, web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.app import create_app
from bot.documents.links import issue, issue_link_for_case
from bot.settings import Settings
from storage.db import Database
from storage.tables import Case, Document
from storage.unit_of_work import UnitOfWork
from tests.e2e.chat_client import ChatFamily, texts
from tests.e2e.test_webchat_intake import ENGLISH_INTAKE, rows

TUS = {"Tus-Resumable": "1.0.0"}
MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def pdf(label: str) -> bytes:
    """A small PDF whose bytes differ by label (so duplicates are only deliberate)."""
    return MINIMAL_PDF + f"% {label}\n".encode()


def upload_app(settings: Settings) -> web.Application:
    """The whole app (the composition root wires the upload routes)."""
    return create_app(settings)


async def start(settings: Settings) -> tuple[TestServer, str]:
    """The app on a loopback port."""
    server = TestServer(upload_app(settings), host="127.0.0.1")
    await server.start_server()
    return server, f"http://127.0.0.1:{server.port}"


async def submit_case(family: ChatFamily, database_url: str, timeout: float = 30.0) -> Case:
    """Run the whole English intake in the web chat, confirm it, and wait for the case.

    Answers are posted in order without reading each reply (the server processes a
    contact's messages one at a time, in order), which keeps the tests quick.
    """
    await family.replies()
    for how, value in [*ENGLISH_INTAKE, ("tap", "confirm")]:
        await family.send(**({"choice": value} if how == "tap" else {"text": value}))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        case = await maybe_case(database_url)
        if case is not None and case.submitted_at is not None:
            await family.replies()
            return case
        await asyncio.sleep(0.1)
    raise AssertionError("the intake did not end with a submitted case")


async def maybe_case(database_url: str) -> Case | None:
    """The case of the test database, if there is one yet."""
    database = Database(database_url)
    try:
        async with database.sessions() as session:
            return (await session.execute(select(Case))).scalar_one_or_none()
    finally:
        await database.dispose()


async def the_case(database_url: str) -> Case:
    """The only case of the test database."""
    case = await maybe_case(database_url)
    assert case is not None
    return case


async def link_for(database_url: str, base: str, *, issued_at: datetime | None = None,
                   ttl: timedelta | None = None) -> str:
    """Issue the case's upload link the way the lead will, and return its URL."""
    database = Database(database_url)
    try:
        async with UnitOfWork(database) as uow:
            case = (await uow.session.execute(select(Case))).scalar_one()
            now = issued_at or datetime.now(UTC)
            if ttl is None:
                url = await issue_link_for_case(uow.session, case, base, now)
            else:
                url = f"{base}/upload/{await issue(uow.session, case.id, now, ttl)}"
            await uow.commit()
        return url
    finally:
        await database.dispose()


def metadata(**values: str) -> str:
    """tus Upload-Metadata from keyword values."""
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items()
    )


def batch_body(files: Sequence[tuple[bytes, Mapping[str, str]]]) -> FormData:
    """The page's batch body: per file, a JSON `meta` part and the `file` part."""
    form = FormData()
    for data, meta in files:
        form.add_field("meta", json.dumps({"size": len(data), **meta}),
                       content_type="application/json")
        form.add_field("file", data, filename="blob",
                       content_type="application/octet-stream")
    return form


async def batch_bytes(files: Sequence[tuple[bytes, Mapping[str, str]]]) -> tuple[bytes, str]:
    """A batch body as bytes, with its content type (boundary included), for raw requests."""
    writer = batch_body(files)()

    class Sink:
        def __init__(self) -> None:
            self.data = bytearray()

        async def write(self, chunk: bytes) -> None:
            self.data += chunk

    sink = Sink()
    await writer.write(sink)  # type: ignore[arg-type]
    return bytes(sink.data), writer.content_type


@dataclass
class TusClient:
    """Speaks tus to one upload link."""

    session: ClientSession
    link: str

    async def create(self, length: int, **meta: str) -> ClientResponse:
        """POST a new upload."""
        headers = {**TUS, "Upload-Length": str(length)}
        if meta:
            headers["Upload-Metadata"] = metadata(**meta)
        return await self.session.post(f"{self.link}/files", headers=headers)

    def absolute(self, location: str) -> str:
        """The upload's URL from a Location header."""
        parts = urlsplit(self.link)
        return f"{parts.scheme}://{parts.netloc}{location}"

    async def head(self, url: str) -> ClientResponse:
        """Where an upload stands."""
        return await self.session.head(url, headers=TUS)

    async def patch(self, url: str, offset: int, data: bytes,
                    headers: Mapping[str, str] | None = None) -> ClientResponse:
        """Send one piece."""
        return await self.session.patch(url, data=data, headers={
            **TUS, "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream", **(headers or {})})

    async def send(self, data: bytes, chunk: int = 1 << 20, **meta: str) -> str:
        """Upload a whole file in pieces; returns its URL."""
        created = await self.create(len(data), **meta)
        assert created.status == 201, await created.text()
        url = self.absolute(created.headers["Location"])
        offset = 0
        while offset < len(data):
            response = await self.patch(url, offset, data[offset:offset + chunk])
            assert response.status == 204, await response.text()
            offset = int(response.headers["Upload-Offset"])
        return url

    async def batch(self, files: Sequence[tuple[bytes, Mapping[str, str]]]) -> ClientResponse:
        """Send small files in one batch request, as the page does (`meta` then `file`)."""
        return await self.session.post(f"{self.link}/batch", data=batch_body(files))

    async def done(self) -> dict[str, Any]:
        """Tell the server the page's selection is finished (one chat summary)."""
        response = await self.session.post(f"{self.link}/done")
        assert response.status == 200, await response.text()
        return dict(await response.json())

    async def status(self) -> dict[str, Any]:
        """The page's JSON."""
        response = await self.session.get(f"{self.link}/status")
        assert response.status == 200, await response.text()
        return dict(await response.json())


async def cut_patch(url: str, offset: int, data: bytes, sent: int) -> None:
    """A PATCH announcing all of `data` whose connection dies after `sent` bytes."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = (
        f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode()
    writer.write(head + data[:sent])
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.transport.abort()
    await asyncio.sleep(0.2)


@dataclass
class Intake:
    """A submitted case with its family's chat and an HTTP session on its upload link."""

    settings: Settings
    server: TestServer
    base: str
    family: ChatFamily
    http: ClientSession
    link: str

    @property
    def tus(self) -> TusClient:
        """A tus client on the case's link."""
        return TusClient(self.http, self.link)

    async def chat(self, wait: float = 5.0) -> str:
        """What the bot wrote to the family since the last look."""
        return texts(await self.family.replies(wait=wait))

    async def documents(self) -> list[Document]:
        """The case's documents, oldest first."""
        found = await rows(self.settings.database_url, Document)
        return sorted(found, key=lambda d: d.id)

    def stored_objects(self) -> list[Path]:
        """The encrypted objects on disk."""
        return [p for p in (self.settings.data_dir / "files" / "objects").rglob("*")
                if p.is_file()]


@asynccontextmanager
async def submitted(settings: Settings) -> AsyncIterator[Intake]:
    """The app running, a case submitted through the web chat, and its upload link."""
    server, base = await start(settings)
    family = await ChatFamily.open(base)
    http = ClientSession(headers={"Accept-Language": "en"})
    try:
        await submit_case(family, settings.database_url)
        link = await link_for(settings.database_url, base)
        yield Intake(settings, server, base, family, http, link)
    finally:
        await http.close()
        await family.close()
        await server.close()
