"""The workflow's spine through the service: register, propose, accept, resolve; holds follow."""

from __future__ import annotations

from decimal import Decimal as D

from backend.disputes import service as disputes
from backend.disputes.models import DisputeState
from backend.disputes.service import ItemInput, Resolution
from backend.invoices import service as ledger
from backend.invoices.models import InvoiceStatus
from tests.disputes.helpers import accept, credit, open_case, propose, uow
from tests.factories import make_buyer, make_invoice, owner_of


async def test_a_whole_invoice_dispute_is_held_then_credited_and_resolved(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)  # 1,130.00
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="300.00")])
    assert case.number.startswith("D-") and case.disputed_amount == D("300.00")
    async with uow(world.a) as session:
        held = await ledger.get_invoice(session, owner_of(world.a), invoice.id)
        assert (held.status, held.disputed_amount) == (InvoiceStatus.DISPUTED, D("300.00"))
    proposal, options = await propose(world.a, case.id, credit("200.00"))
    await accept(world.a, proposal.id, options[0].id)
    async with uow(world.a) as session:
        result = await disputes.resolve_case(
            session, owner_of(world.a), case.id, Resolution(outcome="partly_valid", root_cause_code="product_defect")
        )
    # No threshold set: any credit needs a second person.
    assert result.approval is not None
    assert result.case.state is DisputeState.AGREED
