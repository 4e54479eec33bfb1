"""Actor shells. An actor opens a unit of work for the tenant named in its message, claims its single
execution, and calls one service function; everything else lives in backend/."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import dramatiq
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db.tenancy import TenantId
from backend.db.uow import all_tenants_unit_of_work, tenant_unit_of_work
from backend.jobs import service as jobs
from workers import broker as _broker  # noqa: F401 - the broker must exist before actors are declared

TenantWork = Callable[..., Awaitable[None]]
# The actors whose run is recorded in `job_executions`: the relay hands their jobs over again when the
# broker lost them (a job that never ran within the lease).
RUN_ONCE_ACTORS: set[str] = set()


def tenant_actor(name: str, *, max_retries: int = 5, time_limit_ms: int = 60_000, queue: str = "default"):
    """`name` is `area.verb`. The work runs at most once per job, in one transaction with its claim."""

    def declare(work: TenantWork):
        async def run(tenant_id: str, job_id: str, **payload) -> None:
            # The tenant comes from the message, and every query below is scoped to it.
            async with tenant_unit_of_work(TenantId(uuid.UUID(tenant_id))) as session:
                if not await jobs.start_once(session, uuid.UUID(job_id), name):
                    return
                await work(session, **payload)

        RUN_ONCE_ACTORS.add(name)
        return _declare(run, work, name, queue, max_retries, time_limit_ms)

    return declare


def _declare(run, work, name: str, queue: str, max_retries: int, time_limit_ms: int):
    run.__name__ = work.__name__
    actor = dramatiq.actor(run, actor_name=name, queue_name=queue, max_retries=max_retries, time_limit=time_limit_ms)
    # Tests await the shell itself; Dramatiq's own wrapper needs its worker's event-loop thread.
    actor.run_async = run
    return actor


def periodic_actor(name: str, *, max_retries: int = 3, time_limit_ms: int = 300_000, queue: str = "default"):
    """A job the scheduler fires once per interval; the tick is marked done with the work, so a repeat does nothing."""

    def declare(work: Callable[[AsyncSession], Awaitable[None]]):
        async def run(slot: int) -> None:
            async with all_tenants_unit_of_work(f"periodic {name}") as session:
                if not await jobs.finish_tick_once(session, name, slot):
                    return
                await work(session)

        return _declare(run, work, name, queue, max_retries, time_limit_ms)

    return declare
