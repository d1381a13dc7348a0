"""Benchmark: upload a generated DICOM study through the family's secure link.

    .venv/bin/python -m bench.upload_study [--mib 1024] [--parallel 3] [--db sqlite] [--tus]

In the same run, the same files go to:

* **baseline** - a bare aiohttp handler that streams each request body to a file on disk
  (a raw copy: no encryption, no inspection, no database);
* **full path** - the real upload link, sent as the page sends it (`bot/web/static/upload.js`):
  files that fit in one piece in batches (`POST .../batch`, grouped by the page's count and
  byte limits), larger ones with tus creation + PATCH in the page's piece size, `--parallel`
  requests at a time, then the page's `done`. Streamed in constant memory, AES-256-GCM at
  rest, SHA-256, DICOM inspection with pydicom, document rows, checklist update;
* with `--tus`, also **tus only** - every file through tus, as the page did before batches.

Reported: MB/s over the whole study, and the server process's peak resident memory (VmHWM
from /proc), so a leak or a buffered body shows up whatever the study's size.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, FormData, web

from bench.common import drop_database, fresh_database, postgres_available, table

CHUNK = 256 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_mib(pid: int) -> float:
    """Peak resident set size of a process (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- servers (child process) -----------------------------------------------------------------


async def _serve_baseline(port: int, target: Path, stop: Any, ready: Any) -> None:
    async def put(request: web.Request) -> web.Response:
        path = target / request.match_info["name"]

        def open_file() -> Any:
            return path.open("wb")

        handle = await asyncio.to_thread(open_file)
        try:
            async for chunk in request.content.iter_chunked(CHUNK):
                await asyncio.to_thread(handle.write, chunk)
        finally:
            await asyncio.to_thread(handle.close)
        return web.Response(status=204)

    app = web.Application(client_max_size=1024**2)
    app.router.add_put("/raw/{name}", put)
    await _run_until(app, port, stop, ready)


async def _serve_full(port: int, database_url: str, data_dir: Path, stop: Any,
                      ready: Any) -> None:
    from bot.app import create_app
    from bot.settings import Settings

    settings = Settings(database_url=database_url, host="127.0.0.1", port=port,
                        data_dir=data_dir, timer_poll_seconds=3600)
    await _run_until(create_app(settings), port, stop, ready)


async def _run_until(app: web.Application, port: int, stop: Any, ready: Any) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    ready.set()
    while not stop.is_set():
        await asyncio.sleep(0.1)
    await runner.cleanup()


def _child(kind: str, port: int, stop: Any, ready: Any, database_url: str,
           data_dir: str) -> None:
    import logging

    logging.disable(logging.WARNING)
    if kind == "baseline":
        asyncio.run(_serve_baseline(port, Path(data_dir), stop, ready))
    elif os.environ.get("BENCH_PROFILE"):
        from pyinstrument import Profiler  # a development tool, not a dependency

        with Profiler(interval=0.0005) as profiler:
            asyncio.run(_serve_full(port, database_url, Path(data_dir), stop, ready))
        Path(os.environ["BENCH_PROFILE"]).write_text(profiler.output_text())
    else:
        asyncio.run(_serve_full(port, database_url, Path(data_dir), stop, ready))


# -- set-up and load (this process) ----------------------------------------------------------


def make_study(directory: Path, mib: int, frames: int = 1) -> list[Path]:
    """Write a CT study of about `mib` MiB: 512x512 16-bit instances over 4 series
    (`frames` > 1 makes multi-frame instances, as enhanced CT/MR exports do)."""
    from tests.dicom_factory import write_study

    per_instance = 512 * 512 * 2 * frames
    instances = max(1, mib * 1024 * 1024 // per_instance)
    study = write_study(directory, instances=instances, series=4, rows=512, columns=512,
                        frames=frames, patient_name="DOE^JANE", birth_date=None)
    return list(study.paths)


async def open_case(database_url: str) -> str:
    """A case waiting for documents, and a live upload token for it."""
    from bot.documents.links import issue
    from intake.case import CaseStatus
    from storage.db import Database
    from storage.tables import Case, Contact

    now = datetime.now(UTC)
    database = Database(database_url)
    try:
        async with database.sessions() as session:
            contact = Contact(channel="webchat", external_id="bench", locale="en")
            session.add(contact)
            await session.flush()
            case = Case(reference="SO-BENCH1", contact_id=contact.id,
                        status=CaseStatus.AWAITING_DOCUMENTS, language="en",
                        answers={"patient_name": "Jane Doe", "specialty": "oncology",
                                 "situation": "surgery"}, created_at=now, updated_at=now,
                        submitted_at=now)
            session.add(case)
            await session.flush()
            token = await issue(session, case.id, now)
            await session.commit()
    finally:
        await database.dispose()
    return token


async def upload_raw(base: str, files: list[Path], parallel: int) -> None:
    async with ClientSession(timeout=ClientTimeout(600)) as session:
        queue = list(enumerate(files))

        async def worker() -> None:
            while queue:
                n, path = queue.pop()
                async with session.put(f"{base}/raw/f{n}", data=path.open("rb")) as response:
                    assert response.status == 204, response.status

        await asyncio.gather(*(worker() for _ in range(parallel)))


async def tus_file(session: ClientSession, base: str, token: str, path: Path) -> None:
    """One file through tus, in the page's piece size."""
    from bot.web.upload import CHUNK_BYTES

    tus = {"Tus-Resumable": "1.0.0"}
    name = base64.b64encode(path.name.encode()).decode()
    batch = base64.b64encode(b"bench-batch-1").decode()
    size = path.stat().st_size
    async with session.post(
        f"{base}/upload/{token}/files",
        headers={**tus, "Upload-Length": str(size),
                 "Upload-Metadata": f"filename {name},batch {batch}"},
    ) as response:
        assert response.status == 201, (response.status, await response.text())
        location = response.headers["Location"]
    with path.open("rb") as handle:
        offset = 0
        while offset < size:
            piece = handle.read(CHUNK_BYTES)
            async with session.patch(
                f"{base}{location}", data=piece,
                headers={**tus, "Upload-Offset": str(offset),
                         "Content-Type": "application/offset+octet-stream"},
            ) as response:
                assert response.status == 204, (response.status, await response.text())
                offset = int(response.headers["Upload-Offset"])


async def batch_files(session: ClientSession, base: str, token: str, paths: list[Path]) -> None:
    """Small files in one batch request, as the page builds it."""
    form = FormData()
    for path in paths:
        form.add_field("meta", json.dumps({"size": path.stat().st_size, "filename": path.name,
                                           "batch": "bench-batch-1"}))
        form.add_field("file", path.read_bytes(), filename="file",
                       content_type="application/octet-stream")
    async with session.post(f"{base}/upload/{token}/batch", data=form) as response:
        assert response.status == 200, (response.status, await response.text())
        answers = (await response.json())["files"]
        assert all(answer["ok"] for answer in answers), answers


def page_requests(files: list[Path], batches: bool) -> list[tuple[str, list[Path]]]:
    """The page's requests, in order: batches of small files ("batch") and large files one
    by one ("tus"), grouped by the page's rules (`upload.js`: `batchable`, `nextBatch`)."""
    from bot.documents.batches import BATCH_BYTES, BATCH_FILE_BYTES, BATCH_FILES
    from bot.web.upload import CHUNK_BYTES

    small = min(BATCH_FILE_BYTES, CHUNK_BYTES) if batches else 0
    requests: list[tuple[str, list[Path]]] = []
    group: list[Path] = []
    size = 0
    for path in files:
        length = path.stat().st_size
        if not 0 < length <= small:
            requests.append(("tus", [path]))
            continue
        if group and (len(group) >= BATCH_FILES or size + length > BATCH_BYTES):
            requests.append(("batch", group))
            group, size = [], 0
        group.append(path)
        size += length
    if group:
        requests.append(("batch", group))
    return requests


async def upload_page(base: str, token: str, files: list[Path], parallel: int,
                      batches: bool) -> None:
    """What the upload page does with a selection of files."""
    async with ClientSession(timeout=ClientTimeout(600)) as session:
        queue = page_requests(files, batches)
        queue.reverse()

        async def worker() -> None:
            while queue:
                how, paths = queue.pop()
                if how == "tus":
                    await tus_file(session, base, token, paths[0])
                else:
                    await batch_files(session, base, token, paths)

        await asyncio.gather(*(worker() for _ in range(parallel)))
        async with session.post(f"{base}/upload/{token}/done") as response:
            await response.read()


async def run(
    kind: str, files: list[Path], parallel: int, db: str, workdir: Path
) -> dict[str, Any]:
    database_url, name = ("", None)
    token = ""
    if kind != "baseline":
        database_url, name = await fresh_database(db, workdir)
        token = await open_case(database_url)
    data_dir = Path(tempfile.mkdtemp(dir=workdir))
    context = multiprocessing.get_context("spawn")
    stop, ready = context.Event(), context.Event()
    port = free_port()
    process = context.Process(target=_child, daemon=True,
                              args=(kind, port, stop, ready, database_url, str(data_dir)))
    process.start()
    base = f"http://127.0.0.1:{port}"
    try:
        while not ready.is_set():
            await asyncio.sleep(0.05)
        began = time.perf_counter()
        if kind == "baseline":
            await upload_raw(base, files, parallel)
        else:
            await upload_page(base, token, files, parallel, batches=kind == "full")
        seconds = time.perf_counter() - began
        peak = peak_rss_mib(process.pid or 0)
    finally:
        stop.set()
        process.join(60)
        await drop_database(name)
    size = sum(p.stat().st_size for p in files)
    return {"kind": kind, "seconds": seconds, "mb_s": size / 1e6 / seconds, "peak": peak,
            "size": size}


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--parallel", type=int, default=3,
                        help="requests at a time (the page's 3)")
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--frames", type=int, default=1,
                        help="frames per instance (1: a classic CT, 512 KiB per file)")
    parser.add_argument("--tus", action="store_true",
                        help="also send every file through tus (the page before batches)")
    args = parser.parse_args(argv)
    if args.db == "postgresql" and not await postgres_available():
        sys.stderr.write("PostgreSQL not reachable\n")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        study = workdir / "study"
        started = time.perf_counter()
        files = make_study(study, args.mib, args.frames)
        sys.stderr.write(f"generated {len(files)} instances in "
                         f"{time.perf_counter() - started:.1f}s\n")
        base = await run("baseline", files, args.parallel, args.db, workdir)
        full = await run("full", files, args.parallel, args.db, workdir)
        tus = await run("tus", files, args.parallel, args.db, workdir) if args.tus else None
    study_text = f"{base['size'] / 2**20:.0f} MiB / {len(files)} files"
    rows = [[args.db, study_text, "bare handler (raw copy to disk)", f"{base['mb_s']:.0f}",
             f"{base['peak']:.0f}", ""]]
    for result, what in ((tus, "upload link, tus only (before batches)"),
                         (full, "upload link as the page sends (encrypted, inspected)")):
        if result is not None:
            rows.append([args.db, study_text, what, f"{result['mb_s']:.0f}",
                         f"{result['peak']:.0f}", f"{result['mb_s'] / base['mb_s']:.2f}"])
    sys.stdout.write(table(["db", "study", "what", "MB/s", "peak RSS MiB", "full/baseline"],
                           rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
