from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backend.audit.models import AuditEvent


@dataclass
class AuditEventOut:
    id: uuid.UUID
    seq: int
    occurred_at: datetime
    actor_kind: str
    actor_id: str | None
    actor_label: str
    action: str
    object_type: str
    object_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    ip: str | None
    success: bool
    hash: str

    @classmethod
    def of(cls, e: AuditEvent) -> AuditEventOut:
        return cls(
            e.id,
            e.seq,
            e.occurred_at,
            e.actor_kind,
            e.actor_id,
            e.actor_label,
            e.action,
            e.object_type,
            e.object_id,
            e.before,
            e.after,
            e.ip,
            e.success,
            e.hash,
        )


@dataclass
class AuditEventPage:
    items: list[AuditEventOut]
    next_before: int | None


@dataclass
class ChainCheckOut:
    entries: int
    intact: bool
    first_broken_seq: int | None
