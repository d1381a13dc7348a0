"""Backups that restore: the database, the encrypted file store, and a manifest to check both.

`intake-bot backup DIR` writes

- `database.sqlite3` (SQLite's online backup API: a consistent copy of a live database) or
  `database.pgdump` (`pg_dump --format=custom`, one consistent snapshot);
- `files/`: the encrypted objects of the file store, copied as they are (still encrypted:
  a backup is no more readable than the disk it came from);
- `manifest.json`, written last: the size and SHA-256 of every file above, the schema
  revision, and the fingerprints of the keys (never the keys themselves).

The database is copied first, the files after it: a file written during the backup is an
extra object no row points to (harmless); a file an erasure deleted during the backup is
missing, and stays erased after a restore (the restore reports it).

`intake-bot restore DIR` checks every checksum, refuses when the configured file key is not
the one the backup was made with (the files could not be read), refuses a target that is not
empty (it never merges into live data), then loads the database and copies the files.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bot.settings import Settings

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
FILES_DIR = "files"
CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why (never data)."""


@dataclass(frozen=True)
class RestoreReport:
    """What a restore brought back."""

    files: int
    database: str
    schema_revision: str | None


def fingerprint(key: bytes) -> str:
    """A short public name of a key: shows which key a backup needs, reveals nothing of it."""
    return hashlib.sha256(b"intake-bot key fingerprint\0" + key).hexdigest()[:16]


def _decode_file_key(text: str) -> bytes:
    text = text.strip()
    for decode in (base64.b64decode, base64.urlsafe_b64decode, bytes.fromhex):
        try:
            key = decode(text)
        except ValueError:
            continue
        if len(key) == 32:
            return key
    raise BackupError("FILES_KEY is not a 32-byte key")


def configured_file_key(settings: Settings, environ: Mapping[str, str]) -> bytes | None:
    """The file store's key as configured, without creating one (None when there is none)."""
    value = environ.get("FILES_KEY", "").strip() or settings.extra.get("FILES_KEY", "").strip()
    if value:
        return _decode_file_key(value)
    path = Path(settings.data_dir) / "keys" / "files.key"
    if not path.is_file():
        return None
    data = path.read_bytes()
    return data if len(data) == 32 else _decode_file_key(data.decode("ascii"))


def _session_key(settings: Settings, environ: Mapping[str, str]) -> bytes | None:
    value = environ.get("SESSION_KEY", "").strip() or settings.extra.get("SESSION_KEY", "")
    if value.strip():
        return value.strip().encode("utf-8")
    path = Path(settings.data_dir) / "keys" / "session.key"
    return path.read_bytes() if path.is_file() else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _entry(path: Path, root: Path) -> dict[str, Any]:
    return {"path": path.relative_to(root).as_posix(), "size": path.stat().st_size,
            "sha256": _sha256(path)}


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    return Path(database)


def _pg_command(url: str) -> tuple[list[str], dict[str, str]]:
    """libpq arguments for pg_dump / pg_restore; the password goes in the environment only."""
    parsed = make_url(url)
    args = ["--dbname", parsed.database or ""]
    if parsed.host:
        args += ["--host", parsed.host]
    if parsed.port:
        args += ["--port", str(parsed.port)]
    if parsed.username:
        args += ["--username", parsed.username]
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return args, env


def _run(command: list[str], env: dict[str, str]) -> None:
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed (PostgreSQL client tools)") from None
    if result.returncode != 0:
        # The tools' messages name objects, never row contents; keep the last line.
        last = (result.stderr.strip().splitlines() or ["failed"])[-1]
        raise BackupError(f"{command[0]} failed: {last}")


def _schema_revision_sqlite(path: Path) -> str | None:
    with sqlite3.connect(path) as connection:
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            return None
    return row[0] if row else None


def _dump_database(settings: Settings, target: Path) -> tuple[str, Path]:
    url = settings.database_url
    if make_url(url).get_backend_name() == "sqlite":
        source = sqlite3.connect(_sqlite_path(url))
        destination = sqlite3.connect(target / SQLITE_FILE)
        try:
            source.backup(destination)  # a consistent snapshot of a live database
        finally:
            destination.close()
            source.close()
        return "sqlite", target / SQLITE_FILE
    args, env = _pg_command(url)
    _run(["pg_dump", "--format=custom", "--no-owner", "--no-acl",
          "--file", str(target / PG_FILE), *args], env)
    return "postgresql", target / PG_FILE


def _pg_schema_revision(settings: Settings) -> str | None:
    args, env = _pg_command(settings.database_url)
    try:
        result = subprocess.run(
            ["psql", "--no-psqlrc", "--tuples-only", "--no-align", *args,
             "--command", "SELECT version_num FROM alembic_version"],
            env=env, capture_output=True, text=True, check=False,
        )
    except FileNotFoundError:
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def backup(
    settings: Settings, target: Path, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Write a backup of the running deployment into `target` (new or empty)."""
    env = os.environ if environ is None else environ
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty")
    target.mkdir(parents=True, exist_ok=True)
    kind, database_file = _dump_database(settings, target)
    revision = (_schema_revision_sqlite(database_file) if kind == "sqlite"
                else _pg_schema_revision(settings))
    external = bool(settings.files_url and settings.files_url.startswith("s3://"))
    objects = Path(settings.files_url or Path(settings.data_dir) / "files") / "objects"
    copied = target / FILES_DIR
    copied.mkdir()
    entries = []
    # Objects in S3-compatible storage stay there: the bucket's own versioning or replication
    # backs them up (the manifest says where they are); this copies the database.
    if not external and objects.is_dir():
        for path in sorted(p for p in objects.rglob("*") if p.is_file()):
            destination = copied / path.relative_to(objects)
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(path, destination)
            except FileNotFoundError:
                continue  # erased while the backup ran: it stays erased
            _fsync(destination)
            entries.append(_entry(destination, copied))
    _fsync(database_file)
    file_key, session_key = configured_file_key(settings, env), _session_key(settings, env)
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "database": {"kind": kind, **_entry(database_file, target),
                     "schema_revision": revision},
        "files": entries,
        "files_location": settings.files_url if external else "backup",
        "keys": {
            "files": fingerprint(file_key) if file_key else None,
            "session": fingerprint(session_key) if session_key else None,
        },
    }
    tmp = target / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    _fsync(tmp)
    tmp.replace(target / MANIFEST)
    _fsync(target)
    return manifest


def read_manifest(source: Path) -> dict[str, Any]:
    """The manifest of a backup, checked against the files it lists."""
    path = Path(source) / MANIFEST
    if not path.is_file():
        raise BackupError(f"{source} has no {MANIFEST}: not a backup, or an unfinished one")
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    listed = [(Path(source), manifest["database"])]
    listed += [(Path(source) / FILES_DIR, entry) for entry in manifest["files"]]
    for root, entry in listed:
        file = root / entry["path"]
        if not file.is_file() or file.stat().st_size != entry["size"]:
            raise BackupError(f"{entry['path']} is missing or has the wrong size")
        if _sha256(file) != entry["sha256"]:
            raise BackupError(f"{entry['path']} does not match its checksum")
    return manifest


def database_is_empty(settings: Settings) -> bool:
    """Whether the target database has no tables (a restore never merges into data)."""
    url = settings.database_url
    if make_url(url).get_backend_name() == "sqlite":
        path = _sqlite_path(url)
        if not path.exists() or path.stat().st_size == 0:
            return True
        with sqlite3.connect(path) as connection:
            tables = connection.execute(
                "SELECT count(*) FROM sqlite_master WHERE type='table'"
            ).fetchone()[0]
        return int(tables) == 0
    args, env = _pg_command(url)
    result = subprocess.run(
        ["psql", "--no-psqlrc", "--tuples-only", "--no-align", *args, "--command",
         "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"],
        env=env, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise BackupError("the target database cannot be reached")
    return result.stdout.strip() == "0"


def restore(
    settings: Settings, source: Path, environ: Mapping[str, str] | None = None
) -> RestoreReport:
    """Bring a backup back into an empty deployment configured with the same file key."""
    env = os.environ if environ is None else environ
    source = Path(source)
    manifest = read_manifest(source)
    wanted = manifest["keys"].get("files")
    key = configured_file_key(settings, env)
    if wanted and (key is None or fingerprint(key) != wanted):
        raise BackupError(
            f"the configured file key is not the backup's (fingerprint {wanted}): set FILES_KEY "
            "or DATA_DIR/keys/files.key to the key the backup was made with"
        )
    objects = Path(settings.files_url or Path(settings.data_dir) / "files") / "objects"
    if manifest.get("files_location", "backup") != "backup":
        objects = Path()  # the objects never left the bucket; nothing to copy back
    elif objects.is_dir() and any(objects.iterdir()):
        raise BackupError("the target file store is not empty")
    if not database_is_empty(settings):
        raise BackupError("the target database is not empty")
    database = manifest["database"]
    if database["kind"] == "sqlite":
        if make_url(settings.database_url).get_backend_name() != "sqlite":
            raise BackupError("this backup is of a SQLite database; DATABASE_URL is not SQLite")
        path = _sqlite_path(settings.database_url)
        path.parent.mkdir(parents=True, exist_ok=True)
        source_db = sqlite3.connect(source / database["path"])
        target_db = sqlite3.connect(path)
        try:
            source_db.backup(target_db)
        finally:
            target_db.close()
            source_db.close()
    else:
        if make_url(settings.database_url).get_backend_name() != "postgresql":
            raise BackupError("this backup is of a PostgreSQL database; DATABASE_URL is not")
        args, pg_env = _pg_command(settings.database_url)
        _run(["pg_restore", "--no-owner", "--no-acl", "--exit-on-error", *args,
              str(source / database["path"])], pg_env)
    for entry in manifest["files"]:
        destination = objects / entry["path"]
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / FILES_DIR / entry["path"], destination)
        _fsync(destination)
    return RestoreReport(
        files=len(manifest["files"]), database=database["kind"],
        schema_revision=database.get("schema_revision"),
    )
