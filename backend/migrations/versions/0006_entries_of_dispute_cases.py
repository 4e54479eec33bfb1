"""Ledger entries written by a dispute's resolution name their case.

So a case that closes by itself counts only what settled *it*: not another case's credit note on
the same invoice, nor its own earlier resolution counted twice after a reopen.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 14:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot add a foreign key to a table in place (PostgreSQL alters it).
    with op.batch_alter_table("ledger_entries") as table:
        table.add_column(sa.Column("dispute_case_id", sa.Uuid(), nullable=True))
        table.create_foreign_key(
            op.f("fk_ledger_entries_tenant_id_dispute_case_id_dispute_cases"),
            "dispute_cases",
            ["tenant_id", "dispute_case_id"],
            ["tenant_id", "id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries") as table:
        table.drop_constraint(op.f("fk_ledger_entries_tenant_id_dispute_case_id_dispute_cases"), type_="foreignkey")
        table.drop_column("dispute_case_id")
