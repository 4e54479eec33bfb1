"""File storage: bytes kept under random keys that start with the owning tenant's id.

`STORAGE_URL=file:///path` (the embedded default, `file://var/files`) keeps them in a local folder
outside anything the web server serves; `STORAGE_URL=s3://bucket[/prefix]` keeps them in an S3 bucket
(or an S3-compatible store such as MinIO, named by `S3_ENDPOINT_URL` or `AWS_ENDPOINT_URL`), with region
and credentials from the usual `AWS_*` variables. Both keep the same promises.
A key that climbs out (`..`), is absolute, or starts with another tenant's id is refused, so a key
read from the database can never reach another tenant's files.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Protocol

from backend.config import PROJECT_ROOT, get_settings
from backend.db.tenancy import TenancyError

COPY_BUFFER = 1024 * 1024
# Spooled copies stay in memory up to this size and move to a temporary file past it.
SPOOL_IN_MEMORY = 8 * COPY_BUFFER
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


class Storage(Protocol):
    """Blocking calls: async code runs them through `asyncio.to_thread`."""

    def put(self, tenant_id: uuid.UUID, source: BinaryIO, *, suffix: str = "", max_size: int | None = None) -> StoredObject:
        """Copy `source` in under a new random key, hashing as it goes; past `max_size` nothing is kept."""
        ...

    def open(self, tenant_id: uuid.UUID, key: str) -> BinaryIO:
        """The content as a readable binary stream (the caller closes it); FileNotFoundError when it is gone."""
        ...

    def delete(self, tenant_id: uuid.UUID, key: str) -> None: ...


def checked_key(tenant_id: uuid.UUID, key: str) -> str:
    if ".." in key or key.startswith("/") or not _KEY.match(key):
        raise TenancyError("malformed storage key")
    if not key.startswith(f"{tenant_id}/"):
        raise TenancyError("storage key of another tenant")
    return key


def _new_key(tenant_id: uuid.UUID, suffix: str) -> str:
    return checked_key(tenant_id, f"{tenant_id}/{secrets.token_urlsafe(24)}{suffix}")


def _copy(source: BinaryIO, target: BinaryIO, max_size: int | None) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    while block := source.read(COPY_BUFFER):
        size += len(block)
        if max_size is not None and size > max_size:
            raise FileTooLarge(max_size)
        digest.update(block)
        target.write(block)
    return size, digest.hexdigest()


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, tenant_id: uuid.UUID, key: str) -> Path:
        path = (self.root / checked_key(tenant_id, key)).resolve()
        if self.root not in path.parents:
            raise TenancyError("storage key outside the store")
        return path

    def put(self, tenant_id: uuid.UUID, source: BinaryIO, *, suffix: str = "", max_size: int | None = None) -> StoredObject:
        key = _new_key(tenant_id, suffix)
        path = self._path(tenant_id, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "xb") as target:
                size, sha256 = _copy(source, target, max_size)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return StoredObject(key=key, size=size, sha256=sha256)

    def open(self, tenant_id: uuid.UUID, key: str) -> BinaryIO:
        return open(self._path(tenant_id, key), "rb")

    def delete(self, tenant_id: uuid.UUID, key: str) -> None:
        self._path(tenant_id, key).unlink(missing_ok=True)


class S3Storage:
    """Objects in one bucket, under an optional prefix; `client` is a boto3 S3 client (thread-safe)."""

    def __init__(self, client, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _object(self, tenant_id: uuid.UUID, key: str) -> str:
        key = checked_key(tenant_id, key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, tenant_id: uuid.UUID, source: BinaryIO, *, suffix: str = "", max_size: int | None = None) -> StoredObject:
        key = _new_key(tenant_id, suffix)
        # Spooled first, so a file past the limit is refused before anything reaches the bucket.
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            size, sha256 = _copy(source, spool, max_size)
            spool.seek(0)
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._object(tenant_id, key),
                Body=spool,
                ContentLength=size,
                ChecksumSHA256=_base64_of_hex(sha256),
            )
        return StoredObject(key=key, size=size, sha256=sha256)

    def open(self, tenant_id: uuid.UUID, key: str) -> BinaryIO:
        name = self._object(tenant_id, key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=name)
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(f"no stored object {key}") from None
        # Copied out whole: an import reads between transactions for minutes, longer than a held
        # connection can be trusted to stay open.
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - the caller closes it
        try:
            with response["Body"] as body:
                shutil.copyfileobj(body, spool, COPY_BUFFER)
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return spool  # type: ignore[return-value]

    def delete(self, tenant_id: uuid.UUID, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._object(tenant_id, key))


def _base64_of_hex(digest: str) -> str:
    return base64.b64encode(bytes.fromhex(digest)).decode("ascii")


def s3_client(environ: Mapping[str, str] = os.environ):
    import boto3
    from botocore.config import Config

    endpoint = environ.get("S3_ENDPOINT_URL") or environ.get("AWS_ENDPOINT_URL") or None
    # Keys left unset fall back to boto3's own chain (shared config, an IAM role, ...).
    return boto3.session.Session(
        aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=environ.get("AWS_SESSION_TOKEN") or None,
    ).client(
        "s3",
        endpoint_url=endpoint,
        region_name=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None,
        # S3-compatible stores answer at one host with the bucket in the path.
        config=Config(s3={"addressing_style": "path" if endpoint else "auto"}, retries={"mode": "standard"}),
    )


def storage_from_url(url: str, environ: Mapping[str, str] = os.environ) -> Storage:
    if url.startswith("file://"):
        folder = Path(url.removeprefix("file://"))
        return LocalStorage(folder if folder.is_absolute() else PROJECT_ROOT / folder)
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"STORAGE_URL {url!r} names no bucket")
        return S3Storage(s3_client(environ), bucket, prefix)
    raise ValueError(f"unsupported STORAGE_URL {url!r}: use file://folder or s3://bucket[/prefix]")


@lru_cache(maxsize=1)
def _storage_at(url: str) -> Storage:
    return storage_from_url(url)


def get_storage() -> Storage:
    # Keyed on the URL, so clearing the settings cache (tests) switches the store too.
    return _storage_at(get_settings().storage_url)
