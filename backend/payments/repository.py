from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.payments.models import (
    CardDispute,
    PaymentAccount,
    PaymentAttempt,
    StripeAccountOwner,
    StripeEvent,
    TenantSubscription,
)


class StripeEventRepository:
    """Webhook events (global rows: an event names its tenant only once it is routed)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_new(self, values: dict) -> bool:
        """Store the event unless its Stripe id is already here; True when this call stored it."""
        insert = pg_insert if self.session.bind.dialect.name == "postgresql" else sqlite_insert
        result = await self.session.execute(insert(StripeEvent).values(**values).on_conflict_do_nothing(index_elements=["id"]))
        return result.rowcount == 1

    async def get(self, event_id: str, *, for_update: bool = False) -> StripeEvent | None:
        statement = select(StripeEvent).where(StripeEvent.id == event_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def unhandled_between(self, start: datetime, end: datetime, limit: int) -> Sequence[StripeEvent]:
        statement = (
            select(StripeEvent)
            .where(
                StripeEvent.handled_at.is_(None),
                StripeEvent.routed_tenant_id.is_not(None),
                StripeEvent.received_at >= start,
                StripeEvent.received_at < end,
            )
            .order_by(StripeEvent.received_at)
            .limit(limit)
        )
        return (await self.session.scalars(statement)).all()

    async def forget_handled_before(self, moment: datetime) -> int:
        result = await self.session.execute(
            delete(StripeEvent).where(StripeEvent.handled_at.is_not(None), StripeEvent.received_at < moment)
        )
        return result.rowcount or 0


class RoutingRepository:
    """Cross-tenant look-ups that tell which tenant a webhook event belongs to (all-tenants unit of work)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def tenant_of_account(self, stripe_account_id: str) -> uuid.UUID | None:
        # The account's owner in Accord, connected now or disconnected since: its late events still reach it.
        owner = await AccountOwnerRepository(self.session).owner_of(stripe_account_id)
        if owner is not None:
            return owner
        statement = select(PaymentAccount.tenant_id).where(PaymentAccount.stripe_account_id == stripe_account_id).limit(2)
        found = (await self.session.scalars(statement)).all()
        return found[0] if len(found) == 1 else None

    async def tenant_of_customer(self, stripe_customer_id: str) -> uuid.UUID | None:
        statement = (
            select(TenantSubscription.tenant_id).where(TenantSubscription.stripe_customer_id == stripe_customer_id).limit(2)
        )
        found = (await self.session.scalars(statement)).all()
        return found[0] if len(found) == 1 else None


class AccountOwnerRepository:
    """The global one-organisation-per-Stripe-account register (stripe_account_owners)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def owner_of(self, stripe_account_id: str) -> uuid.UUID | None:
        statement = select(StripeAccountOwner.owner_tenant_id).where(StripeAccountOwner.stripe_account_id == stripe_account_id)
        return (await self.session.scalars(statement)).first()

    async def claim(self, stripe_account_id: str, tenant_id: uuid.UUID, now: datetime) -> uuid.UUID:
        """Record `tenant_id` as the account's owner unless it has one; returns the owner. The account id
        is the key, so of two organisations claiming it at once one waits for the other and gets its owner."""
        insert = pg_insert if self.session.bind.dialect.name == "postgresql" else sqlite_insert
        await self.session.execute(
            insert(StripeAccountOwner)
            .values(stripe_account_id=stripe_account_id, owner_tenant_id=tenant_id, connected_at=now)
            .on_conflict_do_nothing(index_elements=["stripe_account_id"])
        )
        owner = await self.owner_of(stripe_account_id)
        if owner == tenant_id:
            await self.session.execute(
                update(StripeAccountOwner)
                .where(StripeAccountOwner.stripe_account_id == stripe_account_id)
                .values(disconnected_at=None)
            )
        return owner

    async def mark_disconnected(self, stripe_account_id: str, tenant_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(
            update(StripeAccountOwner)
            .where(StripeAccountOwner.stripe_account_id == stripe_account_id, StripeAccountOwner.owner_tenant_id == tenant_id)
            .values(disconnected_at=now)
        )


class PaymentRepository:
    """The tenant's own payment rows (tenant-scoped session)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def account(self) -> PaymentAccount | None:
        return (await self.session.scalars(select(PaymentAccount))).first()

    async def subscription(self, *, for_update: bool = False) -> TenantSubscription | None:
        statement = select(TenantSubscription)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def attempt(self, attempt_id: uuid.UUID, *, for_update: bool = False) -> PaymentAttempt | None:
        statement = select(PaymentAttempt).where(PaymentAttempt.id == attempt_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def attempt_by_checkout_session(self, checkout_session_id: str, *, for_update: bool = False) -> PaymentAttempt | None:
        statement = select(PaymentAttempt).where(PaymentAttempt.checkout_session_id == checkout_session_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def attempt_by_payment_intent(self, payment_intent_id: str, *, for_update: bool = False) -> PaymentAttempt | None:
        statement = select(PaymentAttempt).where(PaymentAttempt.payment_intent_id == payment_intent_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def attempts_of_buyer(self, buyer_id: uuid.UUID, *, limit: int = 50) -> Sequence[PaymentAttempt]:
        statement = (
            select(PaymentAttempt)
            .where(PaymentAttempt.buyer_id == buyer_id)
            .order_by(PaymentAttempt.created_at.desc())
            .limit(limit)
        )
        return (await self.session.scalars(statement)).all()

    async def card_dispute(self, stripe_dispute_id: str, *, for_update: bool = False) -> CardDispute | None:
        statement = select(CardDispute).where(CardDispute.stripe_dispute_id == stripe_dispute_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).first()

    async def card_dispute_of_case(self, case_id: uuid.UUID) -> CardDispute | None:
        return (await self.session.scalars(select(CardDispute).where(CardDispute.case_id == case_id))).first()
