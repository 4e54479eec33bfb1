"""PostgreSQL row-level security, the second wall: the statements migrations run for each tenant-owned table."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
CROSS_TENANT = "current_setting('app.cross_tenant', true) = 'on'"

# The application role may add to these but never change or remove what is there.
APPEND_ONLY_TABLES = ("audit_events",)


def tenant_policy_statements(table: str, key_column: str = "tenant_id") -> list[str]:
    # After a commit the setting reads '' rather than NULL on a pooled connection; NULLIF makes
    # both mean "no tenant", which matches no row.
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING ({key_column} = {CURRENT_TENANT}) WITH CHECK ({key_column} = {CURRENT_TENANT})",
        f"CREATE POLICY cross_tenant ON {table} USING ({CROSS_TENANT}) WITH CHECK ({CROSS_TENANT})",
    ]


def append_only_statements(table: str, dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION refuse_change_of_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; END $$",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_change_of_append_only()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
    ]


def grant_application_role(connection: Connection, role: str) -> None:
    """Give the application role what it needs on every table, and no more; run after each upgrade."""
    quoted = connection.dialect.identifier_preparer.quote(role)
    for statement in (
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
        f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {quoted}",
        *(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {quoted}" for table in APPEND_ONLY_TABLES),
    ):
        connection.execute(text(statement))
