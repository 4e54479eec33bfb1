from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get
from litestar.params import Parameter
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth.policies import Permission, require
from backend.auth.principal import Principal
from backend.tenants import service as tenants
from portal import web

PAGE_SIZE = 30


class AuditTrailController(Controller):
    path = "/console/audit"
    include_in_schema = False

    @get("/")
    async def index(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        before: Annotated[int | None, Parameter(ge=1)] = None,
        action: Annotated[str | None, Parameter(max_length=64)] = None,
    ) -> Response:
        require(principal, Permission.READ_AUDIT)
        entries = await audit.list_entries(db, limit=PAGE_SIZE, before_seq=before, action=action or None)
        check = await audit.verify_chain(db) if before is None else None
        tenant = await tenants.get_current_tenant(db)
        return web.render(
            request,
            "console/audit.html",
            entries=entries,
            check=check,
            tenant=tenant,
            action=action or "",
            next_before=entries[-1].seq if len(entries) == PAGE_SIZE else None,
        )
