"""Two people at once, each in their own transaction on PostgreSQL: one wins, the other is told, and
nothing is lost, doubled or deadlocked."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import text

from backend.disputes import service as disputes
from backend.disputes.models import ApprovalStatus, DisputeState
from backend.disputes.service import ItemInput, Resolution
from backend.errors import Conflict, DomainError, ValidationFailed
from backend.invoices import service as ledger
from backend.invoices.models import InvoiceStatus
from backend.invoices.repository import InvoiceRepository
from backend.tenants.models import Role
from tests.conftest import Supplier
from tests.disputes.helpers import accept, credit, open_case, propose, uow
from tests.disputes.team import add_member, ledger_of, set_threshold
from tests.factories import make_buyer, make_invoice, owner_of

pytestmark = pytest.mark.postgresql

TODAY = date.today()


async def outcome(work):
    """What one person's request ended in: its result, or the error they were shown."""
    try:
        return await work
    except DomainError as told:
        return told


async def move(supplier: Supplier, case_id, target, principal, **details):
    async with uow(supplier) as session:
        return await disputes.move_case(session, principal, case_id, target, **details)


async def test_two_credit_managers_approving_at_once_write_one_credit_note(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="400.00")])
    proposal, options = await propose(world.a, case.id, credit("400.00"))
    await accept(world.a, proposal.id, options[0].id)
    async with uow(world.a) as session:
        result = await disputes.resolve_case(
            session, owner_of(world.a), case.id, Resolution(outcome="valid", root_cause_code="product_defect")
        )
    mei = await add_member(world.a, Role.CREDIT_MANAGER, "Mei Credit")
    wang = await add_member(world.a, Role.CREDIT_MANAGER, "Wang Credit")

    async def approve(principal):
        async with uow(world.a) as session:
            return await disputes.decide_approval(session, principal, result.approval.id, approve=True, note="ok")

    outcomes = await asyncio.gather(outcome(approve(mei)), outcome(approve(wang)))
    won = [o for o in outcomes if not isinstance(o, DomainError)]
    told = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(won) == 1 and len(told) == 1
    assert isinstance(told[0], Conflict) and "already decided" in told[0].message
    assert won[0].status is ApprovalStatus.APPROVED
    assert await ledger_of(world.a, buyer_id) == [("credit_note", D("400.00"))]
    async with uow(world.a) as session:
        after = await ledger.get_invoice(session, owner_of(world.a), invoice.id)
        details = await disputes.case_details(session, owner_of(world.a), case.id)
    assert (after.open_amount, after.disputed_amount) == (D("730.00"), D("0"))
    assert (details.case.state, details.case.credited_amount) == (DisputeState.RESOLVED, D("400.00"))
    assert [e.kind for e in details.events].count("resolved") == 1


async def test_two_people_moving_one_case_from_the_same_version_one_wins_the_other_gets_409(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="100.00")])
    collector = await add_member(world.a, Role.COLLECTOR, "Carl Collector")
    seen = case.version
    outcomes = await asyncio.gather(
        outcome(move(world.a, case.id, "acknowledged", owner_of(world.a), version=seen)),
        outcome(move(world.a, case.id, "escalated_legal", collector, version=seen)),
    )
    told = [o for o in outcomes if isinstance(o, DomainError)]
    won = [o for o in outcomes if not isinstance(o, DomainError)]
    assert len(won) == 1 and len(told) == 1
    assert isinstance(told[0], Conflict) and told[0].status_code == 409 and told[0].field == "version"
    async with uow(world.a) as session:
        now = await disputes.get_case(session, owner_of(world.a), case.id)
        events = await disputes.case_details(session, owner_of(world.a), case.id)
    assert (now.state, now.version) == (won[0].state, seen + 1)
    assert [e.kind for e in events.events if e.kind in ("acknowledged", "state_changed")] == [
        "acknowledged" if won[0].state is DisputeState.ACKNOWLEDGED else "state_changed"
    ]
    # Without a version, the second move is checked against the state the first one left.
    outcomes = await asyncio.gather(
        outcome(move(world.a, case.id, "withdrawn", owner_of(world.a))),
        outcome(move(world.a, case.id, "withdrawn", collector)),
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "DisputeCase"]


async def test_two_registrations_at_once_get_distinct_numbers_and_never_overdispute(world):
    buyer_id = await make_buyer(world.a)
    invoices = [await make_invoice(world.a, buyer_id) for _ in range(4)]
    cases = await asyncio.gather(*(outcome(open_case(world.a, buyer_id, [ItemInput(i.id, amount="100.00")])) for i in invoices))
    numbers = [c.number for c in cases]
    assert len(set(numbers)) == 4, numbers
    # Two cases on one invoice at once, each for 800.00 of its 1,130.00: the second to get the lock is refused.
    shared = await make_invoice(world.a, buyer_id)
    outcomes = await asyncio.gather(
        outcome(open_case(world.a, buyer_id, [ItemInput(shared.id, amount="800.00")])),
        outcome(open_case(world.a, buyer_id, [ItemInput(shared.id, amount="800.00")])),
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["DisputeCase", "ValidationFailed"]
    refused = next(o for o in outcomes if isinstance(o, ValidationFailed))
    assert refused.field == "items" and refused.params["open"] == "330.00"
    async with uow(world.a) as session:
        held = await ledger.get_invoice(session, owner_of(world.a), shared.id)
    assert held.disputed_amount == D("800.00")


async def _waiting_on_locks(count: int) -> None:
    """Until `count` transactions of this database wait on a row lock."""
    for _attempt in range(500):
        async with uow_any() as session:
            waiting = await session.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
            )
        if waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} transactions never waited on a lock")


def uow_any():
    from backend.db.uow import global_unit_of_work

    return global_unit_of_work()


async def _two_invoices_locked_in_the_opposite_order_of_their_due_dates(supplier: Supplier, buyer_id):
    """(earlier due, later due) where the later-due one has the smaller id: the order a payment locks
    them in (id) is the opposite of the order a credit spreads over them (due date)."""
    for _attempt in range(40):
        later = await make_invoice(supplier, buyer_id, due_date=TODAY + timedelta(days=40))
        earlier = await make_invoice(supplier, buyer_id, due_date=TODAY + timedelta(days=5))
        if str(later.id) < str(earlier.id):
            return earlier, later
        for invoice in (later, earlier):  # out of the way: fully paid
            async with uow(supplier) as session:
                await ledger.record_payment(
                    session,
                    owner_of(supplier),
                    buyer_id=buyer_id,
                    amount="1130.00",
                    currency="CNY",
                    allocations=[ledger.PaymentAllocation(invoice.id, "1130.00")],
                )
    raise AssertionError("no pair of invoices in the wanted id order")


async def test_a_payment_and_a_resolution_at_once_on_the_same_invoices_do_not_deadlock(world):
    buyer_id = await make_buyer(world.a)
    await set_threshold(world.a, "CNY", "10000")
    earlier, later = await _two_invoices_locked_in_the_opposite_order_of_their_due_dates(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(earlier.id, amount="300.00"), ItemInput(later.id, amount="300.00")])
    proposal, options = await propose(world.a, case.id, credit("500.00"))
    await accept(world.a, proposal.id, options[0].id)
    before = await ledger_of(world.a, buyer_id)

    async def pay():
        async with uow(world.a) as session:
            return await ledger.record_payment(session, owner_of(world.a), buyer_id=buyer_id, amount="1000.00", currency="CNY")

    async def resolve():
        async with uow(world.a) as session:
            return await disputes.resolve_case(
                session, owner_of(world.a), case.id, Resolution(outcome="partly_valid", root_cause_code="logistics")
            )

    # A third transaction holds the later invoice (the smaller id) so both queue behind it: the payment
    # first, waiting for its first lock; then the resolution, which (spreading by due date) would hold
    # the earlier invoice while waiting for the later one that the payment is about to get.
    async with uow(world.a) as gate:
        await InvoiceRepository(gate).get(later.id, for_update=True)
        paying = asyncio.create_task(outcome(pay()))
        await _waiting_on_locks(1)
        resolving = asyncio.create_task(outcome(resolve()))
        await _waiting_on_locks(2)
    payment, resolution = await asyncio.wait_for(asyncio.gather(paying, resolving), timeout=30)
    assert not isinstance(payment, BaseException) and not isinstance(resolution, BaseException), (payment, resolution)
    assert resolution.approval is None and resolution.case.state is DisputeState.RESOLVED
    # Either order ends the same: the payment pays undisputed parts first (830.00 of the earlier,
    # 170.00 of the later), the credit takes 300.00 of the earlier and 200.00 of the later.
    async with uow(world.a) as session:
        one = await ledger.get_invoice(session, owner_of(world.a), earlier.id)
        two = await ledger.get_invoice(session, owner_of(world.a), later.id)
    assert (one.open_amount, one.disputed_amount, one.status) == (D("0"), D("0"), InvoiceStatus.PAID)
    assert (two.open_amount, two.disputed_amount, two.status) == (D("760.00"), D("0"), InvoiceStatus.PARTIALLY_PAID)
    written = (await ledger_of(world.a, buyer_id))[len(before) :]
    assert sorted(written) == [("credit_note", D("200.00")), ("credit_note", D("300.00")), ("payment", D("1000.00"))]
    assert payment.unallocated_amount == D("0")


async def test_two_proposals_at_once_from_the_same_version_one_is_offered_the_other_is_told(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="300.00")])
    await propose(world.a, case.id, credit("50.00"))  # the case is negotiating, in the middle phase
    async with uow(world.a) as session:
        seen = (await disputes.get_case(session, owner_of(world.a), case.id)).version
    collector = await add_member(world.a, Role.COLLECTOR, "Carl Collector")

    async def offer(principal, amount):
        async with uow(world.a) as session:
            return await disputes.create_proposal(session, principal, case.id, [credit(amount)], version=seen)

    outcomes = await asyncio.gather(outcome(offer(owner_of(world.a), "100.00")), outcome(offer(collector, "120.00")))
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "Proposal"]
    async with uow(world.a) as session:
        details = await disputes.case_details(session, owner_of(world.a), case.id)
    offered = [(p.seq, p.status.value) for p, _options in details.proposals]
    assert offered == [(1, "withdrawn"), (2, "offered")]
