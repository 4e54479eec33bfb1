"""The audit trail: append-only, written in the transaction of the change, hash-chained per tenant."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit.models import AuditEvent
from backend.audit.repository import AuditRepository
from backend.db.base import utcnow
from backend.db.tenancy import AllTenantsScope, TenancyError, TenantScope, scope_of
from backend.db.uow import before_commit

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who did it: a user, an API key, a buyer contact, an insurer user, a job or the system."""

    kind: str
    id: str | None
    label: str
    ip: str | None = None


SYSTEM = Actor(kind="system", id=None, label="system")


@dataclass
class _Pending:
    tenant_id: uuid.UUID
    actor: Actor
    action: str
    object_type: str
    object_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    success: bool
    occurred_at: datetime = field(default_factory=utcnow)


def _plain(value: dict[str, Any] | None) -> dict[str, Any] | None:
    # Stored as JSON and hashed as JSON: make it JSON now, so what is hashed is what is read back.
    return None if value is None else json.loads(json.dumps(value, default=str, ensure_ascii=False))


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object | None = None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    success: bool = True,
    tenant_id: uuid.UUID | None = None,
) -> None:
    scope = scope_of(session)
    if isinstance(scope, TenantScope):
        if tenant_id is not None and tenant_id != scope.tenant_id:
            raise TenancyError("audit entry for another tenant")
        tenant_id = scope.tenant_id
    elif not (isinstance(scope, AllTenantsScope) and tenant_id is not None):
        raise TenancyError("an audit entry needs its tenant")
    session.info.setdefault("audit_pending", []).append(
        _Pending(
            tenant_id=tenant_id,
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            before=_plain(before),
            after=_plain(after),
            success=success,
        )
    )
    before_commit(session, "audit", write_pending_entries)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(prev_hash: str, entry: AuditEvent) -> str:
    content = {
        "tenant_id": str(entry.tenant_id),
        "seq": entry.seq,
        "occurred_at": _timestamp(entry.occurred_at),
        "actor": [entry.actor_kind, entry.actor_id, entry.actor_label, entry.ip],
        "action": entry.action,
        "object": [entry.object_type, entry.object_id],
        "before": entry.before,
        "after": entry.after,
        "success": entry.success,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


async def write_pending_entries(session: AsyncSession) -> None:
    pending: list[_Pending] = session.info.pop("audit_pending", [])
    repository = AuditRepository(session)
    for tenant_id in dict.fromkeys(p.tenant_id for p in pending):
        await repository.lock_chain(tenant_id)
        last = await repository.last_entry(tenant_id)
        seq, prev_hash = (last.seq, last.hash) if last else (0, GENESIS)
        for item in (p for p in pending if p.tenant_id == tenant_id):
            seq += 1
            entry = AuditEvent(
                tenant_id=tenant_id,
                seq=seq,
                occurred_at=item.occurred_at,
                actor_kind=item.actor.kind,
                actor_id=item.actor.id,
                actor_label=item.actor.label,
                ip=item.actor.ip,
                action=item.action,
                object_type=item.object_type,
                object_id=item.object_id,
                before=item.before,
                after=item.after,
                success=item.success,
                prev_hash=prev_hash,
            )
            entry.hash = entry_hash(prev_hash, entry)
            prev_hash = entry.hash
            session.add(entry)
    await session.flush()


@dataclass(frozen=True)
class ChainCheck:
    entries: int
    first_broken_seq: int | None

    @property
    def intact(self) -> bool:
        return self.first_broken_seq is None


async def verify_chain(session: AsyncSession) -> ChainCheck:
    """Recompute the tenant's chain; an altered, removed or inserted row is found at its own seq."""
    expected_prev, expected_seq, count = GENESIS, 1, 0
    async for entry in AuditRepository(session).in_order():
        count += 1
        if entry.seq != expected_seq or entry.prev_hash != expected_prev or entry.hash != entry_hash(expected_prev, entry):
            return ChainCheck(entries=count, first_broken_seq=expected_seq if entry.seq != expected_seq else entry.seq)
        expected_prev, expected_seq = entry.hash, entry.seq + 1
    return ChainCheck(entries=count, first_broken_seq=None)


async def list_entries(session: AsyncSession, *, limit: int = 50, before_seq: int | None = None, **filters: str | None):
    return await AuditRepository(session).page(limit=limit, before_seq=before_seq, **filters)
