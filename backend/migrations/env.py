"""Runs migrations with the owner's connection (DATABASE_ADMIN_URL), then grants the app role its rights."""

from __future__ import annotations

import asyncio
import logging

from alembic import context
from sqlalchemy.engine import Connection, make_url

from backend.config import get_settings
from backend.db.engine import create_engine_for
from backend.db.models import Model
from backend.db.rls import grant_application_role

log = logging.getLogger("accord.migrations")
settings = context.config.attributes.get("settings") or get_settings()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Model.metadata, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "postgresql":
            app_role = make_url(settings.database_url).username
            owner = make_url(settings.database_admin_url).username
            if app_role and app_role != owner:
                grant_application_role(connection, app_role)
            else:
                log.warning("DATABASE_URL connects as the table owner: row-level security is forced, but use a separate role")


async def _main() -> None:
    engine = create_engine_for(settings.database_admin_url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `accord db upgrade` against a database")
asyncio.run(_main())
