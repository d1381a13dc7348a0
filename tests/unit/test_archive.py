"""Safe ZIP reading: what is refused, what is skipped, and what comes through."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from bot.documents.archive import ArchiveRejected, iter_zip_members, open_zip
from bot.imaging.reading import inspect_dicom
from storage.files import EncryptedDiskStore, chunks_from_file
from tests.dicom_factory import iter_study, zip_files

CENTRAL = b"PK\x01\x02"
LOCAL = b"PK\x03\x04"


def make_zip(
    members: Iterable[tuple[str | zipfile.ZipInfo, bytes]],
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def names(data: bytes, **limits: int) -> list[str]:
    return [member.name for member in iter_zip_members(io.BytesIO(data), **limits)]


def read_all(data: bytes, **limits: int) -> dict[str, bytes]:
    out = {}
    for member in iter_zip_members(io.BytesIO(data), **limits):
        with member.open() as fh:
            out[member.name] = fh.read()
    return out


def rejected(data: bytes, **limits: int) -> str:
    with pytest.raises(ArchiveRejected) as caught:
        read_all(data, **limits)
    return caught.value.code


def patch_all(data: bytes, signature: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite one header field in every local or central header."""
    out = bytearray(data)
    start = out.find(signature)
    while start != -1:
        struct.pack_into(fmt, out, start + offset, value)
        start = out.find(signature, start + 4)
    return bytes(out)


def test_an_archive_of_three_dicom_files_yields_three_valid_instances() -> None:
    data = make_zip(iter_study(instances=3))
    seen = []
    for member in iter_zip_members(io.BytesIO(data)):
        with member.open() as fh:
            content = fh.read()
        assert len(content) == member.size
        assert inspect_dicom(io.BytesIO(content)).valid
        seen.append(member.name)
    assert seen == ["SE001/IM00001.dcm", "SE001/IM00002.dcm", "SE001/IM00003.dcm"]


async def test_an_archive_is_read_straight_from_the_encrypted_store(tmp_path: Path) -> None:
    zip_path = zip_files(tmp_path / "cd.zip", iter_study(instances=2))
    store = EncryptedDiskStore(tmp_path / "files", bytes(32), segment_size=1000)
    with zip_path.open("rb") as source:
        stored = await store.put(chunks_from_file(source), max_size=10**7)
    with store.open_seekable(stored.key) as fh, open_zip(fh) as members:
        assert len(members) == 2
        with members[1].open() as member:
            assert inspect_dicom(io.BytesIO(member.read())).valid


@pytest.mark.parametrize(
    "name",
    [
        "../evil.pdf",
        "docs/../../evil.pdf",
        "/etc/passwd",
        "C:/Windows/evil.pdf",
        "c:evil.pdf",
        "..\\evil.pdf",
        "docs\\..\\..\\evil.pdf",
        "\\\\server\\share\\evil.pdf",
    ],
)
def test_path_traversal_and_absolute_names_reject_the_archive(name: str) -> None:
    data = make_zip([("fine.pdf", b"%PDF-1.4"), (name, b"x")])
    assert rejected(data) == "unsafe_path"


def test_nothing_is_yielded_before_the_whole_directory_is_vetted() -> None:
    data = make_zip([("fine.pdf", b"%PDF-1.4"), ("../evil.pdf", b"x")])
    with pytest.raises(ArchiveRejected):
        next(iter_zip_members(io.BytesIO(data)))


def test_names_are_normalised_to_relative_posix_paths() -> None:
    data = make_zip([("./scans//a.pdf", b"1"), ("dir\\b.pdf", b"2")])
    assert names(data) == ["scans/a.pdf", "dir/b.pdf"]


def test_a_symlink_member_rejects_the_archive() -> None:
    link = zipfile.ZipInfo("link.pdf")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    data = make_zip([("a.pdf", b"%PDF"), (link, b"/etc/passwd")])
    assert rejected(data) == "symlink"


def test_an_encrypted_member_rejects_the_archive() -> None:
    plain = make_zip([("secret.pdf", b"%PDF-1.4 secret")])
    # zipfile cannot write encrypted members: set the "encrypted" flag bit by hand.
    data = patch_all(plain, LOCAL, 6, "<H", 0x1)
    data = patch_all(data, CENTRAL, 8, "<H", 0x1)
    assert rejected(data) == "encrypted"


def bomb_zip(size: int) -> bytes:
    buffer = io.BytesIO()
    block = bytes(1 << 20)
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.dcm", "w", force_zip64=True) as member,
    ):
        for _ in range(size >> 20):
            member.write(block)
    return buffer.getvalue()


def test_a_ratio_bomb_is_rejected_before_anything_is_inflated() -> None:
    data = bomb_zip(50 << 20)
    assert len(data) < 100_000
    assert rejected(data) == "bomb"


def test_a_member_lying_about_its_size_never_yields_more_than_declared() -> None:
    honest = make_zip([("big.dcm", bytes(1 << 20))])
    data = patch_all(honest, LOCAL, 22, "<I", 1000)
    data = patch_all(data, CENTRAL, 24, "<I", 1000)
    received = bytearray()
    with open_zip(io.BytesIO(data)) as (member,):
        assert member.size == 1000
        with pytest.raises(ArchiveRejected) as caught, member.open() as fh:
            while chunk := fh.read(100):
                received += chunk
    assert caught.value.code in {"bomb", "corrupt"}
    assert len(received) <= 1000


def test_overlapping_entries_are_a_bomb() -> None:
    honest = make_zip([("a.dcm", bytes(10_000)), ("b.dcm", bytes(10_000))])
    second = honest.find(CENTRAL, honest.find(CENTRAL) + 4)
    data = bytearray(honest)
    struct.pack_into("<I", data, second + 42, 0)  # b's header offset -> a's local header
    assert rejected(bytes(data)) == "bomb"


def test_the_total_and_member_count_limits_are_enforced() -> None:
    data = make_zip([(f"f{i}.pdf", bytes(1000)) for i in range(3)])
    assert rejected(data, max_total_uncompressed=2500) == "too_large"
    assert rejected(data, max_members=2) == "too_many_members"
    assert len(read_all(data, max_total_uncompressed=3000, max_members=3)) == 3


def test_highly_compressible_small_members_are_not_bombs() -> None:
    data = make_zip([("blank_mask.dcm", bytes(4 << 20))])
    assert names(data) == ["blank_mask.dcm"]


def test_desktop_junk_and_directories_are_skipped() -> None:
    data = make_zip(
        [
            ("study/", b""),
            ("study/IM1.dcm", b"1"),
            ("__MACOSX/study/._IM1.dcm", b"junk"),
            ("study/._IM2.dcm", b"junk"),
            ("study/.DS_Store", b"junk"),
            ("Thumbs.db", b"junk"),
            ("study/desktop.ini", b"junk"),
        ]
    )
    assert names(data) == ["study/IM1.dcm"]


def test_inner_zips_are_ordinary_members() -> None:
    inner = make_zip([("a.pdf", b"%PDF")])
    data = make_zip([("inner.zip", inner)])
    assert read_all(data) == {"inner.zip": inner}


def test_unsupported_compression_is_refused() -> None:
    data = make_zip([("a.pdf", b"%PDF-1.4" * 100)], compression=zipfile.ZIP_BZIP2)
    assert rejected(data) == "unsupported_compression"


def test_stored_members_are_read() -> None:
    data = make_zip([("a.pdf", b"%PDF-1.4")], compression=zipfile.ZIP_STORED)
    assert read_all(data) == {"a.pdf": b"%PDF-1.4"}


@pytest.mark.parametrize("content", [b"", b"%PDF-1.4 not a zip", b"PK\x03\x04 truncated"])
def test_something_that_is_not_a_zip_is_refused(content: bytes) -> None:
    assert rejected(content) == "not_zip"


def test_a_corrupted_member_is_refused_while_reading() -> None:
    honest = make_zip([("a.pdf", b"%PDF-1.4 " * 1000)])
    start = honest.find(b"a.pdf") + len("a.pdf") + 20
    flipped = bytes(b ^ 0xFF for b in honest[start : start + 8])
    data = honest[:start] + flipped + honest[start + 8 :]
    assert rejected(data) == "corrupt"


def test_utf8_names_without_the_utf8_flag_are_decoded() -> None:
    flagged = make_zip([("تحاليل/анализ.pdf", b"%PDF")])
    data = patch_all(flagged, LOCAL, 6, "<H", 0)
    data = patch_all(data, CENTRAL, 8, "<H", 0)
    assert names(data) == ["تحاليل/анализ.pdf"]
