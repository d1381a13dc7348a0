"""`/metrics`: Prometheus text for local scrapers or a token holder, summed over workers."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.settings import Settings
from storage.tables import InboundEvent
from tests.e2e.chat_client import ChatFamily
from tests.e2e.test_inbox import InboxBrowser, add_login
from tests.e2e.test_webchat_intake import ENGLISH_INTAKE, answer, rows, start_server
from tests.e2e.upload_client import TusClient, link_for, pdf, submit_case
from tests.e2e.upload_client import start as start_upload_server

ROOT = Path(__file__).resolve().parents[2]


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in Prometheus' text format (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:{{(.*)}})? (\S+)$", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


async def scrape(base: str) -> str:
    async with ClientSession() as http, http.get(f"{base}/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        return await response.text()


async def test_a_local_scraper_reads_counters_and_database_gauges(settings: Settings) -> None:
    server, base = await start_server(settings)
    family = await ChatFamily.open(base)
    try:
        # The counters belong to the process (other tests ran in it): compare before/after.
        before = await scrape(base)
        await family.replies()
        for how, value in ENGLISH_INTAKE[:3]:
            assert await answer(family, how, value)
        text = await scrape(base)
    finally:
        await family.close()
        await server.close()

    def grew(name: str, **labels: str) -> float:
        return sample(text, name, **labels) - sample(before, name, **labels)

    events = await rows(settings.database_url, InboundEvent)
    assert len(events) >= 3
    assert grew("intake_inbound_received_total", channel="webchat", duplicate="no") == len(
        events
    )
    assert grew("intake_inbound_processed_total", outcome="ok") == len(events)
    assert grew("intake_inbound_processing_seconds_count", channel="webchat") == len(events)
    assert grew("intake_outbox_sent_total", channel="webchat") >= 3
    assert "# TYPE intake_outbox_waiting gauge" in text
    assert "# TYPE intake_timers_due gauge" in text
    assert "Amira" not in text and "Benali" not in text


async def test_metrics_are_not_public(
    client: TestClient[object, object], settings: Settings, aiohttp_client: object
) -> None:
    through_proxy = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert through_proxy.status == 404

    guarded = await aiohttp_client(  # type: ignore[operator]
        create_app(settings.with_overrides(metrics_token="s3cret-scraper-token"))
    )
    assert (await guarded.get("/metrics")).status == 404
    wrong = await guarded.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 404
    right = await guarded.get(
        "/metrics", headers={"Authorization": "Bearer s3cret-scraper-token"}
    )
    assert right.status == 200
    assert "intake_inbound_received_total" in await right.text()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    async with ClientSession() as http:
        for _ in range(200):
            assert process.poll() is None, "the server exited"
            try:
                async with http.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the server did not start")


async def test_with_two_workers_every_scrape_adds_up_both_processes(
    settings: Settings, tmp_path: Path
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("several workers share one PostgreSQL; SQLite is single-process")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ, "DATABASE_URL": settings.database_url, "PORT": str(port),
        "DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT),
        "NEW_CONVERSATIONS_PER_HOUR": "1000", "MESSAGES_PER_MINUTE": "1000",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--workers", "2"], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        await wait_until_up(base, process)
        metric_files = tmp_path / "data" / "metrics"
        counted_by: set[str] = set()
        for _ in range(80):  # new connections until both processes have served some
            family = await ChatFamily.open(base)
            await family.replies()
            assert await answer(family, *ENGLISH_INTAKE[0])
            await family.close()
            counted_by = {f.stem.split("_")[-1] for f in metric_files.glob("counter_*.db")}
            if len(counted_by) >= 2:
                break
            await asyncio.sleep(0.1)
        assert len(counted_by) >= 2, "the kernel gave every connection to one process"
        events = await rows(settings.database_url, InboundEvent)
        scrapes = []
        for _ in range(10):
            async with ClientSession() as http, http.get(f"{base}/metrics") as response:
                text = await response.text()
            scrapes.append(
                sample(text, "intake_inbound_received_total", channel="webchat", duplicate="no")
            )
        assert scrapes == [len(events)] * 10
    finally:
        process.terminate()
        process.wait(20)


async def test_uploads_refusals_and_sign_ins_are_counted(settings: Settings) -> None:
    server, base = await start_upload_server(settings)
    family = await ChatFamily.open(base)
    http = ClientSession()
    inbox = await InboxBrowser.open(base)
    try:
        before = await scrape(base)
        await submit_case(family, settings.database_url)
        tus = TusClient(http, await link_for(settings.database_url, base))
        report = pdf("lab")
        await tus.send(report, filename="Blood tests.pdf", batch="b1")
        await tus.done()
        refused = await tus.create(100, filename="run-me.exe")
        assert refused.status == 415
        await add_login(settings.database_url)
        response, _ = await inbox.sign_in("anna@team.example", "not the password")
        assert response.status == 401
        response, _ = await inbox.sign_in("anna@team.example")
        assert response.status == 200
        after = await scrape(base)
    finally:
        await inbox.close()
        await http.close()
        await family.close()
        await server.close()

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("intake_upload_files_total", source="upload") == 1
    assert grew("intake_upload_bytes_total", source="upload") == len(report)
    assert grew("intake_inbox_sign_ins_total", outcome="refused") == 1
    assert grew("intake_inbox_sign_ins_total", outcome="ok") == 1
