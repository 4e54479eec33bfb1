"""Timers that start from what happens on a case: the buyer waiting for an answer, the team waiting for the
buyer's, a hard calendar deadline, the escalation day; and the wall between tenants."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from backend.auth.principal import job_principal
from backend.buyers import service as buyers
from backend.db.tenancy import TenantId
from backend.disputes import service as disputes
from backend.disputes import timers
from backend.disputes.models import DisputeState
from backend.disputes.service import ItemInput, OptionInput
from tests.disputes.helpers import open_case, propose, uow
from tests.escalation.helpers import case_of, event_kinds, notices, tick
from tests.escalation.test_case_timers import shanghai
from tests.factories import make_buyer, make_invoice, owner_of


async def _case_with_contact(supplier):
    buyer_id = await make_buyer(supplier)
    async with uow(supplier) as session:
        contact = await buyers.add_contact(session, owner_of(supplier), buyer_id, name="Li Na", email="li.na@example.com")
    invoice = await make_invoice(supplier, buyer_id)
    case = await open_case(supplier, buyer_id, [ItemInput(invoice.id, amount="300.00")])
    return case, contact


def _credit(amount: str) -> OptionInput:
    return OptionInput(kind="credit_note", amount=Decimal(amount), description="Goodwill credit")


async def test_an_offer_the_buyer_leaves_open_brings_two_reminders_to_the_buyers_contacts(world):
    case, contact = await _case_with_contact(world.a)
    proposal, _options = await propose(world.a, case.id, _credit("100.00"))
    calendar = shanghai()
    offered_on = calendar.local_date(proposal.created_at)
    first = calendar.start_of(calendar.add_business_days(offered_on, 3), 9)
    second = calendar.start_of(calendar.add_business_days(offered_on, 6), 9)
    assert ("buyer", "remind_1") in await tick(world.a, first)
    assert ("buyer", "remind_2") in await tick(world.a, second)
    told = [n for n in await notices(world.a, case.id) if n.kind == "case.reminder_buyer"]
    assert [(n.recipient_kind, n.recipient_id) for n in told] == [("contact", contact.id)] * 2
    assert told[0].params["supplier"] == world.a.name and told[0].params["case_number"] == case.number
    assert told[0].params["due_on"] == calendar.add_business_days(offered_on, 6).isoformat()
    assert (await event_kinds(world.a, case.id))["buyer_reminded"] == 2


async def test_the_buyers_counter_starts_the_teams_time_to_answer(world):
    case, _contact = await _case_with_contact(world.a)
    proposal, _options = await propose(world.a, case.id, _credit("100.00"))
    async with uow(world.a) as session:
        await disputes.respond_to_proposal(
            session, owner_of(world.a), proposal.id, "counter", note="We want 250", on_behalf_of="Li Na (AP)"
        )
    answered = await case_of(world.a, case.id)
    calendar = shanghai()
    countered_on = calendar.local_date(datetime.now(UTC))
    breach_at = calendar.end_of(calendar.add_business_days(countered_on, 3))
    assert answered.next_timer == "respond"
    acted = await tick(world.a, breach_at)
    assert ("respond", "breach") in acted and ("respond", "remind") not in acted
    assert [n.params for n in await notices(world.a, case.id) if n.kind == "case.breached"] == [
        {"case_number": case.number, "timer": "respond"}
    ]
    # A new offer answers the buyer: the team's time to answer stops.
    await propose(world.a, case.id, _credit("200.00"))
    later = calendar.end_of(calendar.add_business_days(countered_on, 5))
    assert ("respond", "level_2") not in await tick(world.a, later)


async def test_a_hard_deadline_warns_the_owner_before_and_goes_to_the_team_lead_when_missed(world):
    case, _contact = await _case_with_contact(world.a)
    deadline = datetime.now(UTC).replace(microsecond=0) + timedelta(days=6)
    async with uow(world.a) as session:
        # As the Stripe work sets it on a chargeback's case: the evidence due date.
        found = await disputes.move_case(session, owner_of(world.a), case.id, DisputeState.ACKNOWLEDGED)
        found.hard_deadline_at = deadline
    assert (await case_of(world.a, case.id)).next_timer_at == deadline - timedelta(days=3)
    assert await tick(world.a, deadline - timedelta(days=3)) == [("hard_deadline", "notice")]
    acted = await tick(world.a, deadline)
    assert ("hard_deadline", "breach") in acted
    after = await case_of(world.a, case.id)
    assert after.escalation_level == 2
    told = {n.kind: n.params for n in await notices(world.a, case.id)}
    assert told["case.deadline_near"] == {"case_number": case.number, "deadline": shanghai().local_date(deadline).isoformat()}
    assert told["case.breached"] == {"case_number": case.number, "timer": "hard_deadline"}


async def test_after_the_escalation_day_legal_collection_is_put_forward_and_the_case_stays_where_it_is(world):
    case, _contact = await _case_with_contact(world.a)
    calendar = shanghai()
    day = calendar.start_of(case.opened_on + timedelta(days=90))
    assert ("escalation", "propose") not in await tick(world.a, day - timedelta(seconds=1))
    assert ("escalation", "propose") in await tick(world.a, day)
    assert await tick(world.a, day + timedelta(minutes=5)) == []
    after = await case_of(world.a, case.id)
    assert after.escalation_proposal == "legal" and after.state is DisputeState.OPEN
    [proposed] = [n for n in await notices(world.a, case.id) if n.kind == "case.escalation_proposed"]
    assert proposed.params == {"case_number": case.number, "days": 90, "route": "legal"}
    assert (await event_kinds(world.a, case.id))["escalation_proposed"] == 1


async def test_a_job_for_another_tenants_case_does_nothing(world):
    case, _contact = await _case_with_contact(world.a)
    far = datetime.now(UTC) + timedelta(days=200)
    async with uow(world.b) as session:
        assert await timers.run_case(session, job_principal(TenantId(world.b.tenant_id), timers.RUN_ACTOR), case.id, far) == []
    async with uow(world.b) as session:
        unknown = job_principal(TenantId(world.b.tenant_id), timers.RUN_ACTOR)
        assert await timers.run_case(session, unknown, uuid.uuid4(), far) == []
    assert (await case_of(world.a, case.id)).escalation_level == 0
    kinds = await event_kinds(world.a, case.id)
    assert "service_level_breached" not in kinds and "escalated" not in kinds
