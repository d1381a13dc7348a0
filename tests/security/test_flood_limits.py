"""Flooding the coordinators' queue from one address: new conversations and messages are
limited per client address, across workers, and a refusal stores nothing."""

from __future__ import annotations

import uuid

from aiohttp import ClientSession, CookieJar

from storage.db import Database
from storage.tables import Contact, InboundEvent, Message, ThrottleCounter
from tests.security.conftest import Start, count

POLL = "/chat/api/messages"


async def browser(base: str, lang: str = "en", **headers: str) -> ClientSession:
    """A fresh browser that opened the chat page (it holds a session cookie)."""
    http = ClientSession(cookie_jar=CookieJar(unsafe=True),
                         headers={"Accept-Language": lang, **headers})
    assert (await http.get(f"{base}/chat")).status == 200
    return http


async def test_page_views_store_nothing(start: Start, db: Database) -> None:
    base = await start()
    for _ in range(5):
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:
            assert (await http.get(f"{base}/chat")).status == 200
    assert await count(db, Contact) == 0
    assert await count(db, ThrottleCounter) == 0


async def test_new_conversations_beyond_the_hourly_limit_are_refused_politely(
    start: Start, db: Database
) -> None:
    base = await start(new_conversations_per_hour=3)
    opened = [await browser(base) for _ in range(4)]
    try:
        for http in opened[:3]:
            assert (await http.get(f"{base}{POLL}")).status == 200
        refused = await opened[3].get(f"{base}{POLL}", headers={"Accept-Language": "fr"})
        assert refused.status == 429
        assert 0 < int(refused.headers["Retry-After"]) <= 3600
        assert "réessayer plus tard" in (await refused.json())["error"]
        posted = await opened[3].post(f"{base}{POLL}",
                                      json={"client_id": uuid.uuid4().hex, "text": "/human"})
        assert posted.status == 429
        # The conversations already open go on.
        assert (await opened[0].post(f"{base}{POLL}", json={
            "client_id": uuid.uuid4().hex, "text": "/human"})).status == 202
    finally:
        for http in opened:
            await http.close()
    assert await count(db, Contact) == 3
    assert await count(db, Message, Message.direction == "in") == 1


async def test_the_limit_is_shared_by_every_worker(start: Start, db: Database) -> None:
    first, second = await start(new_conversations_per_hour=2), await start(
        new_conversations_per_hour=2)
    a, b, c = await browser(first), await browser(second), await browser(second)
    try:
        assert (await a.get(f"{first}{POLL}")).status == 200
        assert (await b.get(f"{second}{POLL}")).status == 200
        assert (await c.get(f"{second}{POLL}")).status == 429
    finally:
        for http in (a, b, c):
            await http.close()
    assert await count(db, Contact) == 2


async def test_messages_beyond_the_per_minute_limit_are_refused_and_not_stored(
    start: Start, db: Database
) -> None:
    base = await start(messages_per_minute=3)
    http = await browser(base, lang="nl")
    try:
        statuses = []
        for n in range(5):
            response = await http.post(f"{base}{POLL}",
                                       json={"client_id": uuid.uuid4().hex, "text": f"m{n}"})
            statuses.append(response.status)
        assert statuses == [202, 202, 202, 429, 429]
        assert response.headers["Retry-After"] == "60"
        assert "even" in (await response.json())["error"]  # Dutch: "wacht even"
    finally:
        await http.close()
    assert await count(db, Message, Message.direction == "in") == 3
    assert await count(db, InboundEvent) == 3


async def test_clients_behind_a_trusted_proxy_are_counted_apart(
    start: Start, db: Database
) -> None:
    from bot.access.client_address import parse_networks

    base = await start(new_conversations_per_hour=1,
                       trusted_proxies=parse_networks("127.0.0.1"))
    one = await browser(base, **{"X-Forwarded-For": "203.0.113.7"})
    two = await browser(base, **{"X-Forwarded-For": "198.51.100.9"})
    again = await browser(base, **{"X-Forwarded-For": "203.0.113.7"})
    try:
        assert (await one.get(f"{base}{POLL}")).status == 200
        assert (await two.get(f"{base}{POLL}")).status == 200
        assert (await again.get(f"{base}{POLL}")).status == 429
    finally:
        for http in (one, two, again):
            await http.close()
    assert await count(db, Contact) == 2
