"""Units of work: the edge (a request, an actor, a command) opens one, services work inside it, the edge commits."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from backend.db.engine import get_database
from backend.db.tenancy import AllTenantsScope, Scope, TenantId, TenantScope


@asynccontextmanager
async def _unit_of_work(scope: Scope | None) -> AsyncIterator[AsyncSession]:
    session = get_database().session()
    session.info["scope"] = scope
    try:
        yield session
        await commit(session)
    except BaseException:
        await session.rollback()
        raise
    finally:
        await session.close()


async def commit(session: AsyncSession) -> None:
    # Work deferred to the end of the transaction (the audit chain) runs here, inside it.
    if not session.info.get("before_commit"):
        await session.commit()
        return
    async with _end_of_transaction_turn(session):
        while hooks := session.info.pop("before_commit", None):
            for hook in hooks.values():
                await hook(session)
        await session.commit()


# SQLite runs in one process (the embedded default), where this lock stands in for PostgreSQL's
# advisory lock: end-of-transaction work reads then appends (the audit chain), so it takes turns.
_sqlite_turn = threading.Lock()


@asynccontextmanager
async def _end_of_transaction_turn(session: AsyncSession) -> AsyncIterator[None]:
    if session.bind.dialect.name != "sqlite":
        yield
        return
    # Polled, not blocking: the holder may be a coroutine on this very event loop.
    while not _sqlite_turn.acquire(blocking=False):
        await asyncio.sleep(0.002)
    try:
        yield
    finally:
        _sqlite_turn.release()


def before_commit(session: AsyncSession, key: str, hook) -> None:
    """Run `hook(session)` once, just before this unit of work commits."""
    session.info.setdefault("before_commit", {})[key] = hook


def tenant_unit_of_work(tenant_id: TenantId) -> AsyncIterator[AsyncSession]:
    return _unit_of_work(TenantScope(tenant_id))


def all_tenants_unit_of_work(reason: str):
    """Cross-tenant work. Every caller names why; grep for this name to review them all."""
    return _unit_of_work(AllTenantsScope(reason))


def global_unit_of_work():
    """Work on tables that belong to no tenant (users, sign-in throttling, scheduler ticks)."""
    return _unit_of_work(None)
