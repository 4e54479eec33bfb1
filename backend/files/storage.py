"""File storage: bytes kept under random keys that start with the owning tenant's id.

`STORAGE_URL=file:///path` (the embedded default, `file://var/files`) keeps them in a local folder
outside anything the web server serves. An S3-compatible store can take the same three verbs later.
A key that climbs out (`..`), is absolute, or starts with another tenant's id is refused, so a key
read from the database can never reach another tenant's files.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from backend.config import PROJECT_ROOT, get_settings
from backend.db.tenancy import TenancyError

COPY_BUFFER = 1024 * 1024
_KEY = re.compile(r"^[0-9a-f-]{36}/[A-Za-z0-9_-]{1,64}(\.[a-z0-9]{1,8})?$")


class FileTooLarge(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, tenant_id: uuid.UUID, key: str) -> Path:
        if ".." in key or key.startswith("/") or not _KEY.match(key):
            raise TenancyError("malformed storage key")
        if not key.startswith(f"{tenant_id}/"):
            raise TenancyError("storage key of another tenant")
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise TenancyError("storage key outside the store")
        return path

    def put(self, tenant_id: uuid.UUID, source: BinaryIO, *, suffix: str = "", max_size: int | None = None) -> StoredObject:
        """Copy `source` in under a new random key, hashing as it goes; past `max_size` nothing is kept."""
        key = f"{tenant_id}/{secrets.token_urlsafe(24)}{suffix}"
        path = self._path(tenant_id, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        try:
            with open(path, "xb") as target:
                while block := source.read(COPY_BUFFER):
                    size += len(block)
                    if max_size is not None and size > max_size:
                        raise FileTooLarge(max_size)
                    digest.update(block)
                    target.write(block)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    def open(self, tenant_id: uuid.UUID, key: str) -> BinaryIO:
        return open(self._path(tenant_id, key), "rb")

    def delete(self, tenant_id: uuid.UUID, key: str) -> None:
        self._path(tenant_id, key).unlink(missing_ok=True)


def storage_from_url(url: str) -> LocalStorage:
    if not url.startswith("file://"):
        raise ValueError(f"unsupported STORAGE_URL {url!r}: only file:// is implemented")
    folder = Path(url.removeprefix("file://"))
    return LocalStorage(folder if folder.is_absolute() else PROJECT_ROOT / folder)


_storage: LocalStorage | None = None


def get_storage() -> LocalStorage:
    global _storage
    if _storage is None:
        _storage = storage_from_url(get_settings().storage_url)
    return _storage
