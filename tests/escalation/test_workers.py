"""The escalation jobs as the worker runs them: the scheduler's tick fires the sweep, the sweep's jobs go
through the outbox and the relay, and the per-case job acts on a case whose deadline has passed."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from backend.disputes import service as disputes
from backend.disputes.service import ItemInput, NewCase
from tests.disputes.helpers import uow
from tests.escalation.helpers import case_of, event_kinds, notice_count
from tests.factories import make_buyer, make_invoice, owner_of
from tests.test_team import run_jobs
from workers import scheduler


async def test_the_scheduled_sweep_and_the_case_job_escalate_an_overdue_case_through_the_worker(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id, issue_date=date.today() - timedelta(days=40))
    async with uow(world.a) as session:
        # Raised a month ago and never acknowledged: acknowledgement and evaluation are both overdue.
        case = await disputes.register_case(
            session,
            owner_of(world.a),
            NewCase(
                buyer_id=buyer_id,
                reason_code="quality",
                description="Scratched bearings",
                channel="email",
                items=[ItemInput(invoice.id, amount="100.00")],
                opened_on=date.today() - timedelta(days=30),
            ),
        )
    assert (await case_of(world.a, case.id)).next_timer_at < datetime.now(UTC)
    # A tick of its own (an old slot no other test fires), so this test owns the sweep it starts.
    sweep = scheduler.Periodic("disputes.sweep_timers", timedelta(minutes=5))
    moment = datetime(2001, 1, 1, tzinfo=UTC) + timedelta(minutes=5 * random.randrange(1_000_000))
    assert await scheduler.tick(moment, (sweep,)) == ["disputes.sweep_timers"]
    await run_jobs()  # the tick: the sweep records one job per due case
    await run_jobs()  # the case's job
    escalated = await case_of(world.a, case.id)
    assert escalated.escalation_level == 3  # five business days past the acknowledgement deadline
    kinds = await event_kinds(world.a, case.id)
    assert kinds["service_level_breached"] == 2  # acknowledge and evaluate
    assert kinds["escalated"] == 3
    assert await notice_count(world.a, case.id, "case.breached") == 2
    assert escalated.next_timer_at > datetime.now(UTC)
