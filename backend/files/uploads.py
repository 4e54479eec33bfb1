"""Files people upload (proof of delivery, dispute evidence, thread attachments): one way in.

The type is read from the content, never from the name; a name whose extension claims another type
than the content is refused (a forged extension). The size is capped while copying, the SHA-256 is
recorded, and the bytes are kept under a random tenant-prefixed key: nothing is served from a path
anyone could guess, only through the record it belongs to.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
import uuid
from collections.abc import Callable
from typing import BinaryIO

from sqlalchemy.ext.asyncio import AsyncSession

from backend.db.tenancy import current_tenant
from backend.errors import DomainError, ValidationFailed
from backend.files import storage
from backend.i18n import _
from backend.invoices.models import StoredFile

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class FileTooLarge(DomainError):
    status_code = 413


_SIGNATURES: tuple[tuple[str, str, Callable[[bytes], bool]], ...] = (
    ("application/pdf", ".pdf", lambda head: head.startswith(b"%PDF-")),
    ("image/png", ".png", lambda head: head.startswith(b"\x89PNG\r\n\x1a\n")),
    ("image/jpeg", ".jpg", lambda head: head.startswith(b"\xff\xd8\xff")),
    ("image/webp", ".webp", lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP"),
    ("image/tiff", ".tif", lambda head: head[:4] in (b"II*\x00", b"MM\x00*")),
)
# Shown in the browser; anything else (TIFF) is only ever downloaded.
PREVIEWABLE = frozenset({"application/pdf", "image/png", "image/jpeg", "image/webp"})
SUFFIX = {content_type: suffix for content_type, suffix, _matches in _SIGNATURES}
# Extensions a name may carry for each type; another known extension is a forged one.
_EXTENSIONS = {
    "application/pdf": {".pdf"},
    "image/png": {".png"},
    "image/jpeg": {".jpg", ".jpeg", ".jfif"},
    "image/webp": {".webp"},
    "image/tiff": {".tif", ".tiff"},
}


def sniff_content_type(head: bytes) -> str | None:
    for content_type, _suffix, matches in _SIGNATURES:
        if matches(head):
            return content_type
    return None


def safe_filename(name: str | None, content_type: str, fallback: str = "file") -> str:
    """The client's file name without folders or control characters, for Content-Disposition only."""
    name = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = re.sub(r"[\x00-\x1f\x7f\"]", "", name).strip(" .")
    if not name:
        name = fallback + SUFFIX[content_type]
    if len(name) > 200:
        stem, dot, suffix = name.rpartition(".")
        name = (stem[:190] + dot + suffix[:9]) if dot and len(suffix) < 10 else name[:200]
    return name


def _forged(name: str | None, content_type: str) -> bool:
    stem, dot, extension = (name or "").rpartition(".")
    if not dot or not stem:
        return False
    return f".{extension.lower()}" not in _EXTENSIONS[content_type]


async def store_upload(
    session: AsyncSession,
    *,
    owner_type: str,
    owner_id: uuid.UUID,
    filename: str | None,
    source: BinaryIO,
    refused_type_message: str,
    fallback_name: str = "file",
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> StoredFile:
    """Check and keep one upload for `owner_type`/`owner_id`; refused files leave nothing behind."""
    tenant_id = current_tenant(session)
    head = source.read(16)
    if not head:
        raise ValidationFailed(_("The file is empty."), field="file")
    content_type = sniff_content_type(head)
    if content_type is None:
        raise ValidationFailed(refused_type_message, field="file")
    if _forged(filename, content_type):
        raise ValidationFailed(
            _("The file's name (%(name)s) does not match its content (%(type)s); rename it or choose the right file."),
            field="file",
            params={"name": filename, "type": content_type},
        )
    source.seek(0)
    store = storage.get_storage()
    try:
        kept = await asyncio.to_thread(store.put, tenant_id, source, suffix=SUFFIX[content_type], max_size=max_bytes)
    except storage.FileTooLarge as error:
        raise FileTooLarge(
            _("The file is larger than %(limit)s MB."), field="file", params={"limit": error.limit // (1024 * 1024)}
        ) from error
    stored = StoredFile(
        owner_type=owner_type,
        owner_id=owner_id,
        storage_key=kept.key,
        filename=safe_filename(filename, content_type, fallback_name),
        content_type=content_type,
        size=kept.size,
        sha256=kept.sha256,
    )
    session.add(stored)
    try:
        await session.flush()
    except BaseException:
        await asyncio.to_thread(store.delete, tenant_id, kept.key)
        raise
    return stored


async def open_stored(session: AsyncSession, stored: StoredFile) -> BinaryIO:
    """The content of a file whose record the caller has found through what owns it."""
    return await asyncio.to_thread(storage.get_storage().open, current_tenant(session), stored.storage_key)


def file_view(stored: StoredFile) -> dict:
    return {"file_id": str(stored.id), "filename": stored.filename, "size": stored.size, "sha256": stored.sha256}
