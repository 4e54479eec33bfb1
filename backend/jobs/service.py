"""The outbox: a job is a row written in the transaction of the change that needs it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.db.base import utcnow
from backend.db.tenancy import current_tenant
from backend.jobs.models import JobExecution, OutboxJob
from backend.jobs.repository import JobExecutionRepository, OutboxRepository, SchedulerTickRepository


def enqueue(
    session: AsyncSession, actor: str, payload: dict[str, Any] | None = None, *, delay: timedelta | None = None
) -> OutboxJob:
    """Record a job for `actor` (named `area.verb`); it runs only if this transaction commits."""
    now = utcnow()
    job = OutboxJob(
        tenant_id=current_tenant(session),
        actor=actor,
        payload=payload or {},
        created_at=now,
        available_at=now + (delay or timedelta()),
    )
    session.add(job)
    return job


async def start_once(session: AsyncSession, job_id: uuid.UUID, actor: str) -> bool:
    """Claim a job's single execution inside the job's own transaction; False when it already ran.

    A second delivery either finds the committed row, or (running at the same moment) fails on
    the primary key and is retried, then finds it.
    """
    if await JobExecutionRepository(session).get(job_id) is not None:
        return False
    session.add(JobExecution(tenant_id=current_tenant(session), job_id=job_id, actor=actor, finished_at=utcnow()))
    await session.flush()
    return True


# --- publishing (called by the relay in workers/, which owns the broker) -------------------

PUBLISH_RETRY_DELAY = timedelta(minutes=5)


async def publish_pending(session: AsyncSession, publish_job, publish_tick, *, limit: int = 200) -> int:
    """Hand unpublished jobs and scheduler ticks to the broker, marking each once it is handed over.

    Runs in an all-tenants unit of work. If the process dies after publishing but before commit,
    the rows go out again and the actors' `start_once` absorbs the repeat.
    """
    now = utcnow()
    published = 0
    for job in await OutboxRepository(session).claim_unpublished(now, limit):
        job.publish_attempts += 1
        if publish_job(job):
            job.published_at = now
            published += 1
        else:
            job.available_at = now + PUBLISH_RETRY_DELAY
    for tick in await SchedulerTickRepository(session).claim_unpublished(limit):
        if publish_tick(tick):
            tick.published_at = now
            published += 1
    return published


async def fire_tick(session: AsyncSession, job_name: str, slot: int, now: datetime) -> bool:
    return await SchedulerTickRepository(session).try_fire(job_name, slot, now)


async def finish_tick_once(session: AsyncSession, job_name: str, slot: int) -> bool:
    return await SchedulerTickRepository(session).mark_done(job_name, slot, utcnow())


async def forget_old(session: AsyncSession, now: datetime) -> int:
    """Housekeeping across tenants: published jobs after 7 days, execution records after 30."""
    return (
        await OutboxRepository(session).forget_published_before(now - timedelta(days=7))
        + await JobExecutionRepository(session).forget_finished_before(now - timedelta(days=30))
        + await SchedulerTickRepository(session).forget_before(now - timedelta(days=30))
    )
