"""Where model files live: a directory by default; S3 or GCS through Optuna's stores.

The controller only stores and serves bytes: it never loads or deserializes a model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from service.errors import TooLarge

__all__ = ["ArtifactStore", "StoredFile"]

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    key: str
    size: int
    sha256: str


class ArtifactStore:
    """A directory of files addressed by key (`study-7/job-3/model.keras`)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"artifact key {key!r} leaves the store")
        return path

    async def save(self, key: str, chunks: AsyncIterator[bytes], limit: int) -> StoredFile:
        """Stream chunks to `key`, hashing as they come; 413 past `limit` bytes."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(f"the upload is larger than {limit} bytes")
                    digest.update(chunk)
                    out.write(chunk)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        return StoredFile(key, size, digest.hexdigest())

    def read(self, key: str) -> Iterator[bytes]:
        with self._path(key).open("rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete_prefix(self, prefix: str) -> None:
        folder = self._path(prefix)
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            log.info("deleted artifacts under %s", prefix)
