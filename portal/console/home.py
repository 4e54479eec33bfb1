from __future__ import annotations

from litestar import Controller, Request, get
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit import service as audit
from backend.auth import service as auth
from backend.auth.policies import Permission, can
from backend.auth.principal import Principal
from backend.invoices import service as ledger
from backend.tenants import service as tenants
from portal import web


@get("/", include_in_schema=False)
async def root() -> Redirect:
    return Redirect("/console", status_code=303)


class HomeController(Controller):
    path = "/console"
    include_in_schema = False

    @get("/")
    async def home(self, request: Request, db: AsyncSession, principal: Principal) -> Template:
        tenant = await tenants.get_current_tenant(db)
        members_total, _rows = await tenants.list_members(db, principal, limit=1)
        keys = await auth.list_api_keys(db, principal) if can(principal, Permission.MANAGE_API_KEYS) else None
        recent = await audit.list_entries(db, limit=8) if can(principal, Permission.READ_AUDIT) else None
        return web.render(
            request,
            "console/home.html",
            tenant=tenant,
            members_total=members_total,
            active_keys=None if keys is None else sum(1 for k in keys if k.revoked_at is None),
            recent=recent,
            receivables=await ledger.receivables(db, principal) if can(principal, Permission.READ_LEDGER) else [],
            can_manage=can(principal, Permission.MANAGE_TEAM),
            tenants=await auth.organisations_of(principal),
        )
