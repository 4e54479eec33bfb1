"""Service levels, case timers and escalation actions (issue 7).

The tenant's service levels on `dispute_settings`; on each case its hard deadline (set by the Stripe
and claims work), the next step of its timers (the escalation sweep's partial index), the escalation
put forward and a broken instalment plan; `dispute_timer_steps` records each step taken once.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 19:00:00
"""

import sqlalchemy as sa
from alembic import op

from backend.db.rls import tenant_policy_statements

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TENANT_TABLES: tuple[str, ...] = ("dispute_timer_steps",)

SERVICE_LEVELS = (
    ("acknowledge_days", 2),
    ("evaluate_days", 10),
    ("respond_days", 3),
    ("agree_days", 30),
    ("phase_early_days", 10),
    ("phase_middle_days", 20),
    ("phase_late_days", 30),
    ("deadline_notice_days", 3),
    ("instalment_grace_days", 3),
)


def upgrade() -> None:
    with op.batch_alter_table("dispute_cases") as table:
        table.add_column(sa.Column("hard_deadline_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("next_timer_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("next_timer", sa.String(length=16), nullable=True))
        table.add_column(sa.Column("escalation_proposal", sa.String(length=8), nullable=True))
        table.add_column(sa.Column("plan_broken_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("timer_queued_until", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("timer_attempts", sa.Integer(), nullable=False, server_default="0"))
    op.create_index(
        "ix_dispute_cases_next_timer_at",
        "dispute_cases",
        ["next_timer_at"],
        postgresql_include=["tenant_id", "id"],
        postgresql_where=sa.text("next_timer_at IS NOT NULL"),
        sqlite_where=sa.text("next_timer_at IS NOT NULL"),
    )
    with op.batch_alter_table("dispute_settings") as table:
        table.add_column(sa.Column("escalation_route", sa.String(length=8), nullable=False, server_default="legal"))
        for name, default in SERVICE_LEVELS:
            table.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default=str(default)))
    op.create_table(
        "dispute_timer_steps",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("timer", sa.String(length=16), nullable=False),
        sa.Column("anchor", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=24), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("skipped", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "case_id"],
            ["dispute_cases.tenant_id", "dispute_cases.id"],
            name=op.f("fk_dispute_timer_steps_tenant_id_case_id_dispute_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispute_timer_steps_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_dispute_timer_steps")),
        sa.UniqueConstraint(
            "tenant_id",
            "case_id",
            "timer",
            "anchor",
            "step",
            name=op.f("uq_dispute_timer_steps_tenant_id_case_id_timer_anchor_step"),
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table_name in TENANT_TABLES:
            for statement in tenant_policy_statements(table_name):
                op.execute(statement)


def downgrade() -> None:
    op.drop_table("dispute_timer_steps")
    with op.batch_alter_table("dispute_settings") as table:
        for name, _default in reversed(SERVICE_LEVELS):
            table.drop_column(name)
        table.drop_column("escalation_route")
    op.drop_index("ix_dispute_cases_next_timer_at", table_name="dispute_cases")
    with op.batch_alter_table("dispute_cases") as table:
        for name in (
            "timer_attempts",
            "timer_queued_until",
            "plan_broken_at",
            "escalation_proposal",
            "next_timer",
            "next_timer_at",
            "hard_deadline_at",
        ):
            table.drop_column(name)
