"""What a case leaves behind when it closes, and what it counts as settling it.

A case that closes by itself counts only entries no case's resolution wrote; a closed case takes no
more evidence, checklist answers or task answers; closing or escalating withdraws the offer the buyer
could still accept; cases and tasks go only to people whose role can work on them.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from backend.disputes import service as disputes
from backend.disputes.models import DisputeState, Outcome, ProposalStatus, TaskStatus
from backend.disputes.service import ItemInput, NewTask, OptionInput, Resolution
from backend.errors import Conflict, ValidationFailed
from backend.invoices import service as ledger
from backend.invoices.repository import InvoiceRepository
from backend.tenants.models import Role
from tests.disputes.helpers import accept, credit, open_case, propose, uow
from tests.disputes.team import add_member, set_threshold
from tests.factories import make_buyer, make_invoice, owner_of
from tests.test_team import run_jobs

IN_A_WEEK = date.today() + timedelta(days=7)


async def _resolve(supplier, case_id, option_id, proposal_id, outcome="valid"):
    await accept(supplier, proposal_id, option_id)
    async with uow(supplier) as session:
        return await disputes.resolve_case(
            session, owner_of(supplier), case_id, Resolution(outcome=outcome, root_cause_code="product_defect")
        )


async def _case(supplier, case_id):
    async with uow(supplier) as session:
        return await disputes.get_case(session, owner_of(supplier), case_id)


async def test_a_case_closed_by_payment_does_not_count_another_cases_credit_note(world):
    await set_threshold(world.a, "CNY", "100000.00")
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id, lines=[("Bearing", "1", "300.00", "0"), ("Seal", "1", "200.00", "0")])
    async with uow(world.a) as session:
        lines = await InvoiceRepository(session).lines(invoice.id)
    first = await open_case(world.a, buyer_id, [ItemInput(invoice.id, lines[0].id)])
    second = await open_case(world.a, buyer_id, [ItemInput(invoice.id, lines[1].id)])
    proposal, options = await propose(world.a, first.id, credit("300.00"))
    await _resolve(world.a, first.id, options[0].id, proposal.id)
    # The buyer pays the 200.00 the second case disputed: it was collected, not credited.
    async with uow(world.a) as session:
        await ledger.record_payment(session, owner_of(world.a), buyer_id=buyer_id, amount="200.00", currency="CNY")
    await run_jobs()
    closed = await _case(world.a, second.id)
    assert closed.state is DisputeState.RESOLVED
    assert (closed.credited_amount, closed.collected_amount, closed.outcome) == (D("0"), D("200.00"), Outcome.INVALID)


async def test_a_reopened_case_does_not_count_its_own_earlier_credit_twice(world):
    await set_threshold(world.a, "CNY", "100000.00")
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)  # 1,130.00
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="300.00")])
    proposal, options = await propose(world.a, case.id, credit("100.00"))
    await _resolve(world.a, case.id, options[0].id, proposal.id, outcome="partly_valid")
    async with uow(world.a) as session:
        await disputes.move_case(session, owner_of(world.a), case.id, "under_review", note="The buyer found more damage")
    # The buyer pays everything: the 200.00 still disputed was collected; 100.00 stays the earlier credit.
    async with uow(world.a) as session:
        await ledger.record_payment(session, owner_of(world.a), buyer_id=buyer_id, amount="1030.00", currency="CNY")
    await run_jobs()
    closed = await _case(world.a, case.id)
    assert closed.state is DisputeState.RESOLVED
    assert (closed.credited_amount, closed.collected_amount, closed.outcome) == (D("100.00"), D("200.00"), Outcome.PARTLY_VALID)


async def test_a_closed_case_takes_no_evidence_checklist_answer_or_task_answer_and_its_open_task_is_cancelled(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="100.00")])
    async with uow(world.a) as session:
        task = await disputes.create_task(
            session,
            owner_of(world.a),
            case.id,
            NewTask(assignee_user_id=world.a.collaborator.user_id, team="quality", question="Batch?", due_on=IN_A_WEEK),
        )
    await propose(world.a, case.id, credit("50.00"))
    async with uow(world.a) as session:
        await disputes.move_case(session, owner_of(world.a), case.id, "withdrawn", note="The buyer found the parts")
    async with uow(world.a) as session:
        details = await disputes.case_details(session, owner_of(world.a), case.id)
        assert [t.status for t in details.tasks] == [TaskStatus.CANCELLED]
        assert [p.status for p, _o in details.proposals] == [ProposalStatus.WITHDRAWN]
    refusals = [
        lambda session: disputes.add_evidence(
            session, owner_of(world.a), case.id, filename="a.pdf", source=io.BytesIO(b"%PDF-1.4 x")
        ),
        lambda session: disputes.answer_checklist(session, owner_of(world.a), case.id, "delivery_proven", "yes"),
        lambda session: disputes.answer_task(session, owner_of(world.a), task.id, "Batch 7"),
    ]
    for refused in refusals:
        async with uow(world.a) as session:
            with pytest.raises(Conflict):
                await refused(session)


async def test_escalating_withdraws_the_open_offer_so_the_buyer_cannot_accept_it_later(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="300.00")])
    proposal, options = await propose(world.a, case.id, credit("100.00"))
    async with uow(world.a) as session:
        await disputes.move_case(session, owner_of(world.a), case.id, "escalated_legal", note="No answer for 90 days")
    async with uow(world.a) as session:
        await disputes.move_case(session, owner_of(world.a), case.id, "negotiating")
    with pytest.raises(Conflict):
        await accept(world.a, proposal.id, options[0].id)
    assert (await _case(world.a, case.id)).state is DisputeState.NEGOTIATING


async def test_cases_and_tasks_go_only_to_people_whose_role_can_work_on_them(world):
    viewer = await add_member(world.a, Role.VIEWER, "Vera Viewer")
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="100.00")])
    async with uow(world.a) as session:
        with pytest.raises(ValidationFailed) as owner_refused:
            await disputes.assign_case(session, owner_of(world.a), case.id, viewer.id)
    assert owner_refused.value.field == "owner_user_id"
    async with uow(world.a) as session:
        with pytest.raises(ValidationFailed) as task_refused:
            await disputes.create_task(
                session,
                owner_of(world.a),
                case.id,
                NewTask(assignee_user_id=viewer.id, team="sales", question="Price list?", due_on=IN_A_WEEK),
            )
    assert task_refused.value.field == "assignee_user_id"
    # A collaborator answers tasks but does not own cases.
    async with uow(world.a) as session:
        with pytest.raises(ValidationFailed):
            await disputes.assign_case(session, owner_of(world.a), case.id, world.a.collaborator.user_id)
    async with uow(world.a) as session:
        await disputes.create_task(
            session,
            owner_of(world.a),
            case.id,
            NewTask(assignee_user_id=world.a.collaborator.user_id, team="sales", question="Price list?", due_on=IN_A_WEEK),
        )
    assert (await _case(world.a, case.id)).owner_user_id is None


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (credit("300.00"), Outcome.VALID),
        (credit("120.00"), Outcome.PARTLY_VALID),
        (OptionInput(kind="redelivery", description="Ten new bearings"), Outcome.VALID),
        (OptionInput(kind="rejection", description="Delivered as ordered; signed note attached"), Outcome.INVALID),
    ],
)
async def test_the_resolve_form_suggests_the_outcome_the_accepted_option_implies(world, option, expected):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="300.00")])
    proposal, options = await propose(world.a, case.id, option)
    await accept(world.a, proposal.id, options[0].id)
    async with uow(world.a) as session:
        assert disputes.suggested_outcome(await disputes.case_details(session, owner_of(world.a), case.id)) is expected
