"""Stripe: connected accounts, payment attempts, webhook events, card disputes, subscriptions (issue 6).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 19:00:00
"""

import sqlalchemy as sa
from alembic import op

from backend.db.rls import tenant_policy_statements

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TENANT_TABLES = ("payment_accounts", "tenant_subscriptions", "payment_attempts", "card_disputes")


def upgrade() -> None:
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("routed_tenant_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )
    op.create_index(
        "ix_stripe_events_unhandled",
        "stripe_events",
        ["received_at"],
        unique=False,
        postgresql_where=sa.text("handled_at IS NULL"),
        sqlite_where=sa.text("handled_at IS NULL"),
    )
    # One organisation per Stripe account, for good (global: the account id is the key).
    op.create_table(
        "stripe_account_owners",
        sa.Column("stripe_account_id", sa.String(length=64), nullable=False),
        sa.Column("owner_tenant_id", sa.Uuid(), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disconnected_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("stripe_account_id", name=op.f("pk_stripe_account_owners")),
    )
    op.create_table(
        "payment_accounts",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("stripe_account_id", sa.String(length=64), nullable=False),
        sa.Column("charges_enabled", sa.Boolean(), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("connected_by", sa.String(length=320), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_created", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_payment_accounts_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_payment_accounts")),
    )
    op.create_index("ix_payment_accounts_stripe_account_id", "payment_accounts", ["stripe_account_id"], unique=False)
    op.create_table(
        "tenant_subscriptions",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("plan", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("last_invoice_status", sa.String(length=32), nullable=True),
        sa.Column("last_event_created", sa.BigInteger(), nullable=False),
        sa.Column("last_invoice_event_created", sa.BigInteger(), nullable=False),
        sa.Column("seats_warning_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_subscriptions_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_subscriptions")),
    )
    op.create_index("ix_tenant_subscriptions_stripe_customer_id", "tenant_subscriptions", ["stripe_customer_id"], unique=False)
    op.create_table(
        "payment_attempts",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("buyer_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column(
            "purpose",
            sa.Enum("undisputed", "agreed", "invoices", "instalment", name="paymentpurpose", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("allocations", sa.JSON(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("instalment_id", sa.Uuid(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("stripe_account_id", sa.String(length=64), nullable=False),
        sa.Column("checkout_session_id", sa.String(length=255), nullable=True),
        sa.Column("checkout_url", sa.Text(), nullable=True),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column(
            "status",
            sa.Enum("open", "paid", "failed", "expired", "refunded", name="attemptstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("refunded_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("refund_recorded_amount", sa.Numeric(precision=19, scale=4), server_default="0", nullable=False),
        sa.Column("ledger_entry_id", sa.Uuid(), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "buyer_id"],
            ["buyers.tenant_id", "buyers.id"],
            name=op.f("fk_payment_attempts_tenant_id_buyer_id_buyers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_payment_attempts_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_payment_attempts")),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name=op.f("uq_payment_attempts_tenant_id_idempotency_key")),
    )
    op.create_index(
        "ix_payment_attempts_tenant_id_buyer_id_created_at",
        "payment_attempts",
        ["tenant_id", "buyer_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_payment_attempts_tenant_id_checkout_session_id",
        "payment_attempts",
        ["tenant_id", "checkout_session_id"],
        unique=False,
    )
    op.create_index(
        "ix_payment_attempts_tenant_id_payment_intent_id", "payment_attempts", ["tenant_id", "payment_intent_id"], unique=False
    )
    op.create_table(
        "card_disputes",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("stripe_dispute_id", sa.String(length=255), nullable=False),
        sa.Column("charge_id", sa.String(length=255), nullable=True),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("evidence_due_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("evidence_submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("evidence_submitted_by", sa.String(length=320), nullable=True),
        # What the chargeback took back from the paid invoices in the ledger, and what Stripe reinstated (won).
        sa.Column("withdrawn_amount", sa.Numeric(precision=19, scale=4), server_default="0", nullable=False),
        sa.Column("reinstated_amount", sa.Numeric(precision=19, scale=4), server_default="0", nullable=False),
        sa.Column("last_event_created", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "case_id"],
            ["dispute_cases.tenant_id", "dispute_cases.id"],
            name=op.f("fk_card_disputes_tenant_id_case_id_dispute_cases"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_card_disputes_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_card_disputes")),
        sa.UniqueConstraint("tenant_id", "stripe_dispute_id", name=op.f("uq_card_disputes_tenant_id_stripe_dispute_id")),
    )
    op.create_index("ix_card_disputes_tenant_id_case_id", "card_disputes", ["tenant_id", "case_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for table_name in TENANT_TABLES:
            for statement in tenant_policy_statements(table_name):
                op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_card_disputes_tenant_id_case_id", table_name="card_disputes")
    op.drop_table("card_disputes")
    op.drop_index("ix_payment_attempts_tenant_id_payment_intent_id", table_name="payment_attempts")
    op.drop_index("ix_payment_attempts_tenant_id_checkout_session_id", table_name="payment_attempts")
    op.drop_index("ix_payment_attempts_tenant_id_buyer_id_created_at", table_name="payment_attempts")
    op.drop_table("payment_attempts")
    op.drop_index("ix_tenant_subscriptions_stripe_customer_id", table_name="tenant_subscriptions")
    op.drop_table("tenant_subscriptions")
    op.drop_index("ix_payment_accounts_stripe_account_id", table_name="payment_accounts")
    op.drop_table("payment_accounts")
    op.drop_table("stripe_account_owners")
    op.drop_index("ix_stripe_events_unhandled", table_name="stripe_events")
    op.drop_table("stripe_events")
