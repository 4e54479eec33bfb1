"""Notifications: in-app notices, outgoing mail kept until sent, preferences and digests (issue 7).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 19:00:00
"""

import sqlalchemy as sa
from alembic import op

from backend.db.rls import tenant_policy_statements

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TENANT_TABLES: tuple[str, ...] = ("notices", "outgoing_mails", "notification_preferences", "notification_digests")


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="RESTRICT")


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recipient_kind", sa.String(length=8), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        _tenant_fk("notices"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_notices")),
    )
    op.create_index("ix_notices_tenant_id_recipient", "notices", ["tenant_id", "recipient_kind", "recipient_id", "created_at"])
    op.create_table(
        "outgoing_mails",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("recipient_kind", sa.String(length=8), nullable=True),
        sa.Column("recipient_id", sa.Uuid(), nullable=True),
        sa.Column("notice_id", sa.Uuid(), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=True),
        sa.Column("message", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        _tenant_fk("outgoing_mails"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_outgoing_mails")),
    )
    op.create_index("ix_outgoing_mails_tenant_id_status", "outgoing_mails", ["tenant_id", "status", "created_at"])
    op.create_index(
        "ix_outgoing_mails_unsent",
        "outgoing_mails",
        ["tenant_id", "created_at"],
        postgresql_where=sa.text("status = 'queued'"),
        sqlite_where=sa.text("status = 'queued'"),
    )
    op.create_table(
        "notification_preferences",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_kind", sa.String(length=8), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("group", sa.String(length=40), nullable=False),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("notification_preferences"),
        sa.PrimaryKeyConstraint("tenant_id", "recipient_kind", "recipient_id", "group", name=op.f("pk_notification_preferences")),
    )
    op.create_table(
        "notification_digests",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_kind", sa.String(length=8), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("covered_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notice_count", sa.Integer(), nullable=False),
        sa.Column("mail_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _tenant_fk("notification_digests"),
        sa.PrimaryKeyConstraint("tenant_id", "recipient_kind", "recipient_id", "day", name=op.f("pk_notification_digests")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table_name in TENANT_TABLES:
            for statement in tenant_policy_statements(table_name):
                op.execute(statement)


def downgrade() -> None:
    for table in ("notification_digests", "notification_preferences", "outgoing_mails", "notices"):
        op.drop_table(table)
