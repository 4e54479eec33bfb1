"""A throwaway benchmark database: created, migrated and filled the way production would be, then dropped.

Tenants and their API keys go through the app's own onboarding (so keys authenticate as in
production); the bulk of the audit trail is COPYed in as the owner, because writing 100,000 entries
through the service would take minutes and the list endpoint only reads them.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent

AUDIT_COLUMNS = (
    "tenant_id",
    "id",
    "seq",
    "occurred_at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "ip",
    "success",
    "prev_hash",
    "hash",
)
# A plausible mix, so rows have the width and NULL pattern of a real trail.
ACTIONS = (
    ("dispute.opened", "dispute"),
    ("dispute.comment_added", "dispute"),
    ("dispute.resolved", "dispute"),
    ("invoice.imported", "invoice"),
    ("member.invited", "user"),
    ("api_key.created", "api_key"),
)


@dataclass(frozen=True)
class BenchTenant:
    tenant_id: uuid.UUID
    api_key: str


async def recreate_database(server_dsn: str, name: str) -> None:
    connection = await asyncpg.connect(server_dsn)
    try:
        # FORCE: a server left over from an aborted run may still hold connections.
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def drop_database(server_dsn: str, name: str) -> None:
    connection = await asyncpg.connect(server_dsn)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def ensure_roles(database: str, *, host: str, port: int, superuser: str) -> None:
    """accord_app (and accord_owner) exist, with the attributes RLS needs, and may connect."""
    env = {**os.environ, "PGHOST": host, "PGPORT": str(port), "PGUSER": superuser}
    _run_quietly([str(ROOT / "infra/postgres-roles.sh"), database], env)


def migrate(app_env: dict[str, str], accord_command: Path) -> None:
    _run_quietly([str(accord_command), "db", "upgrade"], app_env)


def _run_quietly(command: list[str], env: dict[str, str]) -> None:
    # Their chatter (Alembic logs every plugin) would bury the results; it is shown when they fail.
    completed = subprocess.run(command, check=False, env=env, cwd=ROOT, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({completed.returncode}):\n{completed.stdout}{completed.stderr}")


def create_tenants(count: int) -> list[BenchTenant]:
    """Through the app's onboarding; the caller must have put the app's settings in os.environ first."""
    # Imported here: backend reads (and caches) its settings from the environment on first use.
    from backend.db.engine import get_database
    from backend.tenants.onboarding import create_tenant_with_key

    async def create_all() -> list[BenchTenant]:
        created = []
        try:
            for number in range(1, count + 1):
                onboarded = await create_tenant_with_key(
                    name=f"Bench Supplier {number:02d}", admin_email=f"owner{number:02d}@bench.example.com", language="en"
                )
                created.append(BenchTenant(onboarded.tenant_id, onboarded.api_key))
        finally:
            await get_database().dispose_current()
        return created

    return asyncio.run(create_all())


def _audit_rows(tenant_id: uuid.UUID, first_seq: int, last_seq: int, prev_hash: str, rng: random.Random):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for seq in range(first_seq, last_seq + 1):
        action, object_type = rng.choice(ACTIONS)
        object_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        actor_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        by_user = rng.random() < 0.7
        after = (
            f'{{"status": "open", "amount": "{rng.randint(100, 99999)}.00", "currency": "CNY"}}' if rng.random() < 0.6 else None
        )
        before = '{"status": "new"}' if after and rng.random() < 0.3 else None
        # Not the real chain hash (the list endpoint never checks it), just 64 hex characters that chain.
        entry_hash = hashlib.sha256(f"{prev_hash}{tenant_id}{seq}".encode()).hexdigest()
        yield (
            tenant_id,
            uuid.UUID(int=rng.getrandbits(128), version=4),
            seq,
            start + timedelta(minutes=seq * 7),
            "user" if by_user else "api_key",
            actor_id if by_user else None,
            "someone@bench.example.com" if by_user else "API key acc_abc…",
            action,
            object_type,
            object_id,
            before,
            after,
            "203.0.113.7" if by_user else None,
            True,
            prev_hash,
            entry_hash,
        )
        prev_hash = entry_hash


async def fill_audit_trail(database_dsn: str, tenants: list[BenchTenant], per_tenant: int) -> int:
    """Tops each tenant's trail up to `per_tenant` entries, after those onboarding wrote; returns the total."""
    rng = random.Random(20250101)  # the same data every run
    connection = await asyncpg.connect(database_dsn)
    try:
        for tenant in tenants:
            last = await connection.fetchrow(
                "SELECT seq, hash FROM audit_events WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1", tenant.tenant_id
            )
            last_seq, last_hash = (last["seq"], last["hash"]) if last else (0, "0" * 64)
            rows = list(_audit_rows(tenant.tenant_id, last_seq + 1, per_tenant, last_hash, rng))
            await connection.copy_records_to_table("audit_events", records=rows, columns=AUDIT_COLUMNS)
        await connection.execute("ANALYZE")
        return await connection.fetchval("SELECT count(*) FROM audit_events")
    finally:
        await connection.close()
