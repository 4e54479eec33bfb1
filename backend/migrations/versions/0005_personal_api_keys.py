"""Personal API keys: a member's own key, acting as that person with their current role.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 13:53:30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot add a foreign key or a check to a table in place (PostgreSQL alters it).
    with op.batch_alter_table("api_keys") as table:
        table.add_column(sa.Column("user_id", sa.Uuid(), nullable=True))
        table.alter_column("role", existing_type=sa.String(length=32), nullable=True)
        table.create_foreign_key(op.f("fk_api_keys_user_id_users"), "users", ["user_id"], ["id"], ondelete="CASCADE")
        table.create_check_constraint(op.f("ck_api_keys_personal_or_role"), "(user_id IS NULL) <> (role IS NULL)")
    op.create_index("ix_api_keys_tenant_id_user_id", "api_keys", ["tenant_id", "user_id"], unique=False)


def downgrade() -> None:
    # A personal key has no role to fall back on, and must not become an organisation key: it goes.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT set_config('app.cross_tenant', 'on', true)")
    op.execute("DELETE FROM api_keys WHERE user_id IS NOT NULL")
    op.drop_index("ix_api_keys_tenant_id_user_id", table_name="api_keys")
    with op.batch_alter_table("api_keys") as table:
        table.drop_constraint(op.f("ck_api_keys_personal_or_role"), type_="check")
        table.drop_constraint(op.f("fk_api_keys_user_id_users"), type_="foreignkey")
        table.alter_column("role", existing_type=sa.String(length=32), nullable=False)
        table.drop_column("user_id")
