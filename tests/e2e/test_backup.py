"""Backups that restore: a running system with a case and its files, backed up, restored into
an empty deployment with the same keys, every document read back byte for byte."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.documents.inspection import open_document
from bot.operations.backup import (
    BackupError,
    backup,
    database_is_empty,
    fingerprint,
    read_manifest,
    restore,
)
from bot.settings import Settings
from storage.db import Database
from storage.files import EncryptedDiskStore, load_or_create_key
from storage.tables import Case, Document
from tests.databases import PostgresFactory, SqliteFactory
from tests.dicom_factory import instance_bytes
from tests.e2e.test_upload import pydicom_file
from tests.e2e.upload_client import Intake, pdf, submitted

NO_ENV: dict[str, str] = {}


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[Intake]:
    """A running system: the app serving, a case submitted, its upload link."""
    async with submitted(settings) as deployment:
        yield deployment


async def documents_of(settings: Settings) -> dict[str, bytes]:
    """Every document of the deployment, decrypted: file name → plaintext."""
    key = load_or_create_key(settings.data_dir)
    store = EncryptedDiskStore(settings.data_dir / "files", key)
    database = Database(settings.database_url)
    found: dict[str, bytes] = {}
    try:
        async with database.sessions() as session:
            for document in (await session.execute(select(Document))).scalars():
                data = b"".join([c async for c in open_document(store, session, document)])
                assert hashlib.sha256(data).hexdigest() == document.sha256
                found[document.filename] = data
    finally:
        await database.dispose()
    return found


async def count_cases(url: str) -> int:
    database = Database(url)
    try:
        async with database.sessions() as session:
            return int((await session.execute(select(func.count(Case.id)))).scalar_one())
    finally:
        await database.dispose()


def elsewhere(
    settings: Settings, factory: SqliteFactory | PostgresFactory, tmp_path: Path,
    same_key: bool = True,
) -> Settings:
    """An empty deployment: its own database and data directory, the same file key."""
    data_dir = tmp_path / "restored"
    (data_dir / "keys").mkdir(parents=True)
    if same_key:
        shutil.copy(settings.data_dir / "keys" / "files.key", data_dir / "keys" / "files.key")
    return settings.with_overrides(database_url=factory.create_empty(), data_dir=data_dir)


async def test_a_running_system_is_backed_up_and_restored_elsewhere_byte_for_byte(
    running: Intake, database_factory: SqliteFactory | PostgresFactory, tmp_path: Path,
) -> None:
    sent = {
        "CT_small.dcm": pydicom_file("CT_small.dcm"),
        "slice.dcm": instance_bytes(rows=64, columns=64),
        "Blood tests March.pdf": pdf("lab"),
    }
    for name, data in sent.items():
        await running.tus.send(data, chunk=16_000, filename=name, batch="b1")
    await running.tus.done()
    before = await documents_of(running.settings)
    assert before == sent

    manifest = backup(running.settings, tmp_path / "backup", NO_ENV)  # the app keeps running

    assert manifest["files"] and manifest["database"]["schema_revision"]
    key = load_or_create_key(running.settings.data_dir)
    assert manifest["keys"]["files"] == fingerprint(key)
    written = (tmp_path / "backup" / "manifest.json").read_text()
    assert key.hex() not in written and "BENALI" not in written
    target = elsewhere(running.settings, database_factory, tmp_path)

    report = restore(target, tmp_path / "backup", NO_ENV)

    assert report.files == len(manifest["files"])
    assert await count_cases(target.database_url) == 1
    assert await documents_of(target) == sent


async def test_a_restore_refuses_another_key_a_live_target_and_a_damaged_backup(
    running: Intake, database_factory: SqliteFactory | PostgresFactory, tmp_path: Path,
) -> None:
    await running.tus.send(pdf("report"), filename="report.pdf", batch="b1")
    await running.tus.done()
    backup(running.settings, tmp_path / "backup", NO_ENV)

    other_key = elsewhere(running.settings, database_factory, tmp_path / "a", same_key=False)
    load_or_create_key(other_key.data_dir)
    with pytest.raises(BackupError, match="file key"):
        restore(other_key, tmp_path / "backup", NO_ENV)

    with pytest.raises(BackupError, match="not empty"):
        restore(running.settings, tmp_path / "backup", NO_ENV)  # never merges into live data

    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    damaged = tmp_path / "backup" / "files" / manifest["files"][0]["path"]
    damaged.write_bytes(b"x" + damaged.read_bytes()[1:])
    with pytest.raises(BackupError, match="checksum"):
        read_manifest(tmp_path / "backup")
    target = elsewhere(running.settings, database_factory, tmp_path / "b")
    with pytest.raises(BackupError, match="checksum"):
        restore(target, tmp_path / "backup", NO_ENV)
    assert database_is_empty(target)


def test_a_backup_never_writes_into_a_folder_that_holds_something(
    settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "something").write_text("x")

    with pytest.raises(BackupError, match="not empty"):
        backup(settings, tmp_path / "full", NO_ENV)
