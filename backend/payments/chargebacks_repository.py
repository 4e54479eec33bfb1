from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.payments.models import CardDispute


class ChargebackRepository:
    """The tenant's card disputes (tenant-scoped session)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_stripe_id(self, stripe_dispute_id: str, *, for_update: bool = False) -> CardDispute | None:
        statement = select(CardDispute).where(CardDispute.stripe_dispute_id == stripe_dispute_id)
        if for_update:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return (await self.session.scalars(statement)).first()

    async def get(self, card_dispute_id: uuid.UUID, *, for_update: bool = False) -> CardDispute | None:
        statement = select(CardDispute).where(CardDispute.id == card_dispute_id)
        if for_update:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return (await self.session.scalars(statement)).first()

    async def of_case(self, case_id: uuid.UUID, *, for_update: bool = False) -> CardDispute | None:
        statement = select(CardDispute).where(CardDispute.case_id == case_id)
        if for_update:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return (await self.session.scalars(statement)).first()

    async def waiting_for(self, payment_intent_id: str) -> Sequence[CardDispute]:
        """Card disputes of this payment no case works yet, locked."""
        statement = (
            select(CardDispute)
            .where(CardDispute.payment_intent_id == payment_intent_id, CardDispute.case_id.is_(None))
            .order_by(CardDispute.id)
            .with_for_update()
        )
        return (await self.session.scalars(statement)).all()

    async def without_case(self, *, limit: int = 50, offset: int = 0) -> tuple[Sequence[CardDispute], int]:
        """Card disputes no case works (a payment Accord does not know, or an inquiry), earliest due first."""
        where = CardDispute.case_id.is_(None)
        total = (await self.session.execute(select(func.count()).select_from(CardDispute).where(where))).scalar_one()
        statement = (
            select(CardDispute)
            .where(where)
            .order_by(CardDispute.evidence_due_by.is_(None), CardDispute.evidence_due_by, CardDispute.created_at)
            .limit(limit)
            .offset(offset)
        )
        return (await self.session.scalars(statement)).all(), total
