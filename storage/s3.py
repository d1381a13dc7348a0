"""The file store on S3-compatible object storage, for deployments on several machines.

Objects are the very bytes `EncryptedDiskStore` writes to disk (see `storage.files`): sealed
here, segment by segment, before anything leaves the process, so the object store only ever
sees ciphertext. Writing streams a multipart upload in constant memory: sealed segments fill
one part buffer (8 MiB) which is uploaded and emptied; a stream that ends under the 5 MiB
minimum part size goes up in one `PutObject`. A stream that fails or exceeds its limit aborts
the multipart upload, so no partial object is ever visible under a key. Reading fetches the
header and each segment by ranged `GetObject`; `open_seekable` gives pydicom and zipfile a
seekable view that fetches only the segments they read.

botocore's synchronous client runs in worker threads (`asyncio.to_thread`): it is the AWS
SDK's own core, it works with every S3-compatible server (MinIO, Ceph, Scaleway, OVH, moto),
and keeps this module free of a second HTTP stack. Credentials come the SDK's usual way
(`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, a profile or an instance role).
"""

from __future__ import annotations

import asyncio
import io
import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from storage.files import (
    DEFAULT_SEGMENT_SIZE,
    KEY_BYTES,
    MAX_SEGMENT_SIZE,
    DecryptingRaw,
    FileMissing,
    FileTooLarge,
    Hasher,
    Sealer,
    SeekableRaw,
    SegmentReader,
    SegmentSealer,
    StoredFile,
    _forget,
    stream_segments,
)

PART_BYTES = 8 << 20  # S3's minimum part is 5 MiB (the last part may be smaller)
_KEY_RE = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class S3Location:
    """Where the objects go: `s3://bucket/prefix`, and the server when it is not AWS."""

    bucket: str
    prefix: str
    endpoint_url: str | None = None
    region: str | None = None

    @classmethod
    def parse(
        cls, url: str, endpoint_url: str | None = None, region: str | None = None
    ) -> S3Location:
        """Read `FILES_URL` (`s3://bucket` or `s3://bucket/some/prefix`)."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError("FILES_URL must look like s3://bucket/prefix")
        prefix = parts.path.strip("/")
        return cls(parts.netloc, f"{prefix}/" if prefix else "", endpoint_url, region)


def make_client(location: S3Location) -> Any:
    """A botocore S3 client (thread-safe; shared by every worker thread)."""
    session = botocore.session.get_session()
    return session.create_client(
        "s3", endpoint_url=location.endpoint_url, region_name=location.region or "us-east-1",
        config=Config(retries={"max_attempts": 5, "mode": "standard"},
                      s3={"addressing_style": "path"}, max_pool_connections=16),
    )


def _missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


class _RangedObject(SeekableRaw):
    """A seekable, read-only view of one object, fetched by ranged GETs (blocking)."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        try:
            head = client.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if _missing(error):
                raise FileMissing("no such file") from None
            raise
        self.length = int(head["ContentLength"])
        self._pos = 0

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._pos >= self.length or not len(buffer):
            return 0
        end = min(self.length, self._pos + len(buffer)) - 1
        try:
            body = self._client.get_object(
                Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-{end}"
            )["Body"]
        except ClientError as error:
            if _missing(error):
                raise FileMissing("no such file") from None
            raise
        with body:
            data = body.read()
        memoryview(buffer)[: len(data)] = data
        self._pos += len(data)
        return len(data)


class _MultipartWriter:
    """Sealed bytes into one object: parts of `PART_BYTES`, or one PUT when small."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= PART_BYTES:
            with memoryview(self._buffer) as view:
                part = bytes(view[:PART_BYTES])
            del self._buffer[:PART_BYTES]
            self._flush_part(part)

    def _flush_part(self, data: bytes) -> None:
        if self._upload_id is None:
            self._upload_id = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self._key
            )["UploadId"]
        number = len(self._parts) + 1
        etag = self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number,
            Body=data,
        )["ETag"]
        self._parts.append({"ETag": etag, "PartNumber": number})

    def commit(self) -> None:
        if self._upload_id is None:
            self._client.put_object(Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer))
        else:
            if self._buffer:
                self._flush_part(bytes(self._buffer))
            self._client.complete_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer.clear()

    def abort(self) -> None:
        self._buffer.clear()
        if self._upload_id is not None:
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
            )


class EncryptedS3Store:
    """`FileStore` on S3-compatible storage; same format and contract as the disk store."""

    def __init__(
        self, location: S3Location, key: bytes, *, segment_size: int = DEFAULT_SEGMENT_SIZE,
        client: Any | None = None,
    ) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("the file store key must be 32 bytes")
        if not 0 < segment_size <= MAX_SEGMENT_SIZE:
            raise ValueError("segment size out of range")
        self.location = location
        self._key = bytes(key)
        self._segment_size = segment_size
        self._client = client if client is not None else make_client(location)
        self._sealer = Sealer(self._key)

    def _object(self, key: str) -> str:
        if not _KEY_RE.fullmatch(key):
            raise ValueError("malformed storage key")
        return f"{self.location.prefix}objects/{key[:2]}/{key}"

    async def put(
        self, chunks: AsyncIterable[bytes], *, max_size: int, sync: bool = True,
        hasher: Hasher | None = None,
    ) -> StoredFile:
        """Store a stream in constant memory; `FileTooLarge` past `max_size`, nothing kept.

        An object store acknowledges an upload only once it is durable: `sync` changes
        nothing here."""
        key = secrets.token_hex(16)
        sealer = SegmentSealer(self._key, self._segment_size, hasher)
        writer = _MultipartWriter(self._client, self.location.bucket, self._object(key))
        writer.write(sealer.header)
        segment_size = self._segment_size
        pending: asyncio.Future[None] | None = None
        buffer = bytearray()
        size = 0

        def seal_and_write(plaintext: bytes, final: bool) -> None:
            writer.write(sealer.seal(plaintext, final))

        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_size:
                    raise FileTooLarge(max_size)
                buffer += chunk
                while len(buffer) > segment_size:
                    segment = bytes(buffer[:segment_size])
                    del buffer[:segment_size]
                    if pending is not None:
                        await pending
                    pending = asyncio.ensure_future(
                        asyncio.to_thread(seal_and_write, segment, False)
                    )
            if pending is not None:
                await pending
                pending = None
            await asyncio.to_thread(seal_and_write, bytes(buffer), True)
            buffer.clear()
            await asyncio.to_thread(writer.commit)
        except BaseException:
            _forget(pending)
            await asyncio.shield(asyncio.to_thread(writer.abort))
            raise
        return StoredFile(key=key, size=size, sha256=sealer.sha.hexdigest())

    async def sync(self, keys: Sequence[str]) -> None:
        """Nothing to do: every completed upload is already durable (see `put`)."""

    def _reader(self, key: str) -> SegmentReader:
        raw = _RangedObject(self._client, self.location.bucket, self._object(key))
        # Buffered so the header and each segment are one GET each.
        buffered = io.BufferedReader(raw, buffer_size=self._segment_size + 64)
        return SegmentReader(buffered, raw.length, self._key)  # type: ignore[arg-type]

    def open(self, key: str) -> AsyncIterator[bytes]:
        """Stream a file's plaintext back; `FileCorrupted` if it was tampered with."""
        return stream_segments(lambda: self._reader(key))

    def open_seekable(self, key: str) -> BinaryIO:
        """A blocking, seekable plaintext file for pydicom and zipfile (worker threads only)."""
        return io.BufferedReader(DecryptingRaw(self._reader(key)), buffer_size=64 * 1024)

    async def size(self, key: str) -> int:
        """The plaintext size of a stored file, authenticated."""

        def read_size() -> int:
            reader = self._reader(key)
            reader.close()
            return reader.size

        return await asyncio.to_thread(read_size)

    async def delete(self, key: str) -> None:
        """Remove a file; deleting a missing key is not an error (S3's DELETE is idempotent)."""
        await asyncio.to_thread(
            self._client.delete_object, Bucket=self.location.bucket, Key=self._object(key)
        )

    async def exists(self, key: str) -> bool:
        """Tell whether a file is stored under `key`."""

        def head() -> bool:
            try:
                self._client.head_object(Bucket=self.location.bucket, Key=self._object(key))
            except ClientError as error:
                if _missing(error):
                    return False
                raise
            return True

        return await asyncio.to_thread(head)

    def sealer(self) -> Sealer:
        """Seals small secrets kept in the database with this store's master key."""
        return self._sealer

    async def free_bytes(self) -> int | None:
        """Object storage has no disk of ours to fill: no free-space floor applies."""
        return None

    async def remove_stale_partials(self, *, older_than_seconds: float = 86400.0) -> int:
        """Abort multipart uploads a crash left open (they are invisible but cost storage)."""

        def sweep() -> int:
            cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
            listing = self._client.list_multipart_uploads(
                Bucket=self.location.bucket, Prefix=f"{self.location.prefix}objects/"
            )
            removed = 0
            for upload in listing.get("Uploads", []):
                if upload["Initiated"] < cutoff:
                    self._client.abort_multipart_upload(
                        Bucket=self.location.bucket, Key=upload["Key"],
                        UploadId=upload["UploadId"],
                    )
                    removed += 1
            return removed

        return await asyncio.to_thread(sweep)
