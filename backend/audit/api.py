from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service
from backend.audit.schemas import AuditEventOut, AuditEventPage, ChainCheckOut
from backend.auth.policies import Permission, require
from backend.auth.principal import Principal
from backend.http.pagination import MAX_LIMIT


class AuditController(Controller):
    path = "/audit-events"
    tags = ["audit"]

    @get("/")
    async def list_events(
        self,
        db: AsyncSession,
        principal: Principal,
        limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT)] = 50,
        before: Annotated[
            int | None, Parameter(ge=1, description="Return entries with seq below this (the previous page's next_before).")
        ] = None,
        action: Annotated[str | None, Parameter(max_length=64)] = None,
        object_type: Annotated[str | None, Parameter(max_length=64)] = None,
        object_id: Annotated[str | None, Parameter(max_length=64)] = None,
    ) -> AuditEventPage:
        require(principal, Permission.READ_AUDIT)
        rows = await service.list_entries(
            db, limit=limit, before_seq=before, action=action, object_type=object_type, object_id=object_id
        )
        return AuditEventPage(items=[AuditEventOut.of(r) for r in rows], next_before=rows[-1].seq if len(rows) == limit else None)

    @get("/verification")
    async def verify(self, db: AsyncSession, principal: Principal) -> ChainCheckOut:
        require(principal, Permission.READ_AUDIT)
        check = await service.verify_chain(db)
        return ChainCheckOut(entries=check.entries, intact=check.intact, first_broken_seq=check.first_broken_seq)
