"""Fixtures of the attack tests: the app behind a trusted proxy, with a clock they can move."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.client_address import parse_networks
from bot.settings import Settings
from tests.clock import FakeClock

# The test client connects from 127.0.0.1: configured as the reverse proxy, its
# X-Forwarded-For header says which client a request is from.
PROXY = "127.0.0.1"

Serve = Callable[..., Awaitable[str]]


@pytest.fixture
def clock() -> FakeClock:
    """The app's clock, moved by the tests."""
    return FakeClock()


@pytest.fixture
def proxied(settings: Settings) -> Settings:
    """Settings of a deployment behind a reverse proxy on loopback."""
    return settings.with_overrides(trusted_proxies=parse_networks(PROXY))


@pytest.fixture
async def serve(clock: FakeClock) -> AsyncIterator[Serve]:
    """Start the whole app (one more worker on each call) and give its base URL."""
    servers: list[TestServer] = []

    async def start(settings: Settings) -> str:
        server = TestServer(create_app(settings, clock), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        await server.close()


def from_client(address: str) -> dict[str, str]:
    """Headers of a request the proxy forwards for `address`."""
    return {"X-Forwarded-For": address}
