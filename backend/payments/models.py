"""Stripe: the supplier's connected account, buyers' payment attempts, webhook events, card disputes,
and the tenant's own subscription to Accord.

Money moves on Stripe; the ledger learns of it only from a verified webhook event, handled once by a
job. A payment attempt is what the server decided the buyer may pay (never an amount from the
browser); its Checkout Session is created on the supplier's connected account with the attempt's
idempotency key.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKeyConstraint, Index, Integer, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Model, TenantOwned, new_id, utcnow
from backend.i18n import _
from backend.invoices.models import AMOUNT, _enum


def _tenant_fk(columns: list[str], table: str, ondelete: str = "CASCADE") -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["tenant_id", *columns], [f"{table}.tenant_id", *(f"{table}.id" for _c in columns)], ondelete=ondelete
    )


class PaymentPurpose(enum.StrEnum):
    UNDISPUTED = "undisputed"  # the part of one invoice no dispute holds
    AGREED = "agreed"  # what a case's agreement leaves the buyer to pay
    INVOICES = "invoices"  # a chosen set of invoices, each for what is payable on it
    INSTALMENT = "instalment"  # the next instalment of an agreed plan


PURPOSE_LABELS = {
    PaymentPurpose.UNDISPUTED: _("Undisputed amount"),
    PaymentPurpose.AGREED: _("Agreed amount"),
    PaymentPurpose.INVOICES: _("Invoices"),
    PaymentPurpose.INSTALMENT: _("Instalment"),
}


class AttemptStatus(enum.StrEnum):
    OPEN = "open"  # a Checkout Session exists; the buyer may still pay
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    REFUNDED = "refunded"  # wholly; a partial refund keeps PAID and counts refunded_amount


class PaymentAccount(TenantOwned, Model):
    """The supplier's Stripe account, connected through Stripe Connect: buyers' money goes there, not to Accord."""

    __tablename__ = "payment_accounts"

    stripe_account_id: Mapped[str] = mapped_column(String(64))
    charges_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    connected_at: Mapped[datetime] = mapped_column(default=utcnow)
    connected_by: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Stripe's creation time of the last account.updated applied; an older event arriving later changes nothing.
    last_event_created: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    # Webhook events name the account; one account is connected to one tenant (the service checks).
    __table_args__ = (Index("ix_payment_accounts_stripe_account_id", "stripe_account_id"),)


class PaymentAttempt(TenantOwned, Model):
    __tablename__ = "payment_attempts"
    __table_args__ = (
        _tenant_fk(["buyer_id"], "buyers", "RESTRICT"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_payment_attempts_tenant_id_buyer_id_created_at", "tenant_id", "buyer_id", "created_at"),
        Index("ix_payment_attempts_tenant_id_checkout_session_id", "tenant_id", "checkout_session_id"),
        Index("ix_payment_attempts_tenant_id_payment_intent_id", "tenant_id", "payment_intent_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    buyer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    purpose: Mapped[PaymentPurpose] = mapped_column(_enum(PaymentPurpose, 16))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    # What the payment settles, decided on the server: [{"invoice_id": "...", "amount": "120.00"}, ...]
    allocations: Mapped[list] = mapped_column(JSON, default=list)
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    instalment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    idempotency_key: Mapped[str] = mapped_column(String(80))
    stripe_account_id: Mapped[str] = mapped_column(String(64))
    checkout_session_id: Mapped[str | None] = mapped_column(String(255))
    checkout_url: Mapped[str | None] = mapped_column(Text)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[AttemptStatus] = mapped_column(_enum(AttemptStatus, 16), default=AttemptStatus.OPEN)
    refunded_amount: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))
    # Of what Stripe refunded, what the ledger already carries: a refund known before its payment is
    # applied waits here, and is recorded right after the payment.
    refund_recorded_amount: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0), server_default="0")
    ledger_entry_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    failure_message: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StripeEvent(Model):
    """Every verified webhook event, once by its Stripe id. Global: the event names its tenant only
    through its account, customer or metadata, which `routed_tenant_id` records once resolved."""

    __tablename__ = "stripe_events"
    __table_args__ = (
        Index(
            "ix_stripe_events_unhandled",
            "received_at",
            postgresql_where=text("handled_at IS NULL"),
            sqlite_where=text("handled_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    account: Mapped[str | None] = mapped_column(String(64))
    # Stripe's own creation time (seconds): orders events of one object when they arrive out of order.
    created: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict] = mapped_column(JSON)
    routed_tenant_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(200))


class StripeAccountOwner(Model):
    """Which organisation a Stripe account belongs to in Accord, for good. Global (one row per account,
    its id the key), so two organisations can never both hold one account, even when they claim it at
    the same moment; kept after a disconnect, so the former owner still receives the account's late
    events (a payment completed just after, a refund or chargeback on an old payment) and no other
    organisation can take the account over."""

    __tablename__ = "stripe_account_owners"

    stripe_account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    connected_at: Mapped[datetime] = mapped_column(default=utcnow)
    disconnected_at: Mapped[datetime | None]


class CardDispute(TenantOwned, Model):
    """A chargeback on the supplier's Stripe account, worked as an Accord dispute case."""

    __tablename__ = "card_disputes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "stripe_dispute_id"),
        _tenant_fk(["case_id"], "dispute_cases", "RESTRICT"),
        Index("ix_card_disputes_tenant_id_case_id", "tenant_id", "case_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    stripe_dispute_id: Mapped[str] = mapped_column(String(255))
    charge_id: Mapped[str | None] = mapped_column(String(255))
    payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(40))
    evidence_due_by: Mapped[datetime | None]
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    evidence_submitted_at: Mapped[datetime | None]
    evidence_submitted_by: Mapped[str | None] = mapped_column(String(320))
    # What the chargeback took back from the paid invoices in the ledger, and what Stripe reinstated (won).
    withdrawn_amount: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0), server_default="0")
    reinstated_amount: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0), server_default="0")
    # Stripe's creation time of the last event applied; an older event arriving later changes nothing.
    last_event_created: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TenantSubscription(TenantOwned, Model):
    """The tenant's subscription to Accord, on Accord's own Stripe account; kept from webhooks."""

    __tablename__ = "tenant_subscriptions"
    __table_args__ = (Index("ix_tenant_subscriptions_stripe_customer_id", "stripe_customer_id"),)

    plan: Mapped[str] = mapped_column(String(32), default="trial")
    status: Mapped[str] = mapped_column(String(32), default="trialing")
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255))
    current_period_end: Mapped[datetime | None]
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    last_invoice_status: Mapped[str | None] = mapped_column(String(32))
    last_event_created: Mapped[int] = mapped_column(BigInteger, default=0)
    # Invoices are ordered among themselves: a late "payment_failed" must not undo a newer "paid".
    last_invoice_event_created: Mapped[int] = mapped_column(BigInteger, default=0)
    seats_warning_sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
