"""`accord demo seed` shows the timers at work: a case overdue for acknowledgement, one raised to the team
lead, a legal escalation put forward, a broken instalment plan back in review — each step on its timeline once.

Named to run after test_demo_seed.py, whose first test must be the one that seeds.
"""

from __future__ import annotations

from sqlalchemy import select

from backend.db.tenancy import TenantId
from backend.db.uow import all_tenants_unit_of_work, tenant_unit_of_work
from backend.demo import seed
from backend.demo.escalation import replay
from backend.disputes.models import DisputeCase, DisputeEvent, DisputeState
from backend.tenants.repository import TenantRepository


async def test_the_demo_cases_show_every_escalation_and_a_second_replay_adds_nothing(client):
    await seed.run(echo=lambda _line: None)  # once per database; a no-op when another test seeded it
    for supplier in seed.SUPPLIERS:
        async with all_tenants_unit_of_work("test: demo tenant") as session:
            tenant_id = TenantId((await TenantRepository(session).by_slug(supplier["slug"])).id)
        async with tenant_unit_of_work(tenant_id) as session:
            cases = (await session.scalars(select(DisputeCase))).all()
            events = (await session.scalars(select(DisputeEvent).where(DisputeEvent.actor == "disputes.run_timers"))).all()
        breached = {(e.case_id, e.data.get("timer")) for e in events if e.kind == "service_level_breached"}
        assert any(c.state is DisputeState.OPEN and (c.id, "acknowledge") in breached for c in cases), supplier["slug"]
        assert any(c.escalation_level == 2 and (c.id, "respond") in breached for c in cases), supplier["slug"]
        assert any(c.escalation_proposal == "legal" and c.state is DisputeState.NEGOTIATING for c in cases)
        assert any(c.plan_broken_at is not None and c.state is DisputeState.UNDER_REVIEW for c in cases)
        # Each step once: replaying again finds nothing more to do.
        assert await replay(tenant_id) == 0
