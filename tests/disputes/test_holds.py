"""What a dispute holds out of collection: only the disputed part, never more than is open, released
when the case ends. The undisputed rest stays payable and is what an unnamed payment pays first."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

from backend.disputes import service as disputes
from backend.disputes.models import DisputeState
from backend.disputes.service import ItemInput, Resolution
from backend.invoices import service as ledger
from backend.invoices import statements
from backend.invoices.models import InvoiceStatus
from backend.invoices.repository import InvoiceRepository
from backend.invoices.service import PaymentAllocation
from tests.conftest import Supplier
from tests.disputes.helpers import accept, credit, open_case, propose, uow
from tests.disputes.team import set_threshold
from tests.factories import make_buyer, make_invoice, owner_of

TODAY = date.today()
THREE_LINES = [("Bearing 6204", "10", "100.00", "13"), ("Seal kit", "5", "100.00", "13"), ("Grease", "2", "100.00", "13")]


async def invoice_now(supplier: Supplier, invoice_id):
    async with uow(supplier) as session:
        return await ledger.get_invoice(session, owner_of(supplier), invoice_id)


async def pay(supplier: Supplier, buyer_id, amount: str, allocations=None):
    async with uow(supplier) as session:
        return await ledger.record_payment(
            session, owner_of(supplier), buyer_id=buyer_id, amount=amount, currency="CNY", allocations=allocations
        )


async def balance_of(supplier: Supplier, buyer_id):
    async with uow(supplier) as session:
        (balance,) = await ledger.buyer_balances(session, owner_of(supplier), buyer_id)
        return balance


async def test_a_line_level_partial_dispute_leaves_the_undisputed_amount_payable_and_in_collection(world):
    buyer_id = await make_buyer(world.a)
    older = await make_invoice(world.a, buyer_id, issue_date=TODAY - timedelta(days=50))  # 1,130.00, due 20 days ago
    invoice = await make_invoice(world.a, buyer_id, lines=THREE_LINES)  # 1,130.00 + 565.00 + 226.00 = 1,921.00
    async with uow(world.a) as session:
        _bearing, seals, _grease = await InvoiceRepository(session).lines(invoice.id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, seals.id, "200.00")], reason="quantity")
    assert case.disputed_amount == D("200.00")

    held = await invoice_now(world.a, invoice.id)
    assert (held.status, held.disputed_amount, held.open_amount) == (InvoiceStatus.DISPUTED, D("200.00"), D("1921.00"))
    balance = ledger.invoice_balance(held, TODAY)
    assert (balance.open, balance.disputed, balance.undisputed) == (D("1921.00"), D("200.00"), D("1721.00"))
    # The buyer's balance and statement: 3,051.00 open, of which 200.00 disputed and 2,851.00 not.
    buyer = await balance_of(world.a, buyer_id)
    assert (buyer.open, buyer.disputed, buyer.undisputed) == (D("3051.00"), D("200.00"), D("2851.00"))
    async with uow(world.a) as session:
        statement = await statements.statement_of_account(session, owner_of(world.a), buyer_id)
    by_number = {item.number: item for item in statement.items}
    assert (by_number[invoice.number].open_amount, by_number[invoice.number].disputed_amount) == (D("1921.00"), D("200.00"))
    assert by_number[older.number].disputed_amount == D("0")
    assert statement.figures("CNY").disputed == D("200.00") and statement.figures("CNY").open == D("3051.00")

    # A payment naming no invoice pays what is not disputed, oldest first: the older invoice in full,
    # then 1,000.00 of this one's 1,721.00 undisputed; the disputed 200.00 stays open.
    await pay(world.a, buyer_id, "2130.00")
    assert (await invoice_now(world.a, older.id)).status is InvoiceStatus.PAID
    after = await invoice_now(world.a, invoice.id)
    assert (after.open_amount, after.disputed_amount, after.status) == (D("921.00"), D("200.00"), InvoiceStatus.DISPUTED)
    # Exactly the rest of the undisputed part: the invoice is left with what is disputed, still held.
    await pay(world.a, buyer_id, "721.00")
    after = await invoice_now(world.a, invoice.id)
    assert (after.open_amount, after.disputed_amount, after.status) == (D("200.00"), D("200.00"), InvoiceStatus.DISPUTED)
    assert ledger.invoice_balance(after, TODAY).undisputed == D("0")

    # Withdrawing the case releases the hold: the 200.00 is in collection again.
    async with uow(world.a) as session:
        withdrawn = await disputes.move_case(
            session, owner_of(world.a), case.id, "withdrawn", note="Seals found in the warehouse"
        )
    assert withdrawn.state is DisputeState.WITHDRAWN
    released = await invoice_now(world.a, invoice.id)
    assert (released.open_amount, released.disputed_amount, released.status) == (
        D("200.00"),
        D("0"),
        InvoiceStatus.PARTIALLY_PAID,
    )
    buyer = await balance_of(world.a, buyer_id)
    assert (buyer.open, buyer.disputed, buyer.undisputed) == (D("200.00"), D("0"), D("200.00"))


async def test_an_unnamed_payment_pays_every_invoices_undisputed_part_before_any_disputed_part(world):
    buyer_id = await make_buyer(world.a)
    first = await make_invoice(world.a, buyer_id, issue_date=TODAY - timedelta(days=40))  # 1,130.00, oldest
    second = await make_invoice(world.a, buyer_id, issue_date=TODAY - timedelta(days=20))  # 1,130.00
    await open_case(world.a, buyer_id, [ItemInput(first.id, amount="1000.00")])
    await open_case(world.a, buyer_id, [ItemInput(second.id, amount="100.00")])
    # Undisputed: 130.00 on the first, 1,030.00 on the second = 1,160.00; the payment is 1,200.00.
    await pay(world.a, buyer_id, "1200.00")
    one, two = await invoice_now(world.a, first.id), await invoice_now(world.a, second.id)
    # Both undisputed parts paid; the 40.00 left over goes to the oldest disputed part.
    assert (one.open_amount, one.disputed_amount) == (D("960.00"), D("960.00"))
    assert (two.open_amount, two.disputed_amount) == (D("100.00"), D("100.00"))
    # A payment that names the invoice may pay the disputed part: the buyer chose to.
    await pay(world.a, buyer_id, "100.00", [PaymentAllocation(second.id, "100.00")])
    two = await invoice_now(world.a, second.id)
    assert (two.open_amount, two.disputed_amount, two.status) == (D("0"), D("0"), InvoiceStatus.PAID)


async def test_the_hold_is_never_above_what_is_open(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)  # 1,130.00
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="1000.00")])
    await pay(world.a, buyer_id, "700.00", [PaymentAllocation(invoice.id, "700.00")])
    after = await invoice_now(world.a, invoice.id)
    assert (after.open_amount, after.disputed_amount) == (D("430.00"), D("430.00"))
    async with uow(world.a) as session:
        details = await disputes.case_details(session, owner_of(world.a), case.id)
    (entry,) = details.invoices
    assert (entry.disputed, entry.held, details.held) == (D("1000.00"), D("430.00"), D("430.00"))
    buyer = await balance_of(world.a, buyer_id)
    assert (buyer.open, buyer.disputed, buyer.undisputed) == (D("430.00"), D("430.00"), D("0"))


async def test_after_a_resolution_nothing_is_held_and_the_rest_is_payable(world):
    buyer_id = await make_buyer(world.a)
    await set_threshold(world.a, "CNY", "10000")
    invoice = await make_invoice(world.a, buyer_id, lines=THREE_LINES)  # 1,921.00
    async with uow(world.a) as session:
        bearing, seals, _grease = await InvoiceRepository(session).lines(invoice.id)
    case = await open_case(
        world.a, buyer_id, [ItemInput(invoice.id, bearing.id, "300.00"), ItemInput(invoice.id, seals.id, "100.00")]
    )
    proposal, options = await propose(world.a, case.id, credit("250.00"))
    await accept(world.a, proposal.id, options[0].id)
    async with uow(world.a) as session:
        result = await disputes.resolve_case(
            session, owner_of(world.a), case.id, Resolution(outcome="partly_valid", root_cause_code="logistics")
        )
    assert result.approval is None and result.case.state is DisputeState.RESOLVED
    after = await invoice_now(world.a, invoice.id)
    # 1,921.00 − 250.00 credited = 1,671.00, all of it payable: the 150.00 not credited is no longer held.
    assert (after.open_amount, after.disputed_amount, after.status) == (D("1671.00"), D("0"), InvoiceStatus.ISSUED)
    assert ledger.invoice_balance(after, TODAY).undisputed == D("1671.00")
    # The closed case names what it disputed (150.00 not credited) but holds none of it.
    async with uow(world.a) as session:
        details = await disputes.case_details(session, owner_of(world.a), case.id)
    assert [(entry.disputed, entry.held) for entry in details.invoices] == [(D("150.00"), D("0"))]
    await pay(world.a, buyer_id, "1671.00")
    assert (await invoice_now(world.a, invoice.id)).status is InvoiceStatus.PAID


async def test_a_case_paid_in_full_closes_by_itself_and_releases_nothing_it_does_not_hold(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)  # 1,130.00
    other = await make_invoice(world.a, buyer_id)
    case = await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="300.00")])
    kept = await open_case(world.a, buyer_id, [ItemInput(other.id, amount="50.00")])
    await pay(world.a, buyer_id, "1130.00", [PaymentAllocation(invoice.id, "1130.00")])
    async with uow(world.a) as session:
        closed = await disputes.check_settled(session, owner_of(world.a), case.id)
        untouched = await disputes.check_settled(session, owner_of(world.a), kept.id)
    assert (closed, untouched) == (True, False)
    async with uow(world.a) as session:
        details = await disputes.case_details(session, owner_of(world.a), case.id)
    assert (details.case.state, details.case.collected_amount) == (DisputeState.RESOLVED, D("300.00"))
    assert details.events[-1].kind == "closed_settled"
    assert (await invoice_now(world.a, other.id)).disputed_amount == D("50.00")
