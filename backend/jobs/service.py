"""The outbox: a job is a row written in the transaction of the change that needs it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from backend.db.base import utcnow
from backend.db.tenancy import current_tenant
from backend.jobs.models import JobExecution, OutboxJob
from backend.jobs.repository import JobExecutionRepository, OutboxRepository, SchedulerTickRepository

log = logging.getLogger("accord.jobs")


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
# A published job that has not run this long after it was handed over was lost by the broker (Redis
# restarted without its data): longer than any run-once actor's time limit (5 minutes at most).
PUBLISH_LEASE = timedelta(minutes=10)
MAX_PUBLISH_ATTEMPTS = 5  # then the job is given up, loudly


async def publish_pending(
    session: AsyncSession,
    publish_job,
    publish_tick,
    *,
    limit: int = 200,
    now: datetime | None = None,
    republishable: Collection[str] = (),
) -> int:
    """Hand unpublished jobs and scheduler ticks to the broker, marking each once it is handed over; and
    hand over again the jobs of `republishable` actors (those that record their run in `job_executions`)
    published longer than the lease ago that never ran.

    Runs in an all-tenants unit of work. If the process dies after publishing but before commit,
    the rows go out again and the actors' `start_once` absorbs the repeat.
    """
    now = now or utcnow()
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
    if republishable:
        published += await _republish_lost(session, publish_job, now, republishable, limit)
    return published


async def _republish_lost(session: AsyncSession, publish_job, now: datetime, actors: Collection[str], limit: int) -> int:
    """A job whose message the broker lost runs from its outbox row; a repeat of one still on its way is
    absorbed by `start_once`. After MAX_PUBLISH_ATTEMPTS hand-overs the job is given up and said so."""
    republished = 0
    for job in await OutboxRepository(session).claim_lost(now - PUBLISH_LEASE, actors, MAX_PUBLISH_ATTEMPTS, limit):
        if job.publish_attempts >= MAX_PUBLISH_ATTEMPTS:
            job.publish_attempts += 1  # past the limit: never picked again
            log.error(
                "job %s (%s) was handed to the broker %d times and never ran; given up (dead letter)",
                job.id,
                job.actor,
                MAX_PUBLISH_ATTEMPTS,
            )
            continue
        job.publish_attempts += 1
        if publish_job(job):
            log.warning("job %s (%s) published %s never ran; published again", job.id, job.actor, job.published_at)
            job.published_at = now
            republished += 1
    return republished


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
