"""Queries of buyers' payments: open attempts to reuse, instalments to lock, refunds already in the ledger."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.buyers.models import Buyer
from backend.disputes.models import Instalment
from backend.payments.models import AttemptStatus, PaymentAttempt, PaymentPurpose


class AttemptRepository:
    """The tenant's payment attempts and what they pay (tenant-scoped session)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def open_since(
        self,
        buyer_id: uuid.UUID,
        purpose: PaymentPurpose,
        since: datetime,
        *,
        case_id: uuid.UUID | None,
        instalment_id: uuid.UUID | None,
    ) -> Sequence[PaymentAttempt]:
        statement = (
            select(PaymentAttempt)
            .where(
                PaymentAttempt.buyer_id == buyer_id,
                PaymentAttempt.purpose == purpose,
                PaymentAttempt.status == AttemptStatus.OPEN,
                PaymentAttempt.created_at >= since,
                PaymentAttempt.case_id.is_(None) if case_id is None else PaymentAttempt.case_id == case_id,
                PaymentAttempt.instalment_id.is_(None)
                if instalment_id is None
                else PaymentAttempt.instalment_id == instalment_id,
            )
            .order_by(PaymentAttempt.created_at.desc())
            .limit(20)
        )
        return (await self.session.scalars(statement)).all()

    async def live_pages_since(self, buyer_id: uuid.UUID, since: datetime) -> Sequence[PaymentAttempt]:
        """The buyer's attempts whose Checkout page may still take money: open, or failed (a declined card
        leaves the page open for another card), created within a page's lifetime."""
        statement = select(PaymentAttempt).where(
            PaymentAttempt.buyer_id == buyer_id,
            PaymentAttempt.status.in_((AttemptStatus.OPEN, AttemptStatus.FAILED)),
            PaymentAttempt.checkout_session_id.is_not(None),
            PaymentAttempt.created_at >= since,
        )
        return (await self.session.scalars(statement)).all()

    async def open_with_session(self) -> Sequence[PaymentAttempt]:
        statement = select(PaymentAttempt).where(
            PaymentAttempt.status == AttemptStatus.OPEN, PaymentAttempt.checkout_session_id.is_not(None)
        )
        return (await self.session.scalars(statement)).all()

    async def of_buyer(self, buyer_id: uuid.UUID, attempt_id: uuid.UUID) -> PaymentAttempt | None:
        statement = select(PaymentAttempt).where(PaymentAttempt.id == attempt_id, PaymentAttempt.buyer_id == buyer_id)
        return (await self.session.scalars(statement)).first()

    async def latest(self, *, buyer_id: uuid.UUID | None = None, limit: int = 50) -> Sequence[PaymentAttempt]:
        statement = select(PaymentAttempt).order_by(PaymentAttempt.created_at.desc()).limit(limit)
        if buyer_id is not None:
            statement = statement.where(PaymentAttempt.buyer_id == buyer_id)
        return (await self.session.scalars(statement)).all()

    async def latest_with_buyers(self, *, limit: int = 50) -> Sequence[tuple[PaymentAttempt, str]]:
        statement = (
            select(PaymentAttempt, Buyer.legal_name)
            .join(Buyer, Buyer.id == PaymentAttempt.buyer_id)
            .order_by(PaymentAttempt.created_at.desc())
            .limit(limit)
        )
        return [(attempt, name) for attempt, name in (await self.session.execute(statement)).all()]

    async def instalments(self, case_id: uuid.UUID, *, for_update: bool = False) -> Sequence[Instalment]:
        statement = select(Instalment).where(Instalment.case_id == case_id).order_by(Instalment.seq)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).all()
