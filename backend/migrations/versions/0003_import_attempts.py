"""Invoice imports count their failed attempts, so the last retry ends the import as failed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 13:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invoice_imports") as table:
        table.add_column(sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("invoice_imports") as table:
        table.drop_column("failed_attempts")
