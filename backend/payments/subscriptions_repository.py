"""The tenant's subscription row and what its plan limits count (tenant-scoped session)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.buyers.models import Buyer
from backend.db.tenancy import current_tenant
from backend.disputes.models import DisputeCase
from backend.payments.models import TenantSubscription
from backend.tenants.models import Membership


class SubscriptionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.tenant_id = current_tenant(session)

    async def get(self, *, for_update: bool = False) -> TenantSubscription | None:
        statement = select(TenantSubscription).where(TenantSubscription.tenant_id == self.tenant_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def team_size(self) -> int:
        """Members and pending invitations: an invitation holds its place on the team until it is withdrawn."""
        statement = select(func.count(Membership.id)).where(Membership.tenant_id == self.tenant_id)
        return (await self.session.execute(statement)).scalar_one()

    async def buyer_count(self) -> int:
        statement = select(func.count(Buyer.id)).where(Buyer.tenant_id == self.tenant_id)
        return (await self.session.execute(statement)).scalar_one()

    async def cases_registered_since(self, moment: datetime) -> int:
        statement = select(func.count(DisputeCase.id)).where(
            DisputeCase.tenant_id == self.tenant_id, DisputeCase.created_at >= moment
        )
        return (await self.session.execute(statement)).scalar_one()
