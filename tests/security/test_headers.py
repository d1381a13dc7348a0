"""Every answer carries the protective headers, whatever produced it, and no versions."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from aiohttp import ClientResponse, ClientSession, web
from aiohttp.test_utils import TestServer

from bot.app import SECURITY_HEADERS, create_app
from bot.settings import Settings
from tests.e2e.test_inbox import seed_case
from tests.e2e.upload_client import link_for
from tests.security.conftest import Start

REQUESTS = [
    ("GET", "/chat", 200),
    ("GET", "/", 302),  # a raised redirect
    ("GET", "/inbox", 302),  # the sign-in redirect of the inbox
    ("GET", "/no/such/page", 404),
    ("POST", "/chat", 405),
    ("GET", "/static/chat.js", 200),  # a file
    ("GET", "/static/../app.py", 404),
    ("GET", "/upload/not-a-token", 404),
    ("GET", "/chat/api/messages", 403),
    ("GET", "/healthz", 200),
]


def assert_protected(response: ClientResponse, https: bool = False) -> None:
    """The protective headers are there, and the server names no software version."""
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.url.path, name)
    assert response.headers.get("Server") == "intake"
    everything = " ".join(f"{k}: {v}" for k, v in response.headers.items()).lower()
    assert "aiohttp" not in everything and "python" not in everything
    assert ("Strict-Transport-Security" in response.headers) is https


@pytest.mark.parametrize(("method", "path", "status"), REQUESTS)
async def test_every_kind_of_answer_carries_the_security_headers(
    start: Start, method: str, path: str, status: int
) -> None:
    base = await start()
    async with ClientSession() as http:
        response = await http.request(method, base + path, allow_redirects=False)
        assert response.status == status
        assert_protected(response)


async def test_an_upload_page_and_its_refusals_carry_the_headers(
    start: Start, settings: Settings
) -> None:
    base = await start()
    await seed_case(settings.database_url)
    link = await link_for(settings.database_url, base)
    async with ClientSession() as http:
        page = await http.get(link)
        assert page.status == 200
        assert_protected(page)
        refused = await http.post(f"{link}/files", headers={"Tus-Resumable": "0.2"})
        assert refused.status == 412
        assert_protected(refused)


async def test_an_unexpected_error_carries_the_headers(settings: Settings) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app = create_app(settings)
    app.router.add_get("/broken", broken)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession() as http:
            response = await http.get(f"http://127.0.0.1:{server.port}/broken")
            assert response.status == 500
            assert_protected(response)
    finally:
        await server.close()


async def test_https_deployments_add_strict_transport_security(start: Start) -> None:
    base = await start(public_base_url="https://chat.example.org")
    async with ClientSession() as http:
        for path in ("/chat", "/no/such/page", "/"):
            response = await http.get(base + path, allow_redirects=False)
            assert_protected(response, https=True)
            assert response.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_a_malformed_request_is_answered_without_versions(start: Start) -> None:
    base = await start()
    parts = urlsplit(base)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(b"GET /chat HTTP/1.1\r\nHost: x\r\nBad Header\x01: y\r\n\r\n")
    await writer.drain()
    async with asyncio.timeout(5):
        answer = await reader.read(4096)
    writer.close()
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    assert head.split()[1] == "400"
    assert "server: intake" in head
    assert "aiohttp" not in head and "python" not in head
