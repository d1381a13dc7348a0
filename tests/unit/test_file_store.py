"""The encrypted file store: round trips, integrity, limits, memory and keys."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import stat
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.files import (
    DEFAULT_SEGMENT_SIZE,
    EncryptedDiskStore,
    FileCorrupted,
    FileMissing,
    FileStore,
    FileTooLarge,
    StoredFile,
    chunks_from_file,
    key_from_env_or_dir,
    load_or_create_key,
)

MASTER = bytes(range(32))
SEG = DEFAULT_SEGMENT_SIZE
HEADER = 31
TAG = 16


def make_store(root: Path, **overrides: object) -> EncryptedDiskStore:
    values: dict[str, object] = {"key": MASTER}
    values.update(overrides)
    return EncryptedDiskStore(root, **values)  # type: ignore[arg-type]


async def chunked(data: bytes, sizes: Iterable[int] = (65536,)) -> AsyncIterator[bytes]:
    sizes = list(sizes)
    pos, i = 0, 0
    while pos < len(data):
        step = max(1, sizes[i % len(sizes)])
        yield data[pos : pos + step]
        pos += step
        i += 1


async def read_all(store: FileStore, key: str) -> bytes:
    return b"".join([part async for part in store.open(key)])


def object_path(root: Path, key: str) -> Path:
    return root / "objects" / key[:2] / key


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def pattern(size: int) -> bytes:
    block = hashlib.sha256(b"seed").digest() * 2048
    return (block * (size // len(block) + 1))[:size]


def test_the_disk_store_satisfies_the_store_protocol(tmp_path: Path) -> None:
    assert isinstance(make_store(tmp_path), FileStore)


@pytest.mark.parametrize("size", [0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG, 5 * SEG])
async def test_files_come_back_byte_for_byte_with_their_sha256(tmp_path: Path, size: int) -> None:
    store = make_store(tmp_path)
    data = os.urandom(size)
    stored = await store.put(chunked(data, [1000, 65536, 300000]), max_size=10 * SEG)
    assert stored == StoredFile(stored.key, size, hashlib.sha256(data).hexdigest())
    assert await read_all(store, stored.key) == data
    assert await store.size(stored.key) == size


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=700),
    sizes=st.lists(st.integers(min_value=1, max_value=200), min_size=1, max_size=8),
    segment=st.sampled_from([1, 7, 64, 256]),
)
def test_any_chunking_round_trips_for_any_segment_size(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, sizes: list[int], segment: int
) -> None:
    store = make_store(tmp_path_factory.mktemp("store"), segment_size=segment, durable=False)

    async def scenario() -> None:
        stored = await store.put(chunked(data, sizes), max_size=len(data))
        assert stored.size == len(data)
        assert stored.sha256 == hashlib.sha256(data).hexdigest()
        assert await read_all(store, stored.key) == data

    asyncio.run(scenario())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(min_size=1, max_size=600),
    reads=st.lists(st.tuples(st.integers(0, 700), st.integers(0, 300)), max_size=10),
)
def test_the_seekable_view_reads_any_range(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, reads: list[tuple[int, int]]
) -> None:
    store = make_store(tmp_path_factory.mktemp("store"), segment_size=32, durable=False)
    stored = asyncio.run(store.put(chunked(data), max_size=len(data)))
    with store.open_seekable(stored.key) as fh:
        assert fh.read() == data
        for start, length in reads:
            fh.seek(start)
            assert fh.read(length) == data[start : start + length]
        assert fh.seek(-1, os.SEEK_END) == len(data) - 1


async def test_ciphertext_on_disk_contains_no_plaintext(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    data = pattern(3 * SEG)
    stored = await store.put(chunked(data), max_size=len(data))
    raw = object_path(tmp_path, stored.key).read_bytes()
    assert len(raw) == HEADER + 3 * TAG + len(data)
    for offset in range(0, 4096, 16):
        assert data[offset : offset + 16] not in raw


async def test_the_same_content_is_encrypted_differently_each_time(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    first = await store.put(chunked(b"same bytes"), max_size=100)
    second = await store.put(chunked(b"same bytes"), max_size=100)
    assert first.key != second.key
    assert first.sha256 == second.sha256
    raw_first = object_path(tmp_path, first.key).read_bytes()
    raw_second = object_path(tmp_path, second.key).read_bytes()
    assert raw_first[HEADER:] != raw_second[HEADER:]


async def test_keys_are_opaque_and_no_file_name_reaches_the_disk(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    stored = await store.put(chunked(b"x"), max_size=1)
    assert len(stored.key) == 32 and int(stored.key, 16) >= 0
    assert [p.name for p in leftovers(tmp_path)] == [stored.key]


async def put_three_segments(tmp_path: Path) -> tuple[EncryptedDiskStore, str, Path]:
    store = make_store(tmp_path, segment_size=64)
    stored = await store.put(chunked(pattern(64 * 2 + 10)), max_size=1000)
    return store, stored.key, object_path(tmp_path, stored.key)


@pytest.mark.parametrize("offset", [0, 5, 20, HEADER, HEADER + 70, HEADER + 64 + 16 + 3, -1])
async def test_flipping_any_byte_is_detected(tmp_path: Path, offset: int) -> None:
    store, key, path = await put_three_segments(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(raw)
    with pytest.raises(FileCorrupted):
        await read_all(store, key)


@pytest.mark.parametrize(
    "cut", [HEADER + 80, HEADER + 2 * 80, HEADER + 80 + 40, HEADER + 10, 3], ids=str
)
async def test_truncation_anywhere_is_detected(tmp_path: Path, cut: int) -> None:
    store, key, path = await put_three_segments(tmp_path)
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(FileCorrupted):
        await read_all(store, key)
    with pytest.raises(FileCorrupted):
        store.open_seekable(key)


async def test_swapping_two_segments_is_detected(tmp_path: Path) -> None:
    store, key, path = await put_three_segments(tmp_path)
    raw = path.read_bytes()
    first, second = raw[HEADER : HEADER + 80], raw[HEADER + 80 : HEADER + 160]
    path.write_bytes(raw[:HEADER] + second + first + raw[HEADER + 160 :])
    with pytest.raises(FileCorrupted):
        await read_all(store, key)


async def test_segments_from_another_file_are_detected(tmp_path: Path) -> None:
    store, key, path = await put_three_segments(tmp_path)
    _, _, other_path = await put_three_segments(tmp_path)
    raw, other = path.read_bytes(), other_path.read_bytes()
    path.write_bytes(raw[: HEADER + 80] + other[HEADER + 80 :])
    with pytest.raises(FileCorrupted):
        await read_all(store, key)


async def test_appending_bytes_is_detected(tmp_path: Path) -> None:
    store, key, path = await put_three_segments(tmp_path)
    path.write_bytes(path.read_bytes() + b"\0" * 80)
    with pytest.raises(FileCorrupted):
        await read_all(store, key)


async def test_a_file_is_unreadable_with_another_master_key(tmp_path: Path) -> None:
    _, key, _ = await put_three_segments(tmp_path)
    intruder = make_store(tmp_path, key=bytes(32))
    with pytest.raises(FileCorrupted):
        await read_all(intruder, key)


async def test_too_large_stops_at_the_limit_and_removes_the_partial_file(tmp_path: Path) -> None:
    store = make_store(tmp_path, segment_size=1024)
    consumed = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal consumed
        while True:
            consumed += 1
            yield b"\0" * 1000

    with pytest.raises(FileTooLarge) as caught:
        await store.put(endless(), max_size=10_000)
    assert caught.value.code == "too_large"
    assert consumed == 11
    assert leftovers(tmp_path) == []


async def test_a_file_of_exactly_the_limit_is_accepted(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    stored = await store.put(chunked(b"x" * 500), max_size=500)
    assert stored.size == 500


async def test_a_cancelled_upload_leaves_nothing_behind(tmp_path: Path) -> None:
    store = make_store(tmp_path, segment_size=1024)
    started = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield b"a" * 5000
        started.set()
        await asyncio.sleep(3600)
        yield b"never"

    task = asyncio.create_task(store.put(stalls(), max_size=10**9))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert leftovers(tmp_path) == []


async def test_a_failing_source_leaves_nothing_behind(tmp_path: Path) -> None:
    store = make_store(tmp_path, segment_size=1024)

    async def breaks() -> AsyncIterator[bytes]:
        yield b"a" * 5000
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        await store.put(breaks(), max_size=10**9)
    assert leftovers(tmp_path) == []


async def test_memory_stays_bounded_while_storing_a_large_stream(tmp_path: Path) -> None:
    store = make_store(tmp_path, durable=False)
    total = 200 * SEG
    chunk = os.urandom(256 * 1024)

    async def generated() -> AsyncIterator[bytes]:
        for _ in range(total // len(chunk)):
            yield chunk

    tracemalloc.start()
    try:
        started = time.perf_counter()
        stored = await store.put(generated(), max_size=total)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.size == total
    assert peak < 32 * 1024 * 1024
    assert time.perf_counter() - started < 20
    tracemalloc.start()
    try:
        count = 0
        async for part in store.open(stored.key):
            count += len(part)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == total
    assert peak < 32 * 1024 * 1024


async def test_delete_and_exists(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    stored = await store.put(chunked(b"report"), max_size=100)
    assert await store.exists(stored.key)
    await store.delete(stored.key)
    assert not await store.exists(stored.key)
    await store.delete(stored.key)
    with pytest.raises(FileMissing):
        await read_all(store, stored.key)


async def test_malformed_keys_never_become_paths(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    for key in ["../../etc/passwd", "", "A" * 32, "0" * 31]:
        with pytest.raises(ValueError):
            await store.exists(key)


async def test_chunks_from_file_reads_a_blocking_file(tmp_path: Path) -> None:
    store = make_store(tmp_path, segment_size=100)
    data = os.urandom(1234)
    stored = await store.put(chunked(data), max_size=len(data))
    with store.open_seekable(stored.key) as fh:
        copy = await store.put(chunks_from_file(fh, 333), max_size=len(data))
    assert copy.sha256 == stored.sha256


async def test_stale_partial_files_are_swept(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    (tmp_path / "tmp").mkdir()
    old = tmp_path / "tmp" / "abc.part"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 90000, time.time() - 90000))
    fresh = tmp_path / "tmp" / "def.part"
    fresh.write_bytes(b"x")
    assert await store.remove_stale_partials(older_than_seconds=86400) == 1
    assert not old.exists() and fresh.exists()


def test_the_key_file_is_created_once_private_and_reused(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path)
    path = tmp_path / "keys" / "files.key"
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert load_or_create_key(tmp_path) == key
    assert base64.b64decode(path.read_bytes()) == key


def test_a_raw_32_byte_key_file_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "files.key").write_bytes(MASTER)
    assert load_or_create_key(tmp_path) == MASTER


def test_files_key_from_the_environment_wins_over_the_key_file(tmp_path: Path) -> None:
    encoded = base64.b64encode(MASTER).decode()
    assert key_from_env_or_dir({"FILES_KEY": encoded}, tmp_path) == MASTER
    assert not (tmp_path / "keys").exists()
    urlsafe = base64.urlsafe_b64encode(b"\xff" * 32).decode()
    assert key_from_env_or_dir({"FILES_KEY": urlsafe}, tmp_path) == b"\xff" * 32
    assert key_from_env_or_dir({}, tmp_path) == load_or_create_key(tmp_path)


@pytest.mark.parametrize("value", ["c2hvcnQ=", "not base64 at all!", base64.b64encode(b"x" * 31)])
def test_a_bad_files_key_is_refused_without_echoing_it(tmp_path: Path, value: object) -> None:
    text = value.decode() if isinstance(value, bytes) else str(value)
    with pytest.raises(ValueError) as caught:
        key_from_env_or_dir({"FILES_KEY": text}, tmp_path)
    assert text not in str(caught.value)


def test_a_store_refuses_a_short_master_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        EncryptedDiskStore(tmp_path, b"short")
