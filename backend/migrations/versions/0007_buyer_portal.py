"""The buyer portal: contacts' access and preferences, magic links, portal passwords, the supplier's
branding, questions put to the buyer, and confirmed statements.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 15:45:00
"""

import sqlalchemy as sa
from alembic import op

from backend.db.rls import tenant_policy_statements

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TENANT_TABLES = ("portal_magic_links", "statement_confirmations")


def upgrade() -> None:
    op.create_table(
        "portal_accounts",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_portal_accounts")),
    )
    op.create_table(
        "statement_confirmations",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("buyer_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("confirmed_by", sa.String(length=320), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "buyer_id"],
            ["buyers.tenant_id", "buyers.id"],
            name=op.f("fk_statement_confirmations_tenant_id_buyer_id_buyers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_statement_confirmations_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_statement_confirmations")),
    )
    op.create_index("ix_statement_confirmations_tenant_id_buyer_id", "statement_confirmations", ["tenant_id", "buyer_id"])
    op.create_table(
        "portal_magic_links",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_ip", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_path", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "contact_id"],
            ["buyer_contacts.tenant_id", "buyer_contacts.id"],
            name=op.f("fk_portal_magic_links_tenant_id_contact_id_buyer_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_portal_magic_links_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_portal_magic_links")),
        sa.UniqueConstraint("tenant_id", "token_hash", name=op.f("uq_portal_magic_links_tenant_id_token_hash")),
    )
    op.create_index("ix_portal_magic_links_token_hash", "portal_magic_links", ["token_hash"])
    op.create_index(op.f("ix_portal_magic_links_email"), "portal_magic_links", ["email"])
    op.create_index("ix_portal_magic_links_tenant_id_contact_id", "portal_magic_links", ["tenant_id", "contact_id"])

    with op.batch_alter_table("buyer_contacts") as table:
        table.add_column(sa.Column("portal_invited_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("portal_revoked_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("notification_prefs", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("dispute_messages") as table:
        table.add_column(sa.Column("question", sa.Boolean(), nullable=False, server_default=sa.false()))
        table.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("answer_to_id", sa.Uuid(), nullable=True))
    with op.batch_alter_table("tenants") as table:
        table.add_column(sa.Column("brand_colour", sa.String(length=7), nullable=True))
        table.add_column(sa.Column("brand_accent", sa.String(length=7), nullable=True))
        table.add_column(sa.Column("logo_file_id", sa.Uuid(), nullable=True))

    if op.get_bind().dialect.name == "postgresql":
        for table_name in TENANT_TABLES:
            for statement in tenant_policy_statements(table_name):
                op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table("tenants") as table:
        table.drop_column("logo_file_id")
        table.drop_column("brand_accent")
        table.drop_column("brand_colour")
    with op.batch_alter_table("dispute_messages") as table:
        table.drop_column("answer_to_id")
        table.drop_column("answered_at")
        table.drop_column("question")
    with op.batch_alter_table("buyer_contacts") as table:
        table.drop_column("notification_prefs")
        table.drop_column("portal_revoked_at")
        table.drop_column("portal_invited_at")
    op.drop_table("portal_magic_links")
    op.drop_table("statement_confirmations")
    op.drop_table("portal_accounts")
