"""Benchmark: the coordinators' inbox list with 100 000 conversations.

    .venv/bin/python -m bench.inbox_list [--cases 100000] [--requests 60] [--db sqlite,postgresql]

It fills a fresh database with SQLAlchemy Core bulk inserts: contacts on three channels in
six languages, most with a case in every status (a few urgent, some assigned, some with
unread messages, a handoff or an overdue deadline), a handful of messages, documents, an
outbox row and timers each, and a slice that wrote but never consented. Then it starts the
real application in its own process, signs a coordinator in over HTTP and measures, in the
same run:

* **baseline** - a bare aiohttp handler on the same database that runs one indexed query
  (the 200 latest contacts by id) and renders a comparable table (200 rows) with Jinja;
* **inbox** - `GET /inbox` for the first page of every tab, the other sort order, and the
  next pages of the full list (page 2 and a page deep in it, reached by the "older" link).

Each row is p50/p95/p99 over `--requests` sequential requests after two warm-up requests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import random
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, CookieJar, web
from sqlalchemy import insert

from bench.common import (
    drop_database,
    fresh_database,
    percentile,
    reachable_databases,
    table,
)
from bench.telegram_webhook import free_port
from storage.tables import Base

PASSWORD = "correct horse battery staple"
EMAIL = "bench@team.example"
CHUNK = 5_000
LANGUAGES = ("en", "fr", "ar", "nl", "ru", "tr")
CHANNELS = ("telegram", "whatsapp", "webchat")
# Where 100 000 requests of two years stand: most are done, a few thousand are being worked on.
STATUSES = (
    ("closed", 70), ("withdrawn", 5), ("erased", 2), ("follow_up", 4), ("opinion_delivered", 3),
    ("awaiting_documents", 5), ("intake_in_progress", 3), ("file_complete", 2),
    ("in_review_specialist", 3), ("in_review_tumour_board", 1), ("video_consultation", 2),
)
KINDS = ("report", "imaging", "lab", "prescription", "other")
TEXTS_IN = ("Hello", "Here are the reports", "Any news?", "Thank you", "When will we know?")
TEXTS_OUT = ("Thank you, we received your message.", "Which documents do you have?",
             "Your request is with the specialist.")
# The deep page: how many "older" links the benchmark follows (200 rows a page).
DEEP_PAGES = 25
# The contacts' denormalised last activity (absent before the migration that added it).
HAS_ACTIVITY = "last_activity_at" in Base.metadata.tables["contacts"].c


def _weighted(rng: random.Random) -> str:
    return rng.choices([s for s, _ in STATUSES], weights=[w for _, w in STATUSES])[0]


@dataclass
class Filled:
    """What the fill made, for the report."""

    contacts: int
    cases: int
    messages: int
    documents: int
    timers: int
    seconds: float


def _rows(cases: int, coordinator_ids: list[int], now: datetime) -> Iterator[tuple[str, dict]]:
    """(table, row) pairs in dependency order within each contact."""
    rng = random.Random(7)
    message_id = outbox_id = document_id = timer_id = history_id = 0
    contacts = int(cases / 0.9)  # one in ten wrote but never consented
    case_id = 0
    for contact_id in range(1, contacts + 1):
        created = now - timedelta(days=rng.uniform(0, 730))
        consented = contact_id % 10 != 0
        language = rng.choice(LANGUAGES)
        channel = rng.choice(CHANNELS)
        status = _weighted(rng) if consented else None
        live = status not in (None, "closed", "withdrawn", "erased")
        unread = rng.choice((0,) * 8 + (1, 2)) if live else 0
        times = [created]
        for _ in range(rng.randint(1, 5)):
            times.append(times[-1] + timedelta(hours=rng.uniform(0.1, 48)))
        activity = {"last_activity_at": times[-1]} if HAS_ACTIVITY else {}
        yield "contacts", {**activity,
            "id": contact_id, "channel": channel, "external_id": f"bench-{contact_id}",
            "display_name": f"Family {contact_id}", "locale": language,
            "locale_hint": language, "consent_version": "2026-11-v1" if consented else None,
            "consent_at": created if consented else None, "reminders_off": False,
            "needs_human": live and rng.random() < 0.03, "unread": unread,
            "blocked_at": None, "last_inbound_at": created, "created_at": created,
        }
        this_case = None
        if status is not None:
            case_id += 1
            this_case = case_id
            yield "cases", {
                "id": case_id, "reference": f"SO-{case_id:07d}", "contact_id": contact_id,
                "status": status, "language": language,
                "answers": {"patient_name": f"Patient {case_id}", "specialty": "cardiology",
                            "urgency": ["none"]},
                "routing": None, "urgent": live and rng.random() < 0.02,
                # Live requests are taken within a day; older ones were not always assigned.
                "assigned_to": (rng.choice(coordinator_ids)
                                if status != "intake_in_progress"
                                and rng.random() < (0.97 if live else 0.8) else None),
                "consent_version": "2026-11-v1", "consent_at": created,
                "submitted_at": created, "file_complete_at": None,
                "closed_at": created + timedelta(days=60) if not live else None,
                "created_at": created, "updated_at": created,
                "physician_email": None, "paid_elsewhere_at": None,
            }
            history_id += 1
            yield "case_history", {"id": history_id, "case_id": case_id, "from_status": None,
                                   "to_status": status, "actor": "family", "at": created}
        yield "conversations", {
            "contact_id": contact_id, "case_id": this_case, "updated_at": created,
            "state": {"phase": "submitted" if this_case else "consent", "language": language,
                      "handoff": live and rng.random() < 0.01},
        }
        for n, at in enumerate(times[1:]):
            message_id += 1
            direction = "in" if n % 2 == 0 else "out"
            yield "messages", {
                "id": message_id, "contact_id": contact_id, "case_id": this_case,
                "direction": direction, "author": "family" if direction == "in" else "bot",
                "coordinator_id": None,
                "text": rng.choice(TEXTS_IN if direction == "in" else TEXTS_OUT),
                "options": [], "multiple": False, "attachments": 0, "created_at": at,
            }
            if direction == "out":
                outbox_id += 1
                problem = rng.random()
                yield "outbox", {
                    "id": outbox_id, "contact_id": contact_id, "message_id": message_id,
                    "channel": channel, "payload": {}, "attempts": 1,
                    "status": "failed" if problem < 0.005 else
                    "held" if problem < 0.01 else "sent",
                    "next_attempt_at": at, "created_at": at, "sent_at": at,
                }
        if this_case is None:
            continue
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            document_id += 1
            yield "documents", {
                "id": document_id, "case_id": this_case, "kind": rng.choice(KINDS),
                "filename": f"file-{document_id}.pdf", "content_type": "application/pdf",
                "size": rng.randint(10_000, 5_000_000), "sha256": f"{document_id:064x}",
                "storage_key": f"k/{document_id}", "is_dicom": False, "detected_type": "pdf",
                "valid": True, "inspection": {}, "created_at": created,
            }
        if status in ("awaiting_documents", "file_complete", "in_review_specialist"):
            overdue = rng.random() < 0.05
            timer_id += 1
            yield "timers", {
                "id": timer_id, "case_id": this_case, "contact_id": contact_id,
                "kind": "opinion_due", "audience": "coordinator",
                "due_at": now - timedelta(days=1) if overdue else now + timedelta(days=5),
                "fired_at": now - timedelta(days=1) if overdue else None,
                "cancelled_at": None, "created_at": created,
            }


async def fill(database_url: str, cases: int) -> Filled:
    """Bulk-insert the whole data set, a chunk per table at a time."""
    from bot.access.coordinators import create_coordinator
    from storage.db import Database
    from storage.unit_of_work import UnitOfWork

    began = time.perf_counter()
    database = Database(database_url)
    now = datetime.now(UTC)
    async with UnitOfWork(database) as uow:
        me = await create_coordinator(uow.session, EMAIL, "Bench Coordinator", PASSWORD)
        await uow.commit()
        coordinator_ids = [me.id]
    async with database.engine.begin() as connection:
        for n in range(2, 9):
            await connection.execute(insert(Base.metadata.tables["coordinators"]).values(
                id=me.id + n, email=f"c{n}@team.example", name=f"Coordinator {n}",
                password_hash="!", active=True, created_at=now))
            coordinator_ids.append(me.id + n)
    order = ("contacts", "cases", "case_history", "conversations", "messages", "outbox",
             "documents", "timers")
    pending: dict[str, list[dict[str, Any]]] = {name: [] for name in order}
    counts: dict[str, int] = dict.fromkeys(order, 0)

    async def flush(upto: int) -> None:
        async with database.engine.begin() as connection:
            for name in order[:upto]:
                if pending[name]:
                    await connection.execute(insert(Base.metadata.tables[name]), pending[name])
                    counts[name] += len(pending[name])
                    pending[name] = []

    for name, row in _rows(cases, coordinator_ids, now):
        pending[name].append(row)
        if len(pending["contacts"]) >= CHUNK and name == "contacts":
            # The row just added belongs to the next chunk: write everything before it.
            last = pending["contacts"].pop()
            await flush(len(order))
            pending["contacts"].append(last)
    await flush(len(order))
    if not database.is_sqlite:
        async with database.engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
            for name in ("contacts", "cases", "messages", "outbox", "timers"):
                await connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT max(id) FROM {name}))")
    else:
        async with database.engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
    await database.dispose()
    return Filled(counts["contacts"], counts["cases"], counts["messages"],
                  counts["documents"], counts["timers"], time.perf_counter() - began)


# -- servers (child process) -----------------------------------------------------------------


BASELINE_PAGE = """<!doctype html><html><body><table>
{% for row in rows %}<tr><th><a href="/inbox/c/{{ row.id }}">{{ row.display_name }}</a>
<span>{{ row.channel }} · {{ row.locale }}</span></th><td>{{ row.unread }}</td>
<td>{{ row.created_at.isoformat() }}</td></tr>
{% endfor %}</table></body></html>"""


async def _serve_baseline(database_url: str, port: int, stop: Any) -> None:
    import jinja2
    from sqlalchemy import select

    from storage.db import Database
    from storage.tables import Contact

    database = Database(database_url)
    template = jinja2.Environment(autoescape=True).from_string(BASELINE_PAGE)

    async def page(request: web.Request) -> web.Response:
        async with database.sessions() as session:
            rows = list((await session.execute(
                select(Contact).order_by(Contact.id.desc()).limit(200))).scalars())
        return web.Response(text=template.render(rows=rows), content_type="text/html")

    app = web.Application()
    app.router.add_get("/inbox", page)
    await _run_until(app, port, stop)
    await database.dispose()


async def _serve_full(database_url: str, port: int, stop: Any, data_dir: str) -> None:
    from bot.app import create_app
    from bot.settings import Settings
    from bot.web.inbox import setup_inbox

    settings = Settings(database_url=database_url, host="127.0.0.1", port=port,
                        data_dir=Path(data_dir), timer_poll_seconds=3600,
                        outbox_poll_seconds=3600)
    app = create_app(settings)
    setup_inbox(app)
    await _run_until(app, port, stop)


async def _run_until(app: web.Application, port: int, stop: Any) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    while not stop.is_set():
        await asyncio.sleep(0.1)
    await runner.cleanup()


def _child(kind: str, database_url: str, port: int, stop: Any, data_dir: str) -> None:
    import logging
    import os

    logging.disable(logging.WARNING)
    if kind == "baseline":
        asyncio.run(_serve_baseline(database_url, port, stop))
    elif os.environ.get("BENCH_PROFILE"):
        from pyinstrument import Profiler

        with Profiler(interval=0.0005) as profiler:
            asyncio.run(_serve_full(database_url, port, stop, data_dir))
        Path(os.environ["BENCH_PROFILE"]).write_text(profiler.output_text(show_all=False))
    else:
        asyncio.run(_serve_full(database_url, port, stop, data_dir))


# -- load (this process) ---------------------------------------------------------------------


CSRF = re.compile(r'name="csrf" value="([^"]+)"')
OLDER = re.compile(r'<a[^>]+href="(/inbox\?[^"]*after=[^"]+)"[^>]*rel="next"')
ROW = re.compile(r'class="conv__link"')


async def _wait_up(url: str) -> None:
    async with ClientSession() as session:
        for _ in range(600):
            with contextlib.suppress(OSError):
                async with session.get(url, allow_redirects=False) as response:
                    if response.status < 500:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


async def _sign_in(session: ClientSession, base: str) -> None:
    async with session.get(f"{base}/inbox/login") as response:
        token = unescape(CSRF.search(await response.text()).group(1))  # type: ignore[union-attr]
    async with session.post(f"{base}/inbox/login", data={
        "email": EMAIL, "password": PASSWORD, "csrf": token}) as response:
        await response.read()
        if response.url.path != "/inbox":
            raise RuntimeError("benchmark coordinator could not sign in")


async def _time(session: ClientSession, url: str, requests: int) -> tuple[list[float], int, str]:
    """Latencies of `requests` GETs after two warm-up ones; rows on the page; its text."""
    text = ""
    for _ in range(2):
        async with session.get(url) as response:
            text = await response.text()
    latencies = []
    for _ in range(requests):
        started = time.perf_counter()
        async with session.get(url) as response:
            text = await response.text()
            if response.status != 200:
                raise RuntimeError(f"GET {url}: {response.status}")
        latencies.append(time.perf_counter() - started)
    return latencies, len(ROW.findall(text)) or text.count("<tr>"), text


async def _older(session: ClientSession, base: str, path: str, pages: int) -> str | None:
    """Follow the "older conversations" link `pages` times; the last page's path."""
    for _ in range(pages):
        async with session.get(base + path) as response:
            found = OLDER.search(await response.text())
        if found is None:
            return None
        path = unescape(found.group(1))
    return path


@dataclass
class Measured:
    db: str
    what: str
    rows: int
    latencies: list[float]


async def measure(db: str, cases: int, requests: int, workdir: Path) -> tuple[Filled,
                                                                              list[Measured]]:
    """Fill one database, then time the baseline and the inbox pages against it."""
    database_url, name = await fresh_database(db, workdir)
    results: list[Measured] = []
    try:
        filled = await fill(database_url, cases)
        for kind in ("baseline", "full"):
            port = free_port()
            context = multiprocessing.get_context("spawn")
            stop = context.Event()
            data_dir = tempfile.mkdtemp(dir=workdir)
            process = context.Process(target=_child, daemon=True,
                                      args=(kind, database_url, port, stop, data_dir))
            process.start()
            base = f"http://127.0.0.1:{port}"
            try:
                await _wait_up(f"{base}/inbox")
                async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
                    if kind == "baseline":
                        latencies, rows, _ = await _time(session, f"{base}/inbox", requests)
                        results.append(Measured(db, "baseline: bare handler, 1 indexed query",
                                                rows, latencies))
                        continue
                    await _sign_in(session, base)
                    for label, path in (
                        ("inbox: needs attention", "/inbox?show=attention"),
                        ("inbox: assigned to me", "/inbox?show=mine"),
                        ("inbox: all", "/inbox?show=all"),
                        ("inbox: not consented", "/inbox?show=unconsented"),
                        ("inbox: all, latest activity", "/inbox?show=all&sort=activity"),
                    ):
                        latencies, rows, _ = await _time(session, base + path, requests)
                        results.append(Measured(db, label, rows, latencies))
                    for label, pages in (("inbox: all, page 2", 1),
                                         (f"inbox: all, page {DEEP_PAGES + 1}", DEEP_PAGES)):
                        path = await _older(session, base, "/inbox?show=all", pages)
                        if path is None:
                            results.append(Measured(db, label + " (no such page)", 0, []))
                            continue
                        latencies, rows, _ = await _time(session, base + path, requests)
                        results.append(Measured(db, label, rows, latencies))
            finally:
                stop.set()
                process.join(30)
                if process.is_alive():
                    process.terminate()
    finally:
        await drop_database(name)
    return filled, results


HEADERS = ["db", "what", "rows", "p50 ms", "p95 ms", "p99 ms", "p95/baseline"]


def rows_of(results: list[Measured]) -> list[list[object]]:
    """Table rows, each inbox row beside the same run's baseline."""
    base = {r.db: percentile(r.latencies, 95) for r in results if r.what.startswith("baseline")}
    out: list[list[object]] = []
    for r in results:
        if not r.latencies:
            out.append([r.db, r.what, r.rows, "", "", "", ""])
            continue
        p95 = percentile(r.latencies, 95)
        out.append([r.db, r.what, r.rows, f"{percentile(r.latencies, 50) * 1000:.1f}",
                    f"{p95 * 1000:.1f}", f"{percentile(r.latencies, 99) * 1000:.1f}",
                    "" if r.what.startswith("baseline") else f"{p95 / base[r.db]:.1f}"])
    return out


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    databases = await reachable_databases(args.db)
    everything: list[Measured] = []
    with tempfile.TemporaryDirectory() as tmp:
        for db in databases:
            filled, results = await measure(db, args.cases, args.requests, Path(tmp))
            sys.stdout.write(
                f"{db}: filled {filled.contacts} contacts, {filled.cases} cases, "
                f"{filled.messages} messages, {filled.documents} documents, "
                f"{filled.timers} timers in {filled.seconds:.1f} s\n")
            sys.stdout.write(table(HEADERS, rows_of(results)) + "\n\n")
            sys.stdout.flush()
            everything += results
    sys.stdout.write(table(HEADERS, rows_of(everything)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
