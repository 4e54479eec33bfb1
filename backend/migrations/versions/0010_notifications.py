"""Notifications: in-app notices, outgoing mail kept until sent, preferences and digests (issue 7).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 19:00:00
"""

import sqlalchemy as sa  # noqa: F401 - the columns come with the issue
from alembic import op

from backend.db.rls import tenant_policy_statements

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TENANT_TABLES: tuple[str, ...] = ()


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table_name in TENANT_TABLES:
            for statement in tenant_policy_statements(table_name):
                op.execute(statement)


def downgrade() -> None:
    pass
