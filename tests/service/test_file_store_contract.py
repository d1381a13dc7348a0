"""The file-store contract, run against every store: the disk and S3 over a loopback S3 server.

The S3 store is tested against moto's server (a real S3 HTTP API on 127.0.0.1) through
botocore, the same client production uses; nothing is mocked.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.operations.file_store import make_file_store
from storage.files import (
    DEFAULT_SEGMENT_SIZE,
    EncryptedDiskStore,
    FileCorrupted,
    FileMissing,
    FileTooLarge,
)
from storage.s3 import PART_BYTES, EncryptedS3Store, S3Location, make_client
from tests.factories import make_settings

MASTER = bytes(range(32))
SEG = DEFAULT_SEGMENT_SIZE


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's standalone S3 server in a process of its own on a loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, "the S3 server exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the S3 server did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's usual variables (the loopback server takes any)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def new_bucket(endpoint: str) -> S3Location:
    location = S3Location.parse(
        f"s3://cases-{os.urandom(4).hex()}/deployment-a", endpoint, "eu-west-1"
    )
    make_client(location).create_bucket(
        Bucket=location.bucket,
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
    )
    return location


@pytest.fixture(params=["disk", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> EncryptedDiskStore | EncryptedS3Store:
    if request.param == "disk":
        return EncryptedDiskStore(tmp_path / "files", MASTER)
    return EncryptedS3Store(new_bucket(request.getfixturevalue("s3_endpoint")), MASTER)


async def chunks(data: bytes, size: int = 65_536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_all(store: Any, key: str) -> bytes:
    return b"".join([part async for part in store.open(key)])


@pytest.mark.parametrize(
    "length", [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG + 17, PART_BYTES + 2 * SEG + 5]
)
async def test_what_is_stored_comes_back_identical_with_its_size_and_hash(
    store: Any, length: int
) -> None:
    data = os.urandom(length)

    stored = await store.put(chunks(data), max_size=1 << 30)

    assert stored.size == length and stored.sha256 == hashlib.sha256(data).hexdigest()
    assert await read_all(store, stored.key) == data
    assert await store.size(stored.key) == length
    assert await store.exists(stored.key)


async def test_seekable_reads_fetch_any_range(store: Any) -> None:
    data = os.urandom(3 * SEG + 1000)
    stored = await store.put(chunks(data), max_size=1 << 30)

    with store.open_seekable(stored.key) as handle:
        handle.seek(SEG - 10)
        assert handle.read(20) == data[SEG - 10 : SEG + 10]
        handle.seek(-5, io.SEEK_END)
        assert handle.read() == data[-5:]
        handle.seek(0)
        assert handle.read(4) == data[:4]


async def test_a_stream_over_its_limit_leaves_nothing_behind(store: Any) -> None:
    with pytest.raises(FileTooLarge):
        await store.put(chunks(os.urandom(PART_BYTES + SEG)), max_size=PART_BYTES)

    if isinstance(store, EncryptedS3Store):
        client = make_client(store.location)
        listed = client.list_objects_v2(Bucket=store.location.bucket)
        assert listed.get("KeyCount", 0) == 0
        uploads = client.list_multipart_uploads(Bucket=store.location.bucket)
        assert not uploads.get("Uploads")  # the multipart upload was aborted
    else:
        assert not [p for p in (store._root / "objects").rglob("*") if p.is_file()]


async def test_delete_is_idempotent_and_missing_keys_say_so(store: Any) -> None:
    stored = await store.put(chunks(b"lab results"), max_size=1024)

    await store.delete(stored.key)
    await store.delete(stored.key)

    assert not await store.exists(stored.key)
    with pytest.raises(FileMissing):
        await read_all(store, stored.key)


async def test_tampered_and_truncated_objects_are_refused(store: Any) -> None:
    data = os.urandom(2 * SEG + 100)
    stored = await store.put(chunks(data), max_size=1 << 30)
    if isinstance(store, EncryptedS3Store):
        client = make_client(store.location)
        name = store._object(stored.key)
        sealed = client.get_object(Bucket=store.location.bucket, Key=name)["Body"].read()

        def replace(blob: bytes) -> None:
            client.put_object(Bucket=store.location.bucket, Key=name, Body=blob)
    else:
        path = store._path(stored.key)
        sealed = path.read_bytes()

        def replace(blob: bytes) -> None:
            path.write_bytes(blob)

    assert data[:64] not in sealed  # ciphertext only, wherever it is stored
    flipped = bytearray(sealed)
    flipped[100] ^= 1
    replace(bytes(flipped))
    with pytest.raises(FileCorrupted):
        await read_all(store, stored.key)
    replace(sealed[: len(sealed) - 16 - 100])
    with pytest.raises(FileCorrupted):
        await read_all(store, stored.key)


async def peak_memory_storing(store: Any, total: int) -> int:
    async def generated() -> AsyncIterator[bytes]:
        block = os.urandom(256 * 1024)
        for _ in range(total // len(block)):
            yield block

    tracemalloc.start()
    try:
        stored = await store.put(generated(), max_size=total)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.size == total
    return peak


async def test_memory_stays_constant_whatever_the_stream_length(store: Any) -> None:
    # tracemalloc sees every thread of the process (a test runner's worker has its own):
    # others can only add to a peak, so the least of a few runs is the store's own.
    small = min([await peak_memory_storing(store, 2 * PART_BYTES) for _ in range(2)])
    large = min([await peak_memory_storing(store, 8 * PART_BYTES) for _ in range(2)])

    # Constant: four times the bytes cost no more memory (a part buffer, the part being
    # sent and the SDK's checksum copy for S3; two segments for the disk).
    assert large < small + 2 * SEG
    assert large < 4 * PART_BYTES


async def test_small_secrets_seal_with_the_store_key_and_only_open_in_their_context(
    store: Any,
) -> None:
    sealed = store.sealer().seal(b"upload-token", b"contact:7")

    assert b"upload-token" not in sealed
    assert store.sealer().open(sealed, b"contact:7") == b"upload-token"
    with pytest.raises(FileCorrupted):
        store.sealer().open(sealed, b"contact:8")
    free = await store.free_bytes()
    assert free is None or free > 0


def test_files_url_chooses_the_store(s3_endpoint: str, tmp_path: Path) -> None:
    disk = make_file_store(make_settings(data_dir=tmp_path))
    assert isinstance(disk, EncryptedDiskStore)
    s3 = make_file_store(make_settings(
        data_dir=tmp_path, files_url="s3://bucket-x/prefix/", files_s3_endpoint=s3_endpoint,
    ))
    assert isinstance(s3, EncryptedS3Store)
    assert s3.location == S3Location("bucket-x", "prefix/", s3_endpoint, None)
    with pytest.raises(ValueError, match="s3://bucket"):
        S3Location.parse("s3:///no-bucket")
