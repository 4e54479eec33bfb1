"""The sweep queues one job per due case and no other while that job is on its way; a job that never
runs is queued again after its lease, and after a few such tries the case is given up on, loudly."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from backend.auth.principal import job_principal
from backend.db.tenancy import TenantId
from backend.db.uow import all_tenants_unit_of_work
from backend.disputes import timers
from backend.disputes.service import ItemInput
from backend.jobs.models import OutboxJob
from tests.disputes.helpers import open_case, uow
from tests.escalation.helpers import case_of
from tests.factories import make_buyer, make_invoice


async def _sweep(now) -> None:
    async with all_tenants_unit_of_work("test sweep") as session:
        await timers.sweep(session, now)


async def _jobs_for(supplier, case_id) -> list[OutboxJob]:
    async with uow(supplier) as session:
        jobs = (await session.scalars(select(OutboxJob).where(OutboxJob.actor == timers.RUN_ACTOR))).all()
    return [job for job in jobs if job.payload["case_id"] == str(case_id)]


async def test_a_due_case_is_queued_once_per_lease_and_given_up_after_the_limit(world, caplog):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="300.00")])
    due_at = (await case_of(world.a, case.id)).next_timer_at

    for minutes in (0, 5, 10, 29):  # the sweep every few minutes while the job is on its way
        await _sweep(due_at + timedelta(minutes=minutes))
    assert len(await _jobs_for(world.a, case.id)) == 1

    # The job never ran (lost, or failing each time): queued again once its lease runs out, a few times.
    moment = due_at
    for _lease in range(timers.MAX_JOB_ATTEMPTS + 2):
        moment += timers.JOB_LEASE + timedelta(minutes=1)
        await _sweep(moment)
    assert len(await _jobs_for(world.a, case.id)) == timers.MAX_JOB_ATTEMPTS
    given_up = [r for r in caplog.records if r.levelno == logging.ERROR and str(case.id) in r.getMessage()]
    assert len(given_up) == 1 and "gives up" in given_up[0].getMessage()

    # The job runs at last (or someone changes the case): the case is watched again.
    async with uow(world.a) as session:
        principal = job_principal(TenantId(world.a.tenant_id), timers.RUN_ACTOR)
        assert await timers.run_case(session, principal, case.id, moment) != []
    ran = await case_of(world.a, case.id)
    assert (ran.timer_attempts, ran.timer_queued_until) == (0, None)
    await _sweep(ran.next_timer_at)
    assert len(await _jobs_for(world.a, case.id)) == timers.MAX_JOB_ATTEMPTS + 1
