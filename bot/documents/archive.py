"""Safe reading of the ZIP archives families send (a CD copied into one file, a folder).

`open_zip` (a context manager giving the list of members) and `iter_zip_members` (a
generator) check the whole central directory before giving anything, so a rejected archive
contributes nothing; each member is then read through a counting reader. Nothing is ever
extracted to a path taken from the archive (the store names files itself), but unsafe names
still reject the archive: they only come from hostile or broken tools.

Rejected (`ArchiveRejected.code`): `not_zip`, `corrupt`, `too_many_members`, `too_large`,
`bomb` (a member inflating more than `max_ratio` times, overlapping entries, or more bytes
than declared while reading), `unsafe_path` (`..`, absolute paths, drive letters, NUL),
`symlink`, `encrypted`, `unsupported_compression`.

Only stored and deflated members are read. CPython inflates bzip2 members without an output
bound (a few KiB of input can become gigabytes in one call), and Deflate64, which Windows
Explorer uses for very large files, needs a third-party package (`zipfile-deflate64`).
Skipped silently: directories and desktop junk (`__MACOSX/`, `._*`, `.DS_Store`, `Thumbs.db`,
`desktop.ini`). An inner ZIP is yielded as an ordinary member; the caller decides whether to
open it (at most one level, with what is left of the budget).

Small members skip the ratio check (`ratio_floor`), so the real bound on what an archive
costs is `max_total_uncompressed`: callers pass the per-archive allowance
(`ZIP_EXPANSION_PER_ARCHIVE`) and count `declared_size` against the case's daily one before
reading anything.
"""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, BinaryIO

__all__ = [
    "ArchiveRejected",
    "ZipMember",
    "declared_size",
    "iter_zip_members",
    "open_zip",
]

MAX_MEMBERS = 20_000
MAX_TOTAL_UNCOMPRESSED = 32 << 30
MAX_RATIO = 200
# Small members cannot hurt whatever their ratio; blank DICOM masks compress enormously.
RATIO_FLOOR = 8 << 20

_SUPPORTED = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_JUNK_DIRS = frozenset({"__macosx"})
_JUNK_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db"})
_DRIVE = re.compile(r"^[A-Za-z]:")
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAGS = 0x1 | 0x40


class ArchiveRejected(Exception):
    """The archive (or a member being read) is refused; `code` is for the UI to translate."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class _Budget:
    """Bytes the whole archive may still inflate to, shared by its members' readers."""

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining


class _CountingReader(io.RawIOBase):
    """A member's bytes, refusing more than declared or than the archive budget allows."""

    def __init__(self, inner: IO[bytes], declared: int, budget: _Budget) -> None:
        self._inner = inner
        self._declared = declared
        self._budget = budget
        self._count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buffer))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise ArchiveRejected("corrupt") from exc
        self._count += len(data)
        self._budget.remaining -= len(data)
        # Headers can lie: the count is what is enforced, whatever the directory said.
        if self._count > self._declared or self._budget.remaining < 0:
            raise ArchiveRejected("bomb")
        memoryview(buffer)[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


@dataclass(frozen=True)
class ZipMember:
    """One file inside an archive: a safe relative name, its declared size and a reader."""

    name: str
    size: int
    compressed_size: int
    _archive: zipfile.ZipFile = field(repr=False, compare=False)
    _info: zipfile.ZipInfo = field(repr=False, compare=False)
    _budget: _Budget = field(repr=False, compare=False)

    def open(self) -> BinaryIO:
        """A blocking reader of the member's bytes; read it before advancing the iterator."""
        try:
            inner = self._archive.open(self._info)
        except (zipfile.BadZipFile, zlib.error, OSError) as exc:
            raise ArchiveRejected("corrupt") from exc
        raw = _CountingReader(inner, self.size, self._budget)
        return io.BufferedReader(raw, buffer_size=256 * 1024)


def _decoded_name(info: zipfile.ZipInfo) -> str:
    """Names without the UTF-8 flag are cp437 by the spec, but most tools wrote UTF-8."""
    if info.flag_bits & _UTF8_FLAG:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _safe_name(raw: str) -> str:
    name = raw.replace("\\", "/")
    if "\x00" in name or name.startswith("/") or _DRIVE.match(name):
        raise ArchiveRejected("unsafe_path")
    parts = [part for part in name.split("/") if part not in {"", "."}]
    if ".." in parts:
        raise ArchiveRejected("unsafe_path")
    return "/".join(parts)


def _is_junk(name: str) -> bool:
    parts = name.split("/")
    base = parts[-1].casefold()
    return (
        any(part.casefold() in _JUNK_DIRS for part in parts[:-1])
        or base in _JUNK_FILES
        or base.startswith("._")
    )


def _check_overlaps(infos: list[zipfile.ZipInfo]) -> None:
    """Entries sharing compressed bytes make a small file inflate many times over."""
    ordered = sorted(infos, key=lambda info: info.header_offset)
    for current, following in zip(ordered, ordered[1:], strict=False):
        if current.header_offset + current.compress_size > following.header_offset:
            raise ArchiveRejected("bomb")


def declared_size(source: str | os.PathLike[str] | BinaryIO) -> int:
    """Blocking: the bytes an archive's directory says it unpacks to (`not_zip` if none).

    Readers enforce these declarations member by member, so this is an upper bound of what
    reading the archive can produce.
    """
    try:
        with zipfile.ZipFile(source) as archive:
            return sum(info.file_size for info in archive.infolist() if not info.is_dir())
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise ArchiveRejected("not_zip") from exc


@contextmanager
def open_zip(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    max_members: int = MAX_MEMBERS,
    max_total_uncompressed: int = MAX_TOTAL_UNCOMPRESSED,
    max_ratio: int = MAX_RATIO,
    ratio_floor: int = RATIO_FLOOR,
) -> Iterator[list[ZipMember]]:
    """Vet a whole archive and give its members, readable inside the `with` block."""
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise ArchiveRejected("not_zip") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > max_members:
            raise ArchiveRejected("too_many_members")
        _check_overlaps(infos)
        accepted: list[tuple[str, zipfile.ZipInfo]] = []
        total = 0
        for info in infos:
            name = _safe_name(_decoded_name(info))
            if info.is_dir() or not name or _is_junk(name):
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                raise ArchiveRejected("symlink")
            if info.flag_bits & _ENCRYPTED_FLAGS:
                raise ArchiveRejected("encrypted")
            if info.compress_type not in _SUPPORTED:
                raise ArchiveRejected("unsupported_compression")
            if info.file_size > ratio_floor and info.file_size > max_ratio * max(
                info.compress_size, 1
            ):
                raise ArchiveRejected("bomb")
            total += info.file_size
            if total > max_total_uncompressed:
                raise ArchiveRejected("too_large")
            accepted.append((name, info))
        budget = _Budget(max_total_uncompressed)
        yield [
            ZipMember(name, info.file_size, info.compress_size, archive, info, budget)
            for name, info in accepted
        ]


def iter_zip_members(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    max_members: int = MAX_MEMBERS,
    max_total_uncompressed: int = MAX_TOTAL_UNCOMPRESSED,
    max_ratio: int = MAX_RATIO,
    ratio_floor: int = RATIO_FLOOR,
) -> Iterator[ZipMember]:
    """Yield an archive's files after vetting all of it; blocking, use a worker thread.

    A member can be read until the iteration ends (the archive is then closed); to keep
    them all at hand, use `open_zip`.
    """
    with open_zip(
        source,
        max_members=max_members,
        max_total_uncompressed=max_total_uncompressed,
        max_ratio=max_ratio,
        ratio_floor=ratio_floor,
    ) as members:
        yield from members
