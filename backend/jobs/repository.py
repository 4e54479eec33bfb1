from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import delete, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.jobs.models import JobExecution, OutboxJob, SchedulerTick


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim_unpublished(self, now: datetime, limit: int) -> Sequence[OutboxJob]:
        statement = (
            select(OutboxJob)
            .where(OutboxJob.published_at.is_(None), OutboxJob.available_at <= now)
            .order_by(OutboxJob.available_at)
            .limit(limit)
            # Two relays never publish the same rows at once; each takes what the other has not.
            .with_for_update(skip_locked=True)
        )
        return (await self.session.scalars(statement)).all()

    async def claim_lost(
        self, published_before: datetime, actors: Collection[str], max_attempts: int, limit: int
    ) -> Sequence[OutboxJob]:
        """Jobs of `actors` handed to the broker before `published_before` that never ran (no execution row)."""
        ran = exists().where(JobExecution.tenant_id == OutboxJob.tenant_id, JobExecution.job_id == OutboxJob.id)
        statement = (
            select(OutboxJob)
            .where(
                OutboxJob.published_at.is_not(None),
                OutboxJob.published_at < published_before,
                OutboxJob.actor.in_(list(actors)),
                OutboxJob.publish_attempts <= max_attempts,
                ~ran,
            )
            .order_by(OutboxJob.published_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.scalars(statement)).all()

    async def forget_published_before(self, moment: datetime) -> int:
        result = await self.session.execute(
            delete(OutboxJob).where(OutboxJob.published_at.is_not(None), OutboxJob.published_at < moment)
        )
        return result.rowcount or 0


class JobExecutionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, job_id: uuid.UUID) -> JobExecution | None:
        return (await self.session.scalars(select(JobExecution).where(JobExecution.job_id == job_id))).first()

    async def forget_finished_before(self, moment: datetime) -> int:
        result = await self.session.execute(delete(JobExecution).where(JobExecution.finished_at < moment))
        return result.rowcount or 0


class SchedulerTickRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def try_fire(self, job_name: str, slot: int, now: datetime) -> bool:
        """Insert the tick unless another scheduler did; True when this one fired it."""
        dialect = self.session.bind.dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            insert(SchedulerTick)
            .values(job_name=job_name, slot=slot, fired_at=now)
            .on_conflict_do_nothing(index_elements=["job_name", "slot"])
        )
        result = await self.session.execute(statement)
        return result.rowcount == 1

    async def claim_unpublished(self, limit: int) -> Sequence[SchedulerTick]:
        statement = (
            select(SchedulerTick)
            .where(SchedulerTick.published_at.is_(None))
            .order_by(SchedulerTick.fired_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.scalars(statement)).all()

    async def mark_done(self, job_name: str, slot: int, now: datetime) -> bool:
        """The conditional update a periodic job starts with: exactly one run of a tick gets True."""
        result = await self.session.execute(
            update(SchedulerTick)
            .where(SchedulerTick.job_name == job_name, SchedulerTick.slot == slot, SchedulerTick.done_at.is_(None))
            .values(done_at=now)
        )
        return result.rowcount == 1

    async def forget_before(self, moment: datetime) -> int:
        result = await self.session.execute(delete(SchedulerTick).where(SchedulerTick.fired_at < moment))
        return result.rowcount or 0
