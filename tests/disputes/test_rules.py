"""The rules a dispute case keeps: the state machine, amounts never above what is open, four eyes on
credit, resolutions that write exactly what was agreed, and the knowledge around a case."""

from __future__ import annotations

import secrets
import uuid
from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.disputes import service as disputes
from backend.disputes.models import ApprovalStatus, DisputeState, Outcome
from backend.disputes.service import ItemInput, OptionInput, Resolution
from backend.disputes.states import ALLOWED
from backend.errors import Conflict, PermissionDenied, ValidationFailed
from backend.invoices import service as ledger
from backend.invoices.drafts import InvoiceDraft, LineDraft
from backend.invoices.models import InvoiceStatus
from backend.invoices.repository import InvoiceRepository
from backend.invoices.service import PaymentAllocation
from backend.tenants.models import Role
from tests.conftest import Supplier
from tests.disputes.helpers import accept, credit, open_case, propose, uow
from tests.disputes.team import add_member, audit_actions, ledger_of, set_threshold, trail_of
from tests.factories import make_buyer, make_invoice, owner_of

TODAY = date.today()
S = DisputeState
RESOLVED_AS = Resolution(outcome="partly_valid", root_cause_code="product_defect", note="Agreed by phone")


def english(error) -> str:
    return error.translated(lambda text: text)


async def snapshot(supplier: Supplier, case_id: uuid.UUID) -> tuple:
    async with uow(supplier) as session:
        case = await disputes.get_case(session, owner_of(supplier), case_id)
        return (case.state, case.version, case.outcome, case.closed_at, *await trail_of(supplier, case_id))


async def move(supplier: Supplier, case_id, target, principal=None, **details):
    async with uow(supplier) as session:
        return await disputes.move_case(session, principal or owner_of(supplier), case_id, target, **details)


async def resolve(supplier: Supplier, case_id, principal=None, resolution: Resolution = RESOLVED_AS):
    async with uow(supplier) as session:
        return await disputes.resolve_case(session, principal or owner_of(supplier), case_id, resolution)


async def decide(supplier: Supplier, approval_id, principal, *, approve: bool, note: str | None = None):
    async with uow(supplier) as session:
        return await disputes.decide_approval(session, principal, approval_id, approve=approve, note=note)


async def invoice_now(supplier: Supplier, invoice_id):
    async with uow(supplier) as session:
        return await ledger.get_invoice(session, owner_of(supplier), invoice_id)


async def lines_of(supplier: Supplier, invoice_id):
    async with uow(supplier) as session:
        return list(await InvoiceRepository(session).lines(invoice_id))


async def details_of(supplier: Supplier, case_id):
    async with uow(supplier) as session:
        return await disputes.case_details(session, owner_of(supplier), case_id)


async def agreed_case(supplier: Supplier, buyer_id, option: OptionInput, amount: str = "500.00", invoice=None):
    """A case on one invoice (1,130.00 unless given) whose buyer accepted `option`."""
    invoice = invoice or await make_invoice(supplier, buyer_id)
    case = await open_case(supplier, buyer_id, [ItemInput(invoice.id, amount=amount)])
    proposal, options = await propose(supplier, case.id, option)
    await accept(supplier, proposal.id, options[0].id)
    return case, invoice


def redelivery() -> OptionInput:
    return OptionInput(kind="redelivery", description="Replacement bearings ship next week")


# --- the state machine -----------------------------------------------------------------------------


async def _case_in(supplier: Supplier, buyer_id, state: DisputeState):
    """A case brought to `state` the way people do it."""
    invoice = await make_invoice(supplier, buyer_id)
    case = await open_case(supplier, buyer_id, [ItemInput(invoice.id, amount="100.00")])
    if state is S.OPEN:
        return case
    if state in (S.AGREED, S.RESOLVED):
        proposal, options = await propose(supplier, case.id, redelivery())
        await accept(supplier, proposal.id, options[0].id)
        if state is S.RESOLVED:
            assert (await resolve(supplier, case.id)).approval is None
        return case
    extra = {"note": "Delivery was complete; signed POD attached", "root_cause_code": "buyer_misunderstanding"}
    return await move(supplier, case.id, state, **(extra if state is S.REJECTED else {}))


async def test_every_move_the_machine_does_not_draw_is_a_409_that_changes_nothing(world):
    buyer_id = await make_buyer(world.a)
    refused = 0
    for state in S:
        case = await _case_in(world.a, buyer_id, state)
        before = await snapshot(world.a, case.id)
        assert before[0] is state
        for target in S:
            if target in ALLOWED[state] and target not in (S.AGREED, S.RESOLVED):
                continue
            with pytest.raises(Conflict) as error:
                await move(world.a, case.id, target, note="trying", root_cause_code="other")
            message = english(error.value)
            assert error.value.status_code == 409 and error.value.field == "state"
            assert str(error.value.params["state"]) in message, message
            if target not in (S.AGREED, S.RESOLVED):
                assert str(error.value.params["target"]) in message, message
            # Nothing moved, nothing was written: same state and version, no timeline event, no audit entry.
            assert await snapshot(world.a, case.id) == before, (state, target)
            refused += 1
    assert refused > 40  # the machine draws few edges: most pairs are refused


@pytest.mark.parametrize("target", [S.AGREED, S.RESOLVED])
async def test_agreeing_or_resolving_by_a_move_explains_how_it_is_done(world, target):
    buyer_id = await make_buyer(world.a)
    case = await _case_in(world.a, buyer_id, S.AGREED if target is S.RESOLVED else S.NEGOTIATING)
    before = await snapshot(world.a, case.id)
    with pytest.raises(Conflict) as error:
        await move(world.a, case.id, target)
    explained = "accepts a proposal" if target is S.AGREED else "carrying out its agreement"
    assert explained in english(error.value)
    assert await snapshot(world.a, case.id) == before


async def test_an_allowed_move_bumps_the_version_and_leaves_an_event_and_an_audit_entry(world):
    buyer_id = await make_buyer(world.a)
    case = await _case_in(world.a, buyer_id, S.OPEN)
    _state, version, *_rest, events, audited = await snapshot(world.a, case.id)
    moved = await move(world.a, case.id, S.ACKNOWLEDGED, version=version)
    assert moved.state is S.ACKNOWLEDGED and moved.version == version + 1
    assert (await trail_of(world.a, case.id)) == (events + 1, audited + 1)
    assert (await audit_actions(world.a, case.id))[-1] == "dispute.acknowledged"
    # Setting the phase it already has is no change: no new version, event or audit entry.
    async with uow(world.a) as session:
        same = await disputes.set_phase(session, owner_of(world.a), case.id, moved.phase, version=moved.version)
    assert same.version == moved.version and await trail_of(world.a, case.id) == (events + 1, audited + 1)
    # The version the person saw is now stale: the next move from it is told, and nothing changes.
    before = await snapshot(world.a, case.id)
    with pytest.raises(Conflict) as error:
        await move(world.a, case.id, S.UNDER_REVIEW, version=version)
    assert error.value.field == "version" and "reload" in english(error.value)
    assert await snapshot(world.a, case.id) == before


async def test_a_rejection_needs_the_reasons_and_a_root_cause_and_releases_the_hold(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="300.00")])
    before = await snapshot(world.a, case.id)
    with pytest.raises(ValidationFailed) as error:
        await move(world.a, case.id, S.REJECTED, root_cause_code="buyer_misunderstanding")
    assert error.value.field == "note"
    with pytest.raises(ValidationFailed) as error:
        await move(world.a, case.id, S.REJECTED, note="The goods met the specification")
    assert error.value.field == "root_cause_code"
    with pytest.raises(ValidationFailed) as error:
        await move(world.a, case.id, S.REJECTED, note="The goods met the specification", root_cause_code="no_such_cause")
    assert error.value.field == "root_cause_code"
    assert await snapshot(world.a, case.id) == before
    rejected = await move(
        world.a, case.id, S.REJECTED, note="The goods met the specification", root_cause_code="buyer_misunderstanding"
    )
    assert (rejected.state, rejected.outcome, rejected.root_cause_code) == (S.REJECTED, Outcome.INVALID, "buyer_misunderstanding")
    assert rejected.resolution_note == "The goods met the specification" and rejected.closed_at is not None
    held = await invoice_now(world.a, invoice.id)
    assert (held.disputed_amount, held.status, held.open_amount) == (D("0"), InvoiceStatus.ISSUED, D("1130.00"))
    # The audit entry's "before" is the case as it was, not as the rejection left it.
    async with uow(world.a) as session:
        from sqlalchemy import select

        from backend.audit.models import AuditEvent

        entry = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.object_id == str(case.id), AuditEvent.action == "dispute.rejected")
            )
        ).one()
    assert (entry.before["state"], entry.before["outcome"], entry.before["root_cause_code"]) == ("open", None, None)
    assert (entry.after["state"], entry.after["outcome"]) == ("rejected", "invalid")


# --- amounts never above what is open -----------------------------------------------------------


async def _nothing_stored(supplier: Supplier, buyer_id, *invoice_ids) -> None:
    async with uow(supplier) as session:
        profile = await disputes.buyer_profile(session, owner_of(supplier), buyer_id)
    assert profile.cases_total == 0
    for invoice_id in invoice_ids:
        invoice = await invoice_now(supplier, invoice_id)
        assert invoice.disputed_amount == 0 and invoice.status is InvoiceStatus.ISSUED


async def test_a_disputed_amount_above_what_is_open_is_refused_and_nothing_is_stored(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id, lines=[("Bearing", "10", "100.00", "13"), ("Seal", "5", "100.00", "13")])
    # 1,130.00 + 565.00 = 1,695.00 open
    with pytest.raises(ValidationFailed) as error:
        await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="1695.01")])
    assert error.value.field == "items" and "1695.00" in english(error.value)
    line_one, line_two = await lines_of(world.a, invoice.id)
    with pytest.raises(ValidationFailed) as error:
        await open_case(world.a, buyer_id, [ItemInput(invoice.id, line_two.id, "565.01")])
    assert error.value.field == "items" and "565.00" in english(error.value)
    # Two lines that each fit but together pass what is open, once a payment took part of it.
    async with uow(world.a) as session:
        await ledger.record_payment(
            session,
            owner_of(world.a),
            buyer_id=buyer_id,
            amount="1000.00",
            currency="CNY",
            allocations=[PaymentAllocation(invoice.id, "1000.00")],
        )
    with pytest.raises(ValidationFailed) as error:
        await open_case(
            world.a, buyer_id, [ItemInput(invoice.id, line_one.id, "400.00"), ItemInput(invoice.id, line_two.id, "300.00")]
        )
    assert error.value.field == "items" and "695.00" in english(error.value)
    with pytest.raises(ValidationFailed) as error:
        await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="-5")])
    assert error.value.field == "items"
    async with uow(world.a) as session:
        profile = await disputes.buyer_profile(session, owner_of(world.a), buyer_id)
    assert profile.cases_total == 0
    after = await invoice_now(world.a, invoice.id)
    assert (after.disputed_amount, after.open_amount) == (D("0"), D("695.00"))


async def test_two_cases_on_one_invoice_never_together_dispute_more_than_is_open(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)  # 1,130.00
    first = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="800.00")])
    with pytest.raises(ValidationFailed) as error:
        await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="400.00")])
    assert error.value.field == "items" and "330.00" in english(error.value)
    (line,) = await lines_of(world.a, invoice.id)
    with pytest.raises(ValidationFailed) as error:
        await open_case(world.a, buyer_id, [ItemInput(invoice.id, line.id, "330.01")])
    assert error.value.field == "items"
    # Without an amount, the second case takes what is left; then nothing is left.
    second = await open_case(world.a, buyer_id, [ItemInput(invoice.id)])
    assert second.disputed_amount == D("330.00")
    with pytest.raises(ValidationFailed) as error:
        await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="0.01")])
    assert error.value.field == "items" and "(0.00)" in english(error.value)
    held = await invoice_now(world.a, invoice.id)
    assert (held.disputed_amount, held.status) == (D("1130.00"), InvoiceStatus.DISPUTED)
    # Withdrawing one case frees its part for a new one.
    await move(world.a, first.id, S.WITHDRAWN, note="Buyer found the goods")
    assert (await invoice_now(world.a, invoice.id)).disputed_amount == D("330.00")
    third = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="800.00")])
    assert third.disputed_amount == D("800.00")


async def test_a_line_cannot_be_disputed_above_its_gross_even_with_more_open_on_the_invoice(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id, lines=[("Bearing", "10", "100.00", "13"), ("Seal", "1", "100.00", "13")])
    _bearing, seal = await lines_of(world.a, invoice.id)  # seal: 113.00 of 1,243.00
    with pytest.raises(ValidationFailed) as error:
        await open_case(world.a, buyer_id, [ItemInput(invoice.id, seal.id, "113.01")])
    assert error.value.field == "items" and "113.00" in english(error.value)
    await open_case(world.a, buyer_id, [ItemInput(invoice.id, seal.id, "100.00")])
    with pytest.raises(ValidationFailed) as error:
        await open_case(world.a, buyer_id, [ItemInput(invoice.id, seal.id, "13.01")])
    assert error.value.field == "items" and "13.00" in english(error.value)
    assert (await invoice_now(world.a, invoice.id)).disputed_amount == D("100.00")


async def test_another_buyers_or_tenants_invoice_cannot_be_disputed(world):
    buyer_id = await make_buyer(world.a)
    other_buyer = await make_buyer(world.a, "Other Buyer Ltd")
    theirs = await make_invoice(world.a, other_buyer)
    with pytest.raises(ValidationFailed) as error:
        await open_case(world.a, buyer_id, [ItemInput(theirs.id)])
    assert error.value.field == "items"
    b_buyer = await make_buyer(world.b)
    b_invoice = await make_invoice(world.b, b_buyer)
    with pytest.raises(ValidationFailed):
        await open_case(world.a, buyer_id, [ItemInput(b_invoice.id)])
    with pytest.raises(ValidationFailed) as error:
        await open_case(world.a, b_buyer, [ItemInput(b_invoice.id)])
    assert error.value.field == "buyer_id"
    await _nothing_stored(world.a, other_buyer, theirs.id)
    await _nothing_stored(world.b, b_buyer, b_invoice.id)


# --- four eyes ---------------------------------------------------------------------------------------


async def test_the_requester_cannot_approve_their_own_credit_and_another_credit_manager_can(world):
    buyer_id = await make_buyer(world.a)
    case, _invoice = await agreed_case(world.a, buyer_id, credit("300.00"))
    requested = await resolve(world.a, case.id)  # no threshold set: any credit waits for a second person
    approval = requested.approval
    assert approval is not None and approval.status is ApprovalStatus.PENDING and requested.case.state is S.AGREED
    assert await ledger_of(world.a, buyer_id) == []
    with pytest.raises(Conflict) as error:
        await decide(world.a, approval.id, owner_of(world.a), approve=True)
    assert "Four eyes" in english(error.value)
    assert (await details_of(world.a, case.id)).pending_approval.id == approval.id
    assert await ledger_of(world.a, buyer_id) == []
    manager = await add_member(world.a, Role.CREDIT_MANAGER, "Mei Credit")
    decided = await decide(world.a, approval.id, manager, approve=True, note="Photos convincing")
    assert (decided.status, decided.decided_by_user_id) == (ApprovalStatus.APPROVED, manager.id)
    assert await ledger_of(world.a, buyer_id) == [("credit_note", D("300.00"))]
    details = await details_of(world.a, case.id)
    assert (details.case.state, details.case.credited_amount) == (S.RESOLVED, D("300.00"))
    actions = await audit_actions(world.a, case.id)
    assert actions[-3:] == ["dispute.approval_requested", "dispute.approval_approved", "dispute.resolved"]
    # Decided once: a second decision is told who decided.
    other = await add_member(world.a, Role.ADMIN, "Second Admin")
    with pytest.raises(Conflict) as error:
        await decide(world.a, approval.id, other, approve=True)
    assert "Mei" in english(error.value) or manager.label in english(error.value)


async def test_a_collaborator_or_collector_cannot_approve(world):
    buyer_id = await make_buyer(world.a)
    case, _invoice = await agreed_case(world.a, buyer_id, credit("300.00"))
    approval = (await resolve(world.a, case.id)).approval
    collector = await add_member(world.a, Role.COLLECTOR, "Carl Collector")
    collaborator = await add_member(world.a, Role.COLLABORATOR, "Sam Sales")
    for person in (collector, collaborator):
        with pytest.raises(PermissionDenied):
            await decide(world.a, approval.id, person, approve=True)
    assert (await details_of(world.a, case.id)).pending_approval is not None
    assert await ledger_of(world.a, buyer_id) == []


async def test_a_refused_approval_leaves_the_case_agreed_with_no_ledger_entry(world):
    buyer_id = await make_buyer(world.a)
    case, invoice = await agreed_case(world.a, buyer_id, credit("300.00"))
    approval = (await resolve(world.a, case.id)).approval
    manager = await add_member(world.a, Role.CREDIT_MANAGER, "Mei Credit")
    with pytest.raises(ValidationFailed) as error:
        await decide(world.a, approval.id, manager, approve=False)
    assert error.value.field == "note"
    refused = await decide(world.a, approval.id, manager, approve=False, note="No photos of the damage yet")
    assert refused.status is ApprovalStatus.REFUSED
    details = await details_of(world.a, case.id)
    assert details.case.state is S.AGREED and details.pending_approval is None
    assert await ledger_of(world.a, buyer_id) == []
    held = await invoice_now(world.a, invoice.id)
    assert (held.disputed_amount, held.status) == (D("500.00"), InvoiceStatus.DISPUTED)
    # The requester may ask again; a new approval waits.
    again = await resolve(world.a, case.id)
    assert again.approval is not None and again.approval.id != approval.id


async def test_below_the_tenant_threshold_a_credit_manager_resolves_directly(world):
    buyer_id = await make_buyer(world.a)
    await set_threshold(world.a, "CNY", "250.00")
    manager = await add_member(world.a, Role.CREDIT_MANAGER, "Mei Credit")
    collector = await add_member(world.a, Role.COLLECTOR, "Carl Collector")
    below, _invoice = await agreed_case(world.a, buyer_id, credit("250.00"))
    result = await resolve(world.a, below.id, manager)
    assert result.approval is None and result.case.state is S.RESOLVED
    assert await ledger_of(world.a, buyer_id) == [("credit_note", D("250.00"))]
    # Above the threshold, or asked by someone who may not approve, a second person is needed.
    above, _invoice = await agreed_case(world.a, buyer_id, credit("250.01"))
    assert (await resolve(world.a, above.id, manager)).approval is not None
    small, _invoice = await agreed_case(world.a, buyer_id, credit("10.00"))
    assert (await resolve(world.a, small.id, collector)).approval is not None
    # A threshold in another currency does not count for this one.
    await set_threshold(world.a, "USD", "100000")
    assert len(await ledger_of(world.a, buyer_id)) == 1


async def test_an_approval_of_an_agreement_that_fell_through_cannot_carry_out_the_next_one(world):
    buyer_id = await make_buyer(world.a)
    case, _invoice = await agreed_case(world.a, buyer_id, credit("100.00"))
    approval = (await resolve(world.a, case.id)).approval
    # The buyer goes back on the agreement; a larger credit is agreed instead.
    await move(world.a, case.id, S.NEGOTIATING, note="Buyer wants more")
    details = await details_of(world.a, case.id)
    assert details.pending_approval is None
    assert next(a for a in details.approvals if a.id == approval.id).status is ApprovalStatus.REFUSED
    proposal, options = await propose(world.a, case.id, credit("450.00"))
    await accept(world.a, proposal.id, options[0].id)
    manager = await add_member(world.a, Role.CREDIT_MANAGER, "Mei Credit")
    with pytest.raises(Conflict):
        await decide(world.a, approval.id, manager, approve=True)
    assert await ledger_of(world.a, buyer_id) == []
    # The new agreement asks for its own approval.
    fresh = (await resolve(world.a, case.id)).approval
    assert fresh.credit_amount == D("450.00")
    await decide(world.a, fresh.id, manager, approve=True)
    assert await ledger_of(world.a, buyer_id) == [("credit_note", D("450.00"))]


# --- what a resolution writes -------------------------------------------------------------------------


async def test_a_credit_note_spreads_over_the_items_earliest_due_first_one_document_per_invoice(world):
    buyer_id = await make_buyer(world.a)
    await set_threshold(world.a, "CNY", "100000")
    later = await make_invoice(world.a, buyer_id, due_date=TODAY + timedelta(days=40))  # 1,130.00
    earlier = await make_invoice(
        world.a,
        buyer_id,
        lines=[("Bearing", "10", "100.00", "13"), ("Seal", "5", "100.00", "13")],
        due_date=TODAY + timedelta(days=5),
    )  # 1,695.00
    bearing, seal = await lines_of(world.a, earlier.id)
    case = await open_case(
        world.a,
        buyer_id,
        [
            ItemInput(later.id, amount="400.00"),
            ItemInput(earlier.id, bearing.id, "200.00"),
            ItemInput(earlier.id, seal.id, "100.00"),
        ],
    )
    assert case.disputed_amount == D("700.00")
    proposal, options = await propose(world.a, case.id, credit("500.00"))
    await accept(world.a, proposal.id, options[0].id)
    result = await resolve(world.a, case.id)
    assert result.approval is None
    # Earliest due first: 300.00 on the earlier invoice (its two lines in full), 200.00 of the later one's 400.00.
    assert sorted(await ledger_of(world.a, buyer_id)) == [("credit_note", D("200.00")), ("credit_note", D("300.00"))]
    details = await details_of(world.a, case.id)
    settled = {
        (entry.invoice.id, line.id if line else None): item.settled_amount
        for entry in details.invoices
        for item, line in entry.items
    }
    assert settled == {(earlier.id, bearing.id): D("200.00"), (earlier.id, seal.id): D("100.00"), (later.id, None): D("200.00")}
    case = details.case
    assert (case.state, case.credited_amount, case.written_off_amount, case.collected_amount) == (
        S.RESOLVED,
        D("500.00"),
        D("0"),
        D("0"),
    )
    assert (case.outcome, case.root_cause_code) == (Outcome.PARTLY_VALID, "product_defect")
    # The holds are gone; what was not credited is payable again.
    for invoice_id, open_amount in ((earlier.id, D("1395.00")), (later.id, D("930.00"))):
        after = await invoice_now(world.a, invoice_id)
        assert (after.disputed_amount, after.open_amount, after.status) == (D("0"), open_amount, InvoiceStatus.ISSUED)
        assert ledger.invoice_balance(after, TODAY).undisputed == open_amount
    resolved = next(e for e in details.events if e.kind == "resolved")
    assert len(resolved.data["entries"]) == 2


async def test_a_write_off_and_what_the_buyer_paid_during_the_case_are_the_case_figures(world):
    buyer_id = await make_buyer(world.a)
    await set_threshold(world.a, "CNY", "100000")
    invoice = await make_invoice(world.a, buyer_id)  # 1,130.00
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id)])  # the whole invoice
    async with uow(world.a) as session:
        await ledger.record_payment(
            session,
            owner_of(world.a),
            buyer_id=buyer_id,
            amount="500.00",
            currency="CNY",
            allocations=[PaymentAllocation(invoice.id, "500.00")],
        )
    proposal, options = await propose(
        world.a, case.id, OptionInput(kind="write_off", amount="630.00", description="Not worth chasing")
    )
    await accept(world.a, proposal.id, options[0].id)
    result = await resolve(world.a, case.id)
    assert result.approval is None
    case = result.case
    assert (case.disputed_amount, case.credited_amount, case.written_off_amount, case.collected_amount) == (
        D("1130.00"),
        D("0"),
        D("630.00"),
        D("500.00"),
    )
    after = await invoice_now(world.a, invoice.id)
    assert (after.open_amount, after.disputed_amount, after.status) == (D("0"), D("0"), InvoiceStatus.WRITTEN_OFF)


async def test_a_price_correction_writes_a_downward_adjustment(world):
    buyer_id = await make_buyer(world.a)
    await set_threshold(world.a, "CNY", "100000")
    case, invoice = await agreed_case(
        world.a,
        buyer_id,
        OptionInput(kind="price_correction", amount="200.00", description="Contract price 80.00"),
        amount="300.00",
    )
    assert (await resolve(world.a, case.id)).approval is None
    assert await ledger_of(world.a, buyer_id) == [("adjustment", D("-200.00"))]
    after = await invoice_now(world.a, invoice.id)
    assert (after.open_amount, after.disputed_amount, after.status) == (D("930.00"), D("0"), InvoiceStatus.ISSUED)
    details = await details_of(world.a, case.id)
    assert details.case.credited_amount == D("200.00")
    assert [item.settled_amount for entry in details.invoices for item, _line in entry.items] == [D("200.00")]


async def test_an_instalment_plan_creates_the_schedule_and_leaves_the_amount_payable(world):
    buyer_id = await make_buyer(world.a)
    plan = [(TODAY + timedelta(days=30), "500.00"), (TODAY + timedelta(days=60), "630.00")]
    case, invoice = await agreed_case(world.a, buyer_id, OptionInput(kind="instalments", schedule=plan), amount="1130.00")
    # No credit, no write-off: nothing for a second person; the collector may carry it out.
    collector = await add_member(world.a, Role.COLLECTOR, "Carl Collector")
    result = await resolve(world.a, case.id, collector)
    assert result.approval is None and result.case.state is S.RESOLVED
    details = await details_of(world.a, case.id)
    assert [(i.seq, i.due_on, i.amount, i.status) for i in details.instalments] == [
        (1, plan[0][0], D("500.00"), "due"),
        (2, plan[1][0], D("630.00"), "due"),
    ]
    assert await ledger_of(world.a, buyer_id) == []
    after = await invoice_now(world.a, invoice.id)
    assert (after.open_amount, after.disputed_amount, after.status) == (D("1130.00"), D("0"), InvoiceStatus.ISSUED)


async def test_resolving_needs_an_agreed_case_a_known_outcome_and_root_cause(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="100.00")])
    with pytest.raises(Conflict) as error:
        await resolve(world.a, case.id)
    assert "only an agreed case" in english(error.value)
    agreed, _invoice = await agreed_case(world.a, buyer_id, redelivery())
    before = await snapshot(world.a, agreed.id)
    with pytest.raises(ValidationFailed) as error:
        await resolve(world.a, agreed.id, resolution=Resolution(outcome="maybe", root_cause_code="other"))
    assert error.value.field == "outcome"
    with pytest.raises(ValidationFailed) as error:
        await resolve(world.a, agreed.id, resolution=Resolution(outcome="valid", root_cause_code="moon_phase"))
    assert error.value.field == "root_cause_code"
    assert await snapshot(world.a, agreed.id) == before


# --- similar cases and the buyer's profile -----------------------------------------------------------


async def _invoice_with_skus(supplier: Supplier, buyer_id, *skus: str):
    draft = InvoiceDraft(
        number=f"INV-{secrets.token_hex(4).upper()}",
        buyer_reference="",
        currency="CNY",
        issue_date=TODAY - timedelta(days=10),
        due_date=None,
        lines=[
            LineDraft(description=f"Part {sku}", quantity=D("1"), unit_price=D("100.00"), tax_rate=D("13"), sku=sku)
            for sku in skus
        ],
    )
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        invoice = await ledger.create_invoice(session, owner_of(supplier), draft, buyer_id=buyer_id)
        return await ledger.issue_invoice(session, owner_of(supplier), invoice.id)


async def test_similar_cases_are_the_buyers_own_and_closed_ones_with_the_same_reason_and_product(world):
    buyer_id = await make_buyer(world.a, "Acme Trading Ltd")
    other_buyer = await make_buyer(world.a, "Beta Machinery Co")
    earlier = await open_case(
        world.a, buyer_id, [ItemInput((await _invoice_with_skus(world.a, buyer_id, "SKU-9")).id)], reason="price"
    )
    current_invoice = await _invoice_with_skus(world.a, buyer_id, "SKU-1", "SKU-2")
    sku_two = (await lines_of(world.a, current_invoice.id))[1]
    current = await open_case(world.a, buyer_id, [ItemInput(current_invoice.id, sku_two.id, "50.00")])

    async def closed(skus, reason="quality", how=S.REJECTED):
        invoice = await _invoice_with_skus(world.a, other_buyer, *skus)
        case = await open_case(world.a, other_buyer, [ItemInput(invoice.id)], reason=reason)
        return await move(world.a, case.id, how, note="Specification met", root_cause_code="buyer_misunderstanding")

    same = await closed(["SKU-2", "SKU-7"])
    await closed(["SKU-1"])  # a product on the invoice, but not on the disputed line
    await closed(["SKU-2"], reason="late_delivery")
    still_open_invoice = await _invoice_with_skus(world.a, other_buyer, "SKU-2")
    await open_case(world.a, other_buyer, [ItemInput(still_open_invoice.id)])
    withdrawn = await closed(["SKU-2"], how=S.WITHDRAWN)
    # Supplier B's closed case with the same reason and SKU is never A's knowledge.
    b_buyer = await make_buyer(world.b)
    b_invoice = await _invoice_with_skus(world.b, b_buyer, "SKU-2")
    b_case = await open_case(world.b, b_buyer, [ItemInput(b_invoice.id)])
    await move(world.b, b_case.id, S.REJECTED, note="No", root_cause_code="other")

    async with uow(world.a) as session:
        similar = await disputes.similar_cases(session, owner_of(world.a), current.id)
    assert [c.id for c in similar.of_buyer] == [earlier.id]
    assert [(c.id, name) for c, name in similar.same_reason_and_product] == [(same.id, "Beta Machinery Co")]
    assert withdrawn.id not in [c.id for c, _name in similar.same_reason_and_product]
    assert similar.skus == ["SKU-2"]
    # Another tenant asking about A's case: 404.
    from backend.errors import NotFound

    with pytest.raises(NotFound):
        async with uow(world.b) as session:
            await disputes.similar_cases(session, owner_of(world.b), current.id)


async def test_the_buyer_profile_sums_the_dispute_history_and_the_balance(world):
    buyer_id = await make_buyer(world.a)
    await set_threshold(world.a, "CNY", "100000")
    credited, _invoice = await agreed_case(world.a, buyer_id, credit("200.00"), amount="300.00")
    await resolve(world.a, credited.id)
    in_progress_invoice = await make_invoice(world.a, buyer_id)
    await open_case(world.a, buyer_id, [ItemInput(in_progress_invoice.id, amount="150.00")], reason="late_delivery")
    third_invoice = await make_invoice(world.a, buyer_id)
    await open_case(world.a, buyer_id, [ItemInput(third_invoice.id, amount="50.00")])
    async with uow(world.a) as session:
        profile = await disputes.buyer_profile(session, owner_of(world.a), buyer_id)
    assert (profile.cases_total, profile.cases_in_progress) == (3, 2)
    assert profile.disputed_by_currency == {"CNY": D("500.00")}
    assert profile.settled_by_currency == {"CNY": D("200.00")}
    assert profile.reasons == {"quality": 2, "late_delivery": 1}
    assert list(profile.reasons) == ["quality", "late_delivery"]  # most frequent first
    (balance,) = profile.balances
    # Open: 930.00 + 1,130.00 + 1,130.00 = 3,190.00; held: 150.00 + 50.00
    assert (balance.open, balance.disputed, balance.undisputed) == (D("3190.00"), D("200.00"), D("2990.00"))
    with pytest.raises(Exception) as error:
        async with uow(world.b) as session:
            await disputes.buyer_profile(session, owner_of(world.b), buyer_id)
    assert error.value.status_code == 404


async def test_every_step_of_the_negotiation_moves_the_case_version_on(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="300.00")])
    manager = await add_member(world.a, Role.CREDIT_MANAGER, "Mei Credit")
    seen = [case.version]

    async def version_after(step):
        async with uow(world.a) as session:
            await step(session)
            case_now = await disputes.get_case(session, owner_of(world.a), case.id)
            await session.flush()
            return case_now.version

    steps = [
        lambda s: disputes.create_proposal(s, owner_of(world.a), case.id, [credit("100.00")], version=seen[-1]),
        # Declined: the case stays negotiating in the middle phase, yet the answer is a change.
        lambda s: _answer_latest(s, owner_of(world.a), case.id, "decline", seen[-1]),
        lambda s: disputes.create_proposal(s, owner_of(world.a), case.id, [credit("150.00")], version=seen[-1]),
        lambda s: _answer_latest(s, owner_of(world.a), case.id, "accept", seen[-1]),
        lambda s: disputes.resolve_case(s, owner_of(world.a), case.id, RESOLVED_AS, version=seen[-1]),
    ]
    for step in steps:
        seen.append(await version_after(step))
    approval = (await details_of(world.a, case.id)).pending_approval
    await decide(world.a, approval.id, manager, approve=False, note="Not yet")
    seen.append((await details_of(world.a, case.id)).case.version)
    assert seen == list(range(seen[0], seen[0] + len(seen))), seen
    # A proposal made from a version someone else has since moved on is refused, and nothing is offered.
    with pytest.raises(Conflict) as error:
        async with uow(world.a) as session:
            await disputes.create_proposal(session, owner_of(world.a), case.id, [credit("10.00")], version=seen[-2])
    assert error.value.field == "version"


async def _answer_latest(session, principal, case_id, response: str, version: int):
    details = await disputes.case_details(session, principal, case_id)
    proposal, options = details.proposals[-1]
    return await disputes.respond_to_proposal(
        session,
        principal,
        proposal.id,
        response,
        option_id=options[0].id if response == "accept" else None,
        on_behalf_of="Li Na (AP)",
        version=version,
    )


async def test_a_closed_case_reopens_only_if_what_it_disputes_still_fits(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)  # 1,130.00
    rejected = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="800.00")])
    async with uow(world.a) as session:
        await disputes.move_case(
            session,
            owner_of(world.a),
            rejected.id,
            "rejected",
            note="Delivered as ordered.",
            root_cause_code="buyer_misunderstanding",
        )
    # Since the rejection another case holds 500.00 of the 1,130.00: 800.00 more no longer fits.
    await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="500.00")])
    async with uow(world.a) as session:
        with pytest.raises(Conflict) as refused:
            await disputes.move_case(session, owner_of(world.a), rejected.id, "under_review")
    assert refused.value.status_code == 409 and refused.value.params["number"] == invoice.number
    async with uow(world.a) as session:
        case = await disputes.get_case(session, owner_of(world.a), rejected.id)
        assert case.state is DisputeState.REJECTED
