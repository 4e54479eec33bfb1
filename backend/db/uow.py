"""Units of work: the edge (a request, an actor, a command) opens one, services work inside it, the edge commits."""

from __future__ import annotations

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
    while hooks := session.info.pop("before_commit", None):
        for hook in hooks.values():
            await hook(session)
    await session.commit()


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
