"""The baseline: the same audit-list query and JSON shape as the Accord API, with none of its layers.

No authentication, no ORM session events, no tenant transaction, no row-level security (it connects
as the owner): what is left is Litestar + SQLAlchemy Core + asyncpg, which is the floor the app's
endpoint can be compared against.

    BENCH_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/accord_bench \
      uvicorn bench.bare_app:create_app --factory --port 8001
"""

from __future__ import annotations

import os
import uuid
from contextlib import asynccontextmanager
from typing import Annotated, Any

from litestar import Litestar, get
from litestar.datastructures import State
from litestar.params import Parameter
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Uuid,
    select,
)
from sqlalchemy.ext.asyncio import create_async_engine

# Declared with the column types the app's model uses, so result processing (UUIDs, JSON decoding,
# aware datetimes) costs the same here as in the ORM.
audit_events = Table(
    "audit_events",
    MetaData(),
    Column("tenant_id", Uuid, primary_key=True),
    Column("id", Uuid, primary_key=True),
    Column("seq", BigInteger),
    Column("occurred_at", DateTime(timezone=True)),
    Column("actor_kind", String(16)),
    Column("actor_id", String(64)),
    Column("actor_label", String(320)),
    Column("action", String(64)),
    Column("object_type", String(64)),
    Column("object_id", String(64)),
    Column("before", JSON),
    Column("after", JSON),
    Column("ip", String(64)),
    Column("success", Boolean),
    Column("prev_hash", String(64)),
    Column("hash", String(64)),
)

# What the API returns per entry (everything but prev_hash), in the same order.
OUTPUT_FIELDS = (
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
    "hash",
)


def _async_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


@get("/audit-events")
async def list_events(
    state: State,
    tenant: uuid.UUID,
    limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    # The app selects every column (select(AuditEvent)); so does this, so both move the same bytes.
    statement = select(audit_events).where(audit_events.c.tenant_id == tenant).order_by(audit_events.c.seq.desc()).limit(limit)
    async with state.engine.connect() as connection:
        rows = (await connection.execute(statement)).mappings().all()
    items = [{name: row[name] for name in OUTPUT_FIELDS} for row in rows]
    return {"items": items, "next_before": rows[-1]["seq"] if len(rows) == limit else None}


def create_app() -> Litestar:
    database_url = _async_url(os.environ["BENCH_DATABASE_URL"])

    @asynccontextmanager
    async def lifespan(app: Litestar):
        # Same pool settings as backend.db.engine, so pool behaviour is not what differs.
        app.state.engine = create_async_engine(database_url, pool_size=10, max_overflow=10, pool_pre_ping=True)
        try:
            yield
        finally:
            await app.state.engine.dispose()

    return Litestar(route_handlers=[list_events], lifespan=[lifespan], debug=False)
