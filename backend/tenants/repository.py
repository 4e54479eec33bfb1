from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.invoices.models import StoredFile
from backend.tenants.models import Membership, MembershipStatus, Role, Tenant, User


class TenantRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tenant_id: uuid.UUID) -> Tenant | None:
        return await self.session.get(Tenant, tenant_id)

    async def by_slug(self, slug: str) -> Tenant | None:
        return (await self.session.scalars(select(Tenant).where(Tenant.slug == slug))).first()


class TenantFileRepository:
    """Files of the session's tenant itself (its portal logo), not of any record in it."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, file_id: uuid.UUID) -> StoredFile | None:
        return (await self.session.scalars(select(StoredFile).where(StoredFile.id == file_id))).first()


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def by_email(self, email: str) -> User | None:
        return (await self.session.scalars(select(User).where(User.email == email))).first()


class MembershipRepository:
    """Memberships of the session's tenant (the tenancy layer adds the tenant to every query)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, membership_id: uuid.UUID, *, for_update: bool = False) -> Membership | None:
        statement = select(Membership).where(Membership.id == membership_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def of_user(self, user_id: uuid.UUID) -> Membership | None:
        return (await self.session.scalars(select(Membership).where(Membership.user_id == user_id))).first()

    async def page(self, *, limit: int, offset: int, role: Role | None = None, query: str | None = None):
        statement = select(Membership, User).join(User, User.id == Membership.user_id)
        if role:
            statement = statement.where(Membership.role == role)
        if query:
            pattern = f"%{query.lower()}%"
            statement = statement.where(func.lower(User.email).like(pattern) | func.lower(User.display_name).like(pattern))
        total = (await self.session.execute(select(func.count()).select_from(statement.subquery()))).scalar_one()
        rows = (await self.session.execute(statement.order_by(User.display_name, User.email).limit(limit).offset(offset))).all()
        return total, rows

    async def count_owners(self) -> int:
        """Locks the owners' rows, so two demotions at once cannot both count the other as the owner left."""
        statement = (
            select(Membership.id)
            .where(Membership.role == Role.OWNER, Membership.status == MembershipStatus.ACTIVE)
            .order_by(Membership.id)
            .with_for_update()
        )
        return len((await self.session.scalars(statement)).all())


class AllTenantsMembershipRepository:
    """Cross-tenant: which tenants a person belongs to, and invitation look-up, before a tenant is chosen."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def active_of_user(self, user_id: uuid.UUID) -> Sequence[tuple[Membership, Tenant]]:
        statement = (
            select(Membership, Tenant)
            .join(Tenant, Tenant.id == Membership.tenant_id)
            .where(Membership.user_id == user_id, Membership.status == MembershipStatus.ACTIVE)
            .order_by(Membership.created_at, Tenant.name)
        )
        return [(membership, tenant) for membership, tenant in await self.session.execute(statement)]

    async def by_invitation(self, token_hash: str) -> Membership | None:
        statement = select(Membership).where(Membership.invitation_token_hash == token_hash)
        return (await self.session.scalars(statement)).first()
