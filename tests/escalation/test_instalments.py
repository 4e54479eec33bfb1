"""An agreed instalment plan: the buyer is reminded before and on each due date, an instalment left unpaid
past the grace is missed and the owner told, and a second miss breaks the plan and reopens the case."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from backend.buyers import service as buyers
from backend.disputes import service as disputes
from backend.disputes.models import DisputePhase, DisputeState, Instalment
from backend.disputes.service import ItemInput, OptionInput, Resolution
from backend.invoices import service as ledger
from tests.disputes.helpers import accept, open_case, propose, uow
from tests.escalation.helpers import case_of, event_kinds, notices, tick
from tests.escalation.test_case_timers import shanghai
from tests.factories import make_buyer, make_invoice, owner_of


async def _plan(supplier, first: date, second: date):
    """A case on an invoice of 1,130.00 resolved by a plan of two instalments of 565.00."""
    buyer_id = await make_buyer(supplier)
    async with uow(supplier) as session:
        contact = await buyers.add_contact(session, owner_of(supplier), buyer_id, name="Li Na", email="li.na@example.com")
    invoice = await make_invoice(supplier, buyer_id)
    case = await open_case(supplier, buyer_id, [ItemInput(invoice.id)])
    option = OptionInput(kind="instalments", schedule=[(first, Decimal("565.00")), (second, Decimal("565.00"))])
    proposal, [offered] = await propose(supplier, case.id, option)
    await accept(supplier, proposal.id, offered.id)
    async with uow(supplier) as session:
        await disputes.resolve_case(session, owner_of(supplier), case.id, Resolution(outcome="invalid", root_cause_code="other"))
    return case, contact, invoice


async def _instalments(supplier, case_id) -> list[Instalment]:
    async with uow(supplier) as session:
        return list(
            (await session.scalars(select(Instalment).where(Instalment.case_id == case_id).order_by(Instalment.seq))).all()
        )


async def test_two_missed_instalments_break_the_plan_and_reopen_the_case(world):
    today = date.today()
    first, second = today + timedelta(days=7), today + timedelta(days=14)
    case, contact, invoice = await _plan(world.a, first, second)
    resolved = await case_of(world.a, case.id)
    calendar = shanghai()
    assert resolved.state is DisputeState.RESOLVED
    assert resolved.next_timer == "instalment" and resolved.next_timer_at == calendar.start_of(first - timedelta(days=3), 9)

    assert await tick(world.a, calendar.start_of(first - timedelta(days=3), 9)) == [("instalment", "remind_before")]
    assert await tick(world.a, calendar.start_of(first, 9)) == [("instalment", "remind_due")]
    reminders = [n for n in await notices(world.a, case.id) if n.kind == "instalment.reminder"]
    assert [(n.recipient_id, n.params["seq"]) for n in reminders] == [(contact.id, 1), (contact.id, 1)]
    assert reminders[0].params == {
        "case_number": case.number,
        "seq": 1,
        "amount": "565.00",
        "currency": "CNY",
        "due_on": first.isoformat(),
    }

    first_missed = calendar.end_of(calendar.add_business_days(first, 3))
    acted = await tick(world.a, first_missed)
    assert ("instalment", "missed") in acted
    assert [i.status for i in await _instalments(world.a, case.id)] == ["missed", "due"]
    assert (await case_of(world.a, case.id)).state is DisputeState.RESOLVED  # one miss: the plan stands
    [missed] = [n for n in await notices(world.a, case.id) if n.kind == "instalment.missed"]
    assert missed.recipient_id == world.a.finance.user_id and missed.params["due_on"] == first.isoformat()

    second_missed = calendar.end_of(calendar.add_business_days(second, 3))
    acted = await tick(world.a, second_missed)
    assert ("instalment", "missed") in acted
    assert await tick(world.a, second_missed + timedelta(minutes=5)) == []
    broken = await case_of(world.a, case.id)
    assert broken.plan_broken_at is not None
    assert broken.state is DisputeState.UNDER_REVIEW and broken.phase is DisputePhase.MIDDLE
    assert broken.outcome is None and broken.closed_at is None and broken.agreed_option_id is None
    kinds = await event_kinds(world.a, case.id)
    assert kinds["plan_broken"] == 1 and kinds["reopened"] == 1 and kinds["instalment_missed"] == 2
    assert sum(1 for n in await notices(world.a, case.id) if n.kind == "plan.broken") == 1
    # The reopened case holds the invoice out of collection again.
    async with uow(world.a) as session:
        held = await ledger.get_invoice(session, owner_of(world.a), invoice.id)
    assert held.disputed_amount == held.open_amount


async def test_a_missed_instalment_left_unpaid_past_a_second_grace_breaks_the_plan(world):
    today = date.today()
    first, second = today + timedelta(days=7), today + timedelta(days=90)
    case, _contact, _invoice = await _plan(world.a, first, second)
    calendar = shanghai()
    await tick(world.a, calendar.end_of(calendar.add_business_days(first, 3)))
    assert (await case_of(world.a, case.id)).plan_broken_at is None
    acted = await tick(world.a, calendar.end_of(calendar.add_business_days(first, 6)))
    assert ("instalment", "break") in acted
    assert (await case_of(world.a, case.id)).state is DisputeState.UNDER_REVIEW


async def test_a_paid_instalment_is_neither_reminded_nor_missed(world):
    today = date.today()
    first, second = today + timedelta(days=7), today + timedelta(days=40)
    case, _contact, _invoice = await _plan(world.a, first, second)
    async with uow(world.a) as session:
        paid = (await session.scalars(select(Instalment).where(Instalment.case_id == case.id, Instalment.seq == 1))).one()
        paid.paid_amount, paid.status = paid.amount, "paid"
    calendar = shanghai()
    assert await tick(world.a, calendar.end_of(calendar.add_business_days(first, 10))) == []
    assert (await case_of(world.a, case.id)).next_timer_at == calendar.start_of(second - timedelta(days=3), 9)


async def test_an_instalment_paid_by_a_transfer_entered_by_hand_is_neither_reminded_nor_missed(world):
    """Only the card path marks an instalment paid: the timers read what the ledger holds since the agreement."""
    today = date.today()
    first, second = today + timedelta(days=7), today + timedelta(days=40)
    case, _contact, invoice = await _plan(world.a, first, second)
    async with uow(world.a) as session:
        await ledger.record_payment(
            session,
            owner_of(world.a),
            buyer_id=invoice.buyer_id,
            amount="565.00",
            currency="CNY",
            document_number="BANK-0001",
            allocations=[ledger.PaymentAllocation(invoice_id=invoice.id, amount="565.00")],
        )
    calendar = shanghai()
    # Past the first instalment's reminders, its miss and its break: nothing is owed on it.
    assert await tick(world.a, calendar.end_of(calendar.add_business_days(first, 10))) == []
    resolved = await case_of(world.a, case.id)
    assert resolved.plan_broken_at is None and resolved.state is DisputeState.RESOLVED
    assert [(i.status, i.paid_amount) for i in await _instalments(world.a, case.id)] == [
        ("paid", Decimal("565.00")),
        ("due", Decimal("0.00")),
    ]
    kinds = await event_kinds(world.a, case.id)
    assert kinds["instalment_paid"] == 1 and kinds["instalment_reminded"] == 0 and kinds["instalment_missed"] == 0
    assert not [n for n in await notices(world.a, case.id) if n.kind.startswith("instalment.") or n.kind == "plan.broken"]
    # The second instalment, not paid, is still watched: its reminder is the next step.
    assert resolved.next_timer_at == calendar.start_of(second - timedelta(days=3), 9)
