from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.principal import Principal
from backend.http.pagination import MAX_LIMIT
from backend.tenants import service
from backend.tenants.models import Role
from backend.tenants.schemas import InviteIn, MemberOut, MemberPage, RoleIn, TenantOut


class TenantController(Controller):
    path = "/tenant"
    tags = ["tenant"]

    @get("/")
    async def current(self, db: AsyncSession) -> TenantOut:
        return TenantOut.of(await service.get_current_tenant(db))


async def _member_out(db: AsyncSession, principal: Principal, membership_id: uuid.UUID) -> MemberOut:
    return MemberOut.of(*await service.get_member(db, principal, membership_id))


class MemberController(Controller):
    path = "/members"
    tags = ["team"]

    @get("/")
    async def list_members(
        self,
        db: AsyncSession,
        principal: Principal,
        limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT)] = 50,
        offset: Annotated[int, Parameter(ge=0)] = 0,
        role: Role | None = None,
        q: Annotated[str | None, Parameter(max_length=200)] = None,
    ) -> MemberPage:
        total, rows = await service.list_members(db, principal, limit=limit, offset=offset, role=role, query=q)
        return MemberPage(items=[MemberOut.of(m, u) for m, u in rows], total=total, limit=limit, offset=offset)

    @get("/{member_id:uuid}")
    async def get_member(self, db: AsyncSession, principal: Principal, member_id: uuid.UUID) -> MemberOut:
        return await _member_out(db, principal, member_id)

    @post("/")
    async def invite(self, db: AsyncSession, principal: Principal, data: InviteIn) -> MemberOut:
        membership = await service.invite_member(db, principal, email=data.email, role=data.role, display_name=data.display_name)
        return await _member_out(db, principal, membership.id)

    @patch("/{member_id:uuid}")
    async def change_role(self, db: AsyncSession, principal: Principal, member_id: uuid.UUID, data: RoleIn) -> MemberOut:
        membership = await service.change_role(db, principal, member_id, data.role)
        return await _member_out(db, principal, membership.id)

    @delete("/{member_id:uuid}")
    async def remove(self, db: AsyncSession, principal: Principal, member_id: uuid.UUID) -> None:
        await service.remove_member(db, principal, member_id)
