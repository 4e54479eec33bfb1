from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.policies import Permission, can
from backend.auth.principal import Principal
from backend.errors import Conflict, ValidationFailed
from backend.i18n import gettext
from backend.tenants import service as tenants
from backend.tenants.models import Role
from portal import web
from portal.console.sign_in import Form

# Shown in place on the form; a refusal (403) or a missing object (404) is answered as such.
FORM_ERRORS = (ValidationFailed, Conflict)

PAGE_SIZE = 25


class TeamController(Controller):
    path = "/console/team"
    include_in_schema = False

    async def _page(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        *,
        role: str | None = None,
        q: str | None = None,
        page: int = 1,
        status_code: int = 200,
        **extra,
    ) -> Response:
        role_filter = Role(role) if role in Role._value2member_map_ else None
        total, rows = await tenants.list_members(
            db, principal, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, role=role_filter, query=q or None
        )
        template = (
            "console/_members.html"
            if web.is_htmx(request) and request.headers.get("hx-target") == "members"
            else "console/team.html"
        )
        extra.setdefault("invite", {"email": "", "role": Role.COLLECTOR.value, "display_name": ""})
        extra.setdefault("invite_error", None)
        return web.render(
            request,
            template,
            status_code=status_code,
            rows=rows,
            total=total,
            page=page,
            pages=max(1, -(-total // PAGE_SIZE)),
            role_filter=role or "",
            q=q or "",
            roles=list(Role),
            can_manage=can(principal, Permission.MANAGE_TEAM),
            **extra,
        )

    @get("/")
    async def index(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        role: str | None = None,
        q: Annotated[str | None, Parameter(max_length=200)] = None,
        page: Annotated[int, Parameter(ge=1)] = 1,
    ) -> Response:
        return await self._page(request, db, principal, role=role, q=q, page=page)

    @post("/invitations")
    async def invite(
        self, request: Request, db: AsyncSession, principal: Principal, data: Annotated[dict[str, str], Form]
    ) -> Response:
        invite = {k: data.get(k, "") for k in ("email", "role", "display_name")}
        try:
            await tenants.invite_member(db, principal, **invite)
        except FORM_ERRORS as error:
            return await self._page(
                request,
                db,
                principal,
                status_code=422,
                invite=invite,
                invite_error={"field": error.field, "message": gettext(error.message)},
            )
        email = tenants.normalise_email(invite["email"])  # the form as the service accepted it
        return await self._page(request, db, principal, notice=gettext("Invitation sent to %(email)s.") % {"email": email})

    async def _row(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        membership_id: uuid.UUID,
        *,
        error: str | None = None,
        status_code: int = 200,
    ) -> Response:
        if not web.is_htmx(request):
            if error is None:
                return web.redirect(request, "/console/team")
            return await self._page(request, db, principal, status_code=status_code, notice_error=error)
        membership, user = await tenants.get_member(db, principal, membership_id)
        return web.render(
            request,
            "console/_member_row.html",
            status_code=status_code,
            membership=membership,
            user=user,
            roles=list(Role),
            can_manage=can(principal, Permission.MANAGE_TEAM),
            row_error=error,
        )

    @post("/{membership_id:uuid}/role")
    async def change_role(
        self,
        request: Request,
        db: AsyncSession,
        principal: Principal,
        membership_id: uuid.UUID,
        data: Annotated[dict[str, str], Form],
    ) -> Response:
        try:
            await tenants.change_role(db, principal, membership_id, data.get("role", ""))
        except FORM_ERRORS as error:
            await db.rollback()
            return await self._row(request, db, principal, membership_id, error=gettext(error.message), status_code=422)
        return await self._row(request, db, principal, membership_id)

    @post("/{membership_id:uuid}/remove")
    async def remove(self, request: Request, db: AsyncSession, principal: Principal, membership_id: uuid.UUID) -> Response:
        try:
            await tenants.remove_member(db, principal, membership_id)
        except FORM_ERRORS as error:
            await db.rollback()
            return await self._row(request, db, principal, membership_id, error=gettext(error.message), status_code=422)
        if web.is_htmx(request):
            return Response(content=b"", status_code=200)
        return web.redirect(request, "/console/team")
