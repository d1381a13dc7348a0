"""Benchmark: upload a generated DICOM study through the family's secure link.

    .venv/bin/python -m bench.upload_study [--mib 1024] [--parallel 4] [--db sqlite]

In the same run, the same files go to:

* **baseline** - a bare aiohttp handler that streams each request body to a file on disk
  (a raw copy: no encryption, no inspection, no database);
* **full path** - the real upload link: tus creation + PATCH, streamed in constant memory,
  AES-256-GCM encryption at rest, SHA-256, DICOM inspection with pydicom, document rows,
  checklist update.

Reported: MB/s over the whole study, and the server process's peak resident memory (VmHWM
from /proc), so a leak or a buffered body shows up whatever the study's size.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import os
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

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
    from bot.upload_links import issue
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


async def upload_tus(base: str, token: str, files: list[Path], parallel: int) -> None:
    tus = {"Tus-Resumable": "1.0.0"}
    async with ClientSession(timeout=ClientTimeout(600)) as session:
        queue = list(files)

        async def worker() -> None:
            while queue:
                path = queue.pop()
                name = base64.b64encode(path.name.encode()).decode()
                batch = base64.b64encode(b"bench-batch-1").decode()
                async with session.post(
                    f"{base}/upload/{token}/files",
                    headers={**tus, "Upload-Length": str(path.stat().st_size),
                             "Upload-Metadata": f"filename {name},batch {batch}"},
                ) as response:
                    assert response.status == 201, (response.status, await response.text())
                    location = response.headers["Location"]
                async with session.patch(
                    f"{base}{location}", data=path.open("rb"),
                    headers={**tus, "Upload-Offset": "0",
                             "Content-Type": "application/offset+octet-stream"},
                ) as response:
                    assert response.status == 204, (response.status, await response.text())

        await asyncio.gather(*(worker() for _ in range(parallel)))
        async with session.post(f"{base}/upload/{token}/done") as response:
            await response.read()


async def run(
    kind: str, files: list[Path], parallel: int, db: str, workdir: Path
) -> dict[str, Any]:
    database_url, name = ("", None)
    token = ""
    if kind == "full":
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
            await upload_tus(base, token, files, parallel)
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
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--frames", type=int, default=1,
                        help="frames per instance (1: a classic CT, 512 KiB per file)")
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
    rows = [
        [args.db, f"{base['size'] / 2**20:.0f} MiB / {len(files)} files",
         "bare handler (raw copy to disk)", f"{base['mb_s']:.0f}", f"{base['peak']:.0f}", ""],
        [args.db, f"{full['size'] / 2**20:.0f} MiB / {len(files)} files",
         "upload link (tus, encrypted, inspected)", f"{full['mb_s']:.0f}",
         f"{full['peak']:.0f}", f"{full['mb_s'] / base['mb_s']:.2f}"],
    ]
    sys.stdout.write(table(["db", "study", "what", "MB/s", "peak RSS MiB", "full/baseline"],
                           rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
