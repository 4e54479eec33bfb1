"""Each step of a case's timers happens once even when the check that the case is due lets a job through:
two jobs for the same case at the same moment, and a job replayed after the case's next step was moved back."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from backend.auth.principal import job_principal
from backend.db.tenancy import TenantId
from backend.disputes import timers
from backend.disputes.models import DisputeCase
from backend.disputes.service import ItemInput
from tests.disputes.helpers import open_case, uow
from tests.escalation.helpers import case_of, event_kinds, notice_count
from tests.escalation.test_case_timers import shanghai
from tests.factories import make_buyer, make_invoice

ACKNOWLEDGE_STEPS = [("acknowledge", "breach"), ("acknowledge", "level_2"), ("acknowledge", "level_3")]


async def _overdue_case(supplier):
    """A case nobody acknowledged, and the moment its acknowledgement is five business days overdue."""
    buyer_id = await make_buyer(supplier)
    invoice = await make_invoice(supplier, buyer_id)
    case = await open_case(supplier, buyer_id, [ItemInput(invoice.id, amount="300.00")])
    calendar = shanghai()
    return case, calendar.end_of(calendar.add_business_days(calendar.add_business_days(case.opened_on, 2), 5))


async def _run(supplier, case_id, now) -> list[tuple[str, str]]:
    async with uow(supplier) as session:
        return await timers.run_case(session, job_principal(TenantId(supplier.tenant_id), timers.RUN_ACTOR), case_id, now)


async def _taken_once(supplier, case_id) -> None:
    kinds = await event_kinds(supplier, case_id)
    assert kinds["service_level_breached"] == 1 and kinds["escalated"] == 3 and kinds["timer_reminder"] == 0
    assert await notice_count(supplier, case_id, "case.breached") == 1
    assert await notice_count(supplier, case_id, "case.escalated") == 2
    assert (await case_of(supplier, case_id)).escalation_level == 3


@pytest.mark.postgresql
async def test_two_jobs_for_the_same_case_at_once_take_each_step_once(world):
    case, now = await _overdue_case(world.a)
    first, second = await asyncio.gather(_run(world.a, case.id, now), _run(world.a, case.id, now))
    assert sorted(first + second) == ACKNOWLEDGE_STEPS
    await _taken_once(world.a, case.id)


async def test_a_job_replayed_after_the_next_step_moved_back_takes_no_step_again(world):
    case, now = await _overdue_case(world.a)
    assert sorted(await _run(world.a, case.id, now)) == ACKNOWLEDGE_STEPS
    # The case looks due again (a redelivered job racing a recomputation, a clock step): the steps taken decide.
    async with uow(world.a) as session:
        await session.execute(update(DisputeCase).where(DisputeCase.id == case.id).values(next_timer_at=now - timedelta(days=30)))
    assert await _run(world.a, case.id, now) == []
    await _taken_once(world.a, case.id)
