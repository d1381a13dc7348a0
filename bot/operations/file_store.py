"""Which file store this deployment uses: a folder (default) or S3-compatible storage.

`FILES_URL` unset or a path: `EncryptedDiskStore` (the default: `DATA_DIR/files`).
`FILES_URL=s3://bucket/prefix`: `EncryptedS3Store`, with `FILES_S3_ENDPOINT` for a server
other than AWS (MinIO, Ceph, a provider's S3) and `FILES_S3_REGION`. The key is the same
`FILES_KEY` either way: the store sees ciphertext only.

The S3 store is imported only when configured: botocore costs about 20 MiB of resident
memory in every process that imports it, and most deployments keep files on disk.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from bot.settings import Settings
from storage.files import EncryptedDiskStore, key_from_env_or_dir

if TYPE_CHECKING:
    from storage.s3 import EncryptedS3Store



def make_file_store(settings: Settings) -> EncryptedDiskStore | EncryptedS3Store:
    """The store `FILES_URL` names, with the deployment's master key."""
    key = key_from_env_or_dir(os.environ, settings.data_dir)
    url = settings.files_url
    if url and url.startswith("s3://"):
        from storage.s3 import EncryptedS3Store, S3Location

        location = S3Location.parse(url, settings.files_s3_endpoint, settings.files_s3_region)
        return EncryptedS3Store(location, key)
    return EncryptedDiskStore(Path(url) if url else Path(settings.data_dir) / "files", key)
