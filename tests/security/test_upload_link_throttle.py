"""A guesser of upload tokens cannot lock families out: only failures are slowed down.

Behind the reverse proxy every family arrives from the proxy's address. The attacks: guess
tokens from that shared address and watch whether genuine families are refused; spread the
guesses over two workers; forge X-Forwarded-For to reset the count.
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import ClientSession
from sqlalchemy import select

from bot.access.throttle import Throttle, forget_old_counters, key_hash
from bot.documents.links import issue
from bot.settings import Settings
from storage.db import Database
from storage.tables import ThrottleCounter
from storage.unit_of_work import UnitOfWork
from tests.clock import FakeClock
from tests.e2e.test_inbox import seed_case
from tests.e2e.upload_client import TusClient, pdf
from tests.security.conftest import Serve, from_client

SHARED = "198.51.100.7"  # the address every family behind one carrier-grade NAT shows


async def upload_link(database_url: str, base: str, clock: FakeClock) -> str:
    """A submitted case and its upload link, issued at the app's time."""
    _, case_id = await seed_case(database_url)
    database = Database(database_url)
    try:
        async with UnitOfWork(database) as uow:
            token = await issue(uow.session, case_id, clock())
            await uow.commit()
    finally:
        await database.dispose()
    return f"{base}/upload/{token}"


async def guess(http: ClientSession, base: str, count: int, start: int = 0) -> list[int]:
    """Try `count` made-up tokens; the statuses."""
    statuses = []
    for attempt in range(start, start + count):
        response = await http.get(f"{base}/upload/{attempt:043d}")
        statuses.append(response.status)
    return statuses


async def test_a_guesser_sharing_the_familys_address_does_not_lock_the_family_out(
    proxied: Settings, serve: Serve, clock: FakeClock,
) -> None:
    base = await serve(proxied)
    link = await upload_link(proxied.database_url, base, clock)
    async with ClientSession(headers=from_client(SHARED)) as http:
        statuses = await guess(http, base, 15)
        assert statuses[:10] == [404] * 10 and set(statuses[10:]) == {429}

        page = await http.get(link)
        assert page.status == 200
        assert (await http.get(f"{link}/status")).status == 200
        tus = TusClient(http, link)
        data = pdf("after the guesser")
        created = await tus.create(len(data), filename="referral.pdf")
        assert created.status == 201
        url = tus.absolute(created.headers["Location"])
        assert (await tus.head(url)).status == 200
        patched = await tus.patch(url, 0, data)
        assert patched.status == 204 and patched.headers["Upload-Offset"] == str(len(data))

        still = await http.get(f"{base}/upload/{'9' * 43}")
        assert still.status == 429 and 0 < int(still.headers["Retry-After"]) <= 301


async def test_failures_count_per_client_behind_the_proxy_and_forged_headers_do_not_reset(
    settings: Settings, proxied: Settings, serve: Serve,
) -> None:
    behind_proxy = await serve(proxied)
    async with ClientSession(headers=from_client(SHARED)) as guesser, \
            ClientSession(headers=from_client("203.0.113.50")) as neighbour:
        await guess(guesser, behind_proxy, 11)
        assert (await guess(guesser, behind_proxy, 1, start=50)) == [429]
        assert (await guess(neighbour, behind_proxy, 1, start=60)) == [404]

    # Without TRUSTED_PROXIES the header is the client's own word, and ignored.
    direct = await serve(settings.with_overrides(database_url=proxied.database_url))
    async with ClientSession() as http:
        for n in range(11):
            forged = {"X-Forwarded-For": f"192.0.2.{n}"}
            await http.get(f"{direct}/upload/{n + 100:043d}", headers=forged)
        response = await http.get(f"{direct}/upload/{'8' * 43}",
                                  headers={"X-Forwarded-For": "192.0.2.99"})
        assert response.status == 429


async def test_every_worker_sees_the_same_count(proxied: Settings, serve: Serve) -> None:
    first, second = await serve(proxied), await serve(proxied)
    async with ClientSession(headers=from_client(SHARED)) as http:
        assert await guess(http, first, 6) == [404] * 6
        assert await guess(http, second, 4, start=6) == [404] * 4
        assert await guess(http, second, 1, start=10) == [429]
        assert await guess(http, first, 1, start=11) == [429]


async def test_the_slow_down_ends_with_its_window(
    proxied: Settings, serve: Serve, clock: FakeClock,
) -> None:
    base = await serve(proxied)
    async with ClientSession(headers=from_client(SHARED)) as http:
        await guess(http, base, 11)
        assert await guess(http, base, 1, start=20) == [429]
        clock.advance(minutes=5, seconds=1)
        assert await guess(http, base, 1, start=21) == [404]


async def test_the_daily_job_forgets_counters_nobody_has_hit_for_two_days(
    proxied: Settings, serve: Serve, clock: FakeClock,
) -> None:
    base = await serve(proxied)
    async with ClientSession(headers=from_client(SHARED)) as http:
        await guess(http, base, 3)
    database = Database(proxied.database_url)
    try:
        name = key_hash(f"upload-bad:{SHARED}")
        assert await forget_old_counters(database, clock) == 0
        await Throttle(database).hit("recent", timedelta(minutes=5), clock() + timedelta(days=2))
        clock.advance(days=2, seconds=1)
        assert await forget_old_counters(database, clock) == 1
        async with database.sessions() as session:
            left = (await session.execute(select(ThrottleCounter.key_hash))).scalars().all()
        assert name not in left and left == [key_hash("recent")]
    finally:
        await database.dispose()
