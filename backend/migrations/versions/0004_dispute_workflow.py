"""The dispute workflow: cases, their items, timeline, thread, checklist, tasks, proposals, approvals.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 13:24:15.704104
"""

import sqlalchemy as sa
from alembic import op

from backend.db.rls import tenant_policy_statements

TENANT_OWNED_TABLES = (
    "dispute_settings",
    "dispute_codes",
    "dispute_routing_rules",
    "dispute_cases",
    "dispute_items",
    "dispute_events",
    "dispute_messages",
    "dispute_checklist_answers",
    "dispute_tasks",
    "dispute_proposals",
    "dispute_proposal_options",
    "dispute_instalments",
    "dispute_approvals",
)


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dispute_codes",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Enum("reason", "root_cause", name="codekind", native_enum=False, length=16), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("label_en", sa.String(length=120), nullable=False),
        sa.Column("label_zh", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispute_codes_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_dispute_codes")),
        sa.UniqueConstraint("tenant_id", "kind", "code", name=op.f("uq_dispute_codes_tenant_id_kind_code")),
    )
    op.create_table(
        "dispute_settings",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("approval_thresholds", sa.JSON(), nullable=False),
        sa.Column("escalation_days", sa.Integer(), nullable=False),
        sa.Column("next_case_number", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispute_settings_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_dispute_settings")),
    )
    op.create_table(
        "dispute_cases",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("buyer_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "open",
                "acknowledged",
                "under_review",
                "negotiating",
                "agreed",
                "resolved",
                "rejected",
                "withdrawn",
                "escalated_legal",
                "escalated_claim",
                name="disputestate",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("phase", sa.Enum("early", "middle", "late", name="disputephase", native_enum=False, length=8), nullable=False),
        sa.Column("reason_code", sa.String(length=40), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "channel", sa.Enum("portal", "email", "phone", "api", name="channel", native_enum=False, length=16), nullable=False
        ),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("owner_user_id", sa.Uuid(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("disputed_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("credited_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("written_off_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("collected_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column(
            "outcome", sa.Enum("valid", "partly_valid", "invalid", name="outcome", native_enum=False, length=16), nullable=True
        ),
        sa.Column("root_cause_code", sa.String(length=40), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("agreed_option_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("phase_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name=op.f("fk_dispute_cases_owner_user_id_users"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "buyer_id"],
            ["buyers.tenant_id", "buyers.id"],
            name=op.f("fk_dispute_cases_tenant_id_buyer_id_buyers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispute_cases_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_dispute_cases")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_dispute_cases_tenant_id_number")),
    )
    op.create_index("ix_dispute_cases_tenant_id_buyer_id", "dispute_cases", ["tenant_id", "buyer_id"], unique=False)
    op.create_index("ix_dispute_cases_tenant_id_owner_user_id", "dispute_cases", ["tenant_id", "owner_user_id"], unique=False)
    op.create_index(
        "ix_dispute_cases_tenant_id_state_opened_on", "dispute_cases", ["tenant_id", "state", "opened_on"], unique=False
    )
    op.create_table(
        "dispute_routing_rules",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("reason_code", sa.String(length=40), nullable=True),
        sa.Column("buyer_id", sa.Uuid(), nullable=True),
        sa.Column("min_amount", sa.Numeric(precision=19, scale=4), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("owner_user_id", sa.Uuid(), nullable=True),
        sa.Column("pool", sa.JSON(), nullable=False),
        sa.Column("next_in_pool", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name=op.f("fk_dispute_routing_rules_owner_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "buyer_id"],
            ["buyers.tenant_id", "buyers.id"],
            name=op.f("fk_dispute_routing_rules_tenant_id_buyer_id_buyers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispute_routing_rules_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_dispute_routing_rules")),
    )
    op.create_table(
        "dispute_approvals",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "approved", "refused", name="approvalstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("credit_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("write_off_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("resolution", sa.JSON(), nullable=False),
        sa.Column("requested_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by", sa.String(length=320), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("decided_by", sa.String(length=320), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_user_id"], ["users.id"], name=op.f("fk_dispute_approvals_decided_by_user_id_users"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_user_id"],
            ["users.id"],
            name=op.f("fk_dispute_approvals_requested_by_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "case_id"],
            ["dispute_cases.tenant_id", "dispute_cases.id"],
            name=op.f("fk_dispute_approvals_tenant_id_case_id_dispute_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispute_approvals_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_dispute_approvals")),
    )
    op.create_index("ix_dispute_approvals_tenant_id_status", "dispute_approvals", ["tenant_id", "status"], unique=False)
    op.create_table(
        "dispute_checklist_answers",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("item", sa.String(length=40), nullable=False),
        sa.Column("answer", sa.String(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(length=320), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "case_id"],
            ["dispute_cases.tenant_id", "dispute_cases.id"],
            name=op.f("fk_dispute_checklist_answers_tenant_id_case_id_dispute_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispute_checklist_answers_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_dispute_checklist_answers")),
        sa.UniqueConstraint("tenant_id", "case_id", "item", name=op.f("uq_dispute_checklist_answers_tenant_id_case_id_item")),
    )
    op.create_table(
        "dispute_events",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("external", sa.Boolean(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "case_id"],
            ["dispute_cases.tenant_id", "dispute_cases.id"],
            name=op.f("fk_dispute_events_tenant_id_case_id_dispute_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispute_events_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_dispute_events")),
    )
    op.create_index("ix_dispute_events_tenant_id_case_id_at", "dispute_events", ["tenant_id", "case_id", "at"], unique=False)
    op.create_table(
        "dispute_instalments",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("paid_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "case_id"],
            ["dispute_cases.tenant_id", "dispute_cases.id"],
            name=op.f("fk_dispute_instalments_tenant_id_case_id_dispute_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispute_instalments_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_dispute_instalments")),
        sa.UniqueConstraint("tenant_id", "case_id", "seq", name=op.f("uq_dispute_instalments_tenant_id_case_id_seq")),
    )
    op.create_table(
        "dispute_messages",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("author_kind", sa.String(length=16), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("author_name", sa.String(length=320), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "case_id"],
            ["dispute_cases.tenant_id", "dispute_cases.id"],
            name=op.f("fk_dispute_messages_tenant_id_case_id_dispute_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispute_messages_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_dispute_messages")),
    )
    op.create_index(
        "ix_dispute_messages_tenant_id_case_id_created_at",
        "dispute_messages",
        ["tenant_id", "case_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "dispute_proposals",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "offered", "accepted", "countered", "declined", "withdrawn", name="proposalstatus", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("responded_by", sa.String(length=320), nullable=True),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("response_note", sa.Text(), nullable=True),
        sa.Column("counter_amount", sa.Numeric(precision=19, scale=4), nullable=True),
        sa.Column("accepted_option_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "case_id"],
            ["dispute_cases.tenant_id", "dispute_cases.id"],
            name=op.f("fk_dispute_proposals_tenant_id_case_id_dispute_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispute_proposals_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_dispute_proposals")),
        sa.UniqueConstraint("tenant_id", "case_id", "seq", name=op.f("uq_dispute_proposals_tenant_id_case_id_seq")),
    )
    op.create_table(
        "dispute_tasks",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("team", sa.String(length=16), nullable=False),
        sa.Column("assignee_user_id", sa.Uuid(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column(
            "status", sa.Enum("open", "answered", "cancelled", name="taskstatus", native_enum=False, length=16), nullable=False
        ),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(length=320), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_user_id"], ["users.id"], name=op.f("fk_dispute_tasks_assignee_user_id_users"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "case_id"],
            ["dispute_cases.tenant_id", "dispute_cases.id"],
            name=op.f("fk_dispute_tasks_tenant_id_case_id_dispute_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispute_tasks_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_dispute_tasks")),
    )
    op.create_index(
        "ix_dispute_tasks_tenant_id_assignee_user_id_status",
        "dispute_tasks",
        ["tenant_id", "assignee_user_id", "status"],
        unique=False,
    )
    op.create_table(
        "dispute_proposal_options",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("proposal_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "credit_note",
                "discount",
                "redelivery",
                "price_correction",
                "instalments",
                "write_off",
                "rejection",
                name="optionkind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "proposal_id"],
            ["dispute_proposals.tenant_id", "dispute_proposals.id"],
            name=op.f("fk_dispute_proposal_options_tenant_id_proposal_id_dispute_proposals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispute_proposal_options_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_dispute_proposal_options")),
        sa.UniqueConstraint(
            "tenant_id", "proposal_id", "position", name=op.f("uq_dispute_proposal_options_tenant_id_proposal_id_position")
        ),
    )
    op.create_table(
        "dispute_items",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_line_id", sa.Uuid(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("settled_amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "case_id"],
            ["dispute_cases.tenant_id", "dispute_cases.id"],
            name=op.f("fk_dispute_items_tenant_id_case_id_dispute_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "invoice_id"],
            ["invoices.tenant_id", "invoices.id"],
            name=op.f("fk_dispute_items_tenant_id_invoice_id_invoices"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "invoice_line_id"],
            ["invoice_lines.tenant_id", "invoice_lines.id"],
            name=op.f("fk_dispute_items_tenant_id_invoice_line_id_invoice_lines"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_dispute_items_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_dispute_items")),
    )
    op.create_index("ix_dispute_items_tenant_id_invoice_id", "dispute_items", ["tenant_id", "invoice_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_OWNED_TABLES:
            for statement in tenant_policy_statements(table):
                op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_dispute_items_tenant_id_invoice_id", table_name="dispute_items")
    op.drop_table("dispute_items")
    op.drop_table("dispute_proposal_options")
    op.drop_index("ix_dispute_tasks_tenant_id_assignee_user_id_status", table_name="dispute_tasks")
    op.drop_table("dispute_tasks")
    op.drop_table("dispute_proposals")
    op.drop_index("ix_dispute_messages_tenant_id_case_id_created_at", table_name="dispute_messages")
    op.drop_table("dispute_messages")
    op.drop_table("dispute_instalments")
    op.drop_index("ix_dispute_events_tenant_id_case_id_at", table_name="dispute_events")
    op.drop_table("dispute_events")
    op.drop_table("dispute_checklist_answers")
    op.drop_index("ix_dispute_approvals_tenant_id_status", table_name="dispute_approvals")
    op.drop_table("dispute_approvals")
    op.drop_table("dispute_routing_rules")
    op.drop_index("ix_dispute_cases_tenant_id_state_opened_on", table_name="dispute_cases")
    op.drop_index("ix_dispute_cases_tenant_id_owner_user_id", table_name="dispute_cases")
    op.drop_index("ix_dispute_cases_tenant_id_buyer_id", table_name="dispute_cases")
    op.drop_table("dispute_cases")
    op.drop_table("dispute_settings")
    op.drop_table("dispute_codes")
