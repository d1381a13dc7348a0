"""The `intake-bot` command: run, demo, migrate, i18n and operator tasks."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import multiprocessing
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from bot import logs
from bot.app import create_app
from bot.operations.metrics import prepare_multiprocess
from bot.settings import Settings
from storage.db import Database
from storage.migrate import upgrade

log = logging.getLogger("intake_bot")


async def _migrate(settings: Settings) -> None:
    database = Database(settings.database_url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()


def _serve(settings: Settings, telegram_polling: bool = False, reuse_port: bool = False) -> None:
    app = create_app(settings)
    if telegram_polling:
        # After the workers' context: polling feeds the inbound processor.
        from bot.channels.telegram_polling import telegram_polling_ctx

        app.cleanup_ctx.append(telegram_polling_ctx)
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None,
                reuse_port=reuse_port or None)


def _worker(settings: Settings) -> None:
    """One more serving process (spawned): the kernel spreads connections over the port."""
    logs.configure()
    _serve(settings, reuse_port=True)


def _serve_workers(settings: Settings, workers: int) -> None:
    """Several processes on one PostgreSQL: work is shared through row locks and SKIP
    LOCKED claims, so nothing important lives in any one process."""
    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_worker, args=(settings,), daemon=True)
                for _ in range(workers - 1)]
    for child in children:
        child.start()
    try:
        _serve(settings, reuse_port=True)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.join(10)


def _polling(settings: Settings, args: argparse.Namespace) -> bool:
    if getattr(args, "telegram_polling", False) and not settings.telegram_enabled:
        raise SystemExit("--telegram-polling needs TELEGRAM_BOT_TOKEN")
    return bool(getattr(args, "telegram_polling", False))


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    """Bring the database schema up to date."""
    asyncio.run(_migrate(settings))
    _say("database schema is up to date")
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the web chat, webhooks and inbox (run `migrate` first)."""
    polling = _polling(settings, args)
    workers = int(getattr(args, "workers", 1) or 1)
    if workers > 1:
        if not settings.database_url.startswith("postgresql"):
            raise SystemExit("--workers above 1 needs PostgreSQL (SQLite has one writer)")
        if polling:
            raise SystemExit("--telegram-polling runs in one process: use --workers 1")
        _say(f"intake-bot listening on {settings.base_url} with {workers} processes")
        prepare_multiprocess(settings.data_dir)  # before any worker counts anything
        _serve_workers(settings, workers)
        return 0
    _say(f"intake-bot listening on {settings.base_url}")
    _serve(settings, polling)
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Migrate the embedded SQLite database and serve the demo."""
    from bot.access.coordinators import prepare_demo_login

    polling = _polling(settings, args)
    asyncio.run(_migrate(settings))
    email, password = asyncio.run(prepare_demo_login(settings.database_url))
    base = settings.base_url
    _say("")
    _say("  Second-opinion intake assistant \u2014 demo")
    _say(f"  Web chat (families):    {base}/chat")
    _say(f"  Coordinator inbox:      {base}/inbox")
    _say(f"  Inbox sign-in:          {email} / {password}")
    _say(f"  Health check:           {base}/healthz")
    _say(f"  Database:               {settings.database_url}")
    _say("  Stop with Ctrl+C.")
    _say("")
    _serve(settings, polling)
    return 0


def cmd_add_coordinator(settings: Settings, args: argparse.Namespace) -> int:
    """Create a coordinator account for the inbox (asks for the password)."""
    from bot.access.coordinators import CoordinatorExists, WeakPassword, add_coordinator

    password = os.environ.get("COORDINATOR_PASSWORD") or getpass.getpass("Password: ")
    try:
        asyncio.run(add_coordinator(settings.database_url, args.email, args.name, password))
    except (CoordinatorExists, WeakPassword, ValueError) as error:
        _say(f"not created: {error}")
        return 1
    _say(f"coordinator created; sign in at {settings.base_url}/inbox")
    return 0


def _new_password() -> str:
    """The new password: `COORDINATOR_PASSWORD`, or asked twice without echo."""
    password = os.environ.get("COORDINATOR_PASSWORD")
    if password:
        return password
    password = getpass.getpass("New password: ")
    if getpass.getpass("Repeat it: ") != password:
        raise ValueError("the two passwords differ")
    return password


def cmd_change_password(settings: Settings, args: argparse.Namespace) -> int:
    """Set a coordinator's new password and end all their inbox sessions."""
    from bot.access.coordinators import NoSuchCoordinator, WeakPassword, change_password
    from bot.clock import system_clock

    try:
        password = _new_password()
        _, ended = asyncio.run(
            change_password(settings.database_url, args.email, password, system_clock())
        )
    except (NoSuchCoordinator, WeakPassword, ValueError) as error:
        _say(f"not changed: {error}")
        return 1
    _say(f"password changed; {ended} inbox session(s) ended")
    return 0


def cmd_deactivate_coordinator(settings: Settings, args: argparse.Namespace) -> int:
    """Close a coordinator's account: their sessions end at once, sign-in is refused."""
    from bot.access.coordinators import NoSuchCoordinator, deactivate_coordinator
    from bot.clock import system_clock

    try:
        _, ended = asyncio.run(
            deactivate_coordinator(settings.database_url, args.email, system_clock())
        )
    except NoSuchCoordinator as error:
        _say(f"not deactivated: no coordinator {error}")
        return 1
    _say(f"coordinator deactivated; {ended} inbox session(s) ended")
    return 0


def cmd_i18n(settings: Settings, args: argparse.Namespace) -> int:
    """Extract, update, compile-check or check the message catalogs."""
    from bot.i18n import workflow

    return int(workflow.main(args.rest) or 0)


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    """Write a consistent backup (database, encrypted files, manifest) into a new folder."""
    from bot.operations.backup import BackupError, backup

    try:
        manifest = backup(settings, args.directory)
    except BackupError as error:
        _say(f"backup failed: {error}")
        return 1
    keys = manifest["keys"]
    _say(f"backup written: {len(manifest['files'])} files, {manifest['database']['kind']} "
         f"database at schema {manifest['database']['schema_revision']}; restoring needs the "
         f"file key with fingerprint {keys['files']}")
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    """Restore a backup into an empty deployment configured with the same file key."""
    from bot.operations.backup import BackupError, restore

    try:
        report = restore(settings, args.directory)
    except BackupError as error:
        _say(f"restore refused: {error}")
        return 1
    asyncio.run(_migrate(settings))  # a backup of an older release is brought to head
    _say(f"restored: {report.files} files and the {report.database} database "
         f"(schema {report.schema_revision}, now up to date)")
    return 0


COMMANDS = {
    "migrate": cmd_migrate, "run": cmd_run, "demo": cmd_demo, "i18n": cmd_i18n,
    "add-coordinator": cmd_add_coordinator, "backup": cmd_backup, "restore": cmd_restore,
    "change-password": cmd_change_password,
    "deactivate-coordinator": cmd_deactivate_coordinator,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `intake-bot` command."""
    parser = argparse.ArgumentParser(prog="intake-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, fn in COMMANDS.items():
        p = sub.add_parser(name, help=(fn.__doc__ or "").strip())
        if name == "i18n":
            p.add_argument("rest", nargs=argparse.REMAINDER)
        if name in ("add-coordinator", "change-password", "deactivate-coordinator"):
            p.add_argument("email")
        if name == "add-coordinator":
            p.add_argument("name")
        if name in ("backup", "restore"):
            p.add_argument("directory", type=Path)
        if name in ("run", "demo"):
            p.add_argument("--telegram-polling", action="store_true",
                           help="fetch Telegram updates by long polling (no public https URL)")
        if name == "run":
            p.add_argument("--workers", type=int, default=1,
                           help="serving processes sharing the port (PostgreSQL only)")
    args = parser.parse_args(argv)
    logs.configure()
    settings = Settings.from_env()
    return COMMANDS[args.command](settings, args)


if __name__ == "__main__":
    raise SystemExit(main())
