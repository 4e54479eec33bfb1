"""Escalation test helpers: a clock the tests move, the sweep and the per-case jobs run at it (each twice,
as a repeated sweep and a redelivered message would), and what a case's people were told."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime

from sqlalchemy import delete, func, select

from backend.auth.principal import job_principal
from backend.db.tenancy import TenantId
from backend.db.uow import all_tenants_unit_of_work
from backend.disputes import timers
from backend.disputes.models import DisputeCase, DisputeEvent
from backend.jobs.models import OutboxJob
from backend.notifications.models import Notice
from tests.conftest import Supplier
from tests.disputes.helpers import uow


async def tick(supplier: Supplier, now: datetime) -> list[tuple[str, str]]:
    """Sweep twice at `now`, then run each of the supplier's timer jobs twice; (timer, step) acted on."""
    acted: list[tuple[str, str]] = []
    for _sweep in range(2):
        async with all_tenants_unit_of_work("test sweep") as session:
            await timers.sweep(session, now)
    async with uow(supplier) as session:
        jobs = (await session.scalars(select(OutboxJob).where(OutboxJob.actor == timers.RUN_ACTOR))).all()
        case_ids = [uuid.UUID(job.payload["case_id"]) for job in jobs]
        await session.execute(delete(OutboxJob).where(OutboxJob.actor == timers.RUN_ACTOR))
    for case_id in case_ids:
        for _delivery in range(2):
            async with uow(supplier) as session:
                principal = job_principal(TenantId(supplier.tenant_id), timers.RUN_ACTOR)
                acted += await timers.run_case(session, principal, case_id, now)
    return acted


async def case_of(supplier: Supplier, case_id: uuid.UUID) -> DisputeCase:
    async with uow(supplier) as session:
        return (await session.scalars(select(DisputeCase).where(DisputeCase.id == case_id))).one()


async def event_kinds(supplier: Supplier, case_id: uuid.UUID) -> Counter:
    async with uow(supplier) as session:
        kinds = (await session.scalars(select(DisputeEvent.kind).where(DisputeEvent.case_id == case_id))).all()
    return Counter(kinds)


async def events(supplier: Supplier, case_id: uuid.UUID, kind: str) -> list[DisputeEvent]:
    async with uow(supplier) as session:
        statement = select(DisputeEvent).where(DisputeEvent.case_id == case_id, DisputeEvent.kind == kind)
        return list((await session.scalars(statement.order_by(DisputeEvent.at))).all())


async def notices(supplier: Supplier, case_id: uuid.UUID) -> list[Notice]:
    async with uow(supplier) as session:
        statement = select(Notice).where(Notice.case_id == case_id).order_by(Notice.created_at)
        return list((await session.scalars(statement)).all())


async def notice_count(supplier: Supplier, case_id: uuid.UUID, kind: str) -> int:
    async with uow(supplier) as session:
        statement = select(func.count()).select_from(Notice).where(Notice.case_id == case_id, Notice.kind == kind)
        return await session.scalar(statement) or 0
