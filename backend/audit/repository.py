from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit.models import AuditEvent


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_chain(self, tenant_id: uuid.UUID) -> None:
        """One writer per tenant's chain at a time, until the transaction ends (PostgreSQL)."""
        if self.session.bind.dialect.name == "postgresql":
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"audit:{tenant_id}"}
            )

    async def last_entry(self, tenant_id: uuid.UUID) -> AuditEvent | None:
        statement = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.seq.desc()).limit(1)
        return (await self.session.scalars(statement)).first()

    async def page(
        self,
        *,
        limit: int,
        before_seq: int | None = None,
        action: str | None = None,
        object_type: str | None = None,
        object_id: str | None = None,
    ) -> Sequence[AuditEvent]:
        statement = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
        if before_seq is not None:
            statement = statement.where(AuditEvent.seq < before_seq)
        if action:
            statement = statement.where(AuditEvent.action == action)
        if object_type:
            statement = statement.where(AuditEvent.object_type == object_type)
        if object_id:
            statement = statement.where(AuditEvent.object_id == object_id)
        return (await self.session.scalars(statement)).all()

    async def in_order(self, batch: int = 1000):
        last = 0
        while True:
            statement = select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
            rows = (await self.session.scalars(statement)).all()
            if not rows:
                return
            for row in rows:
                yield row
            last = rows[-1].seq
