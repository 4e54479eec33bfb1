"""Balances follow from the ledger: every figure below is worked out by hand in the comment beside it."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.disputes.service import ItemInput
from backend.errors import ValidationFailed
from backend.invoices import service as ledger
from backend.invoices.models import Allocation, Invoice, InvoiceStatus, LedgerEntry
from backend.invoices.service import PaymentAllocation
from tests.conftest import Supplier
from tests.disputes.helpers import open_case
from tests.factories import make_buyer, make_invoice, owner_of

TODAY = date.today()
D = Decimal


def uow(supplier: Supplier):
    return tenant_unit_of_work(TenantId(supplier.tenant_id))


async def pay(supplier: Supplier, buyer_id, amount: str, allocations=None, currency: str = "CNY") -> LedgerEntry:
    async with uow(supplier) as session:
        return await ledger.record_payment(
            session, owner_of(supplier), buyer_id=buyer_id, amount=amount, currency=currency, allocations=allocations
        )


async def record(supplier: Supplier, kind: str, invoice_id, amount: str, reason: str | None = "agreed with the buyer"):
    action = {"credit": ledger.record_credit_note, "write_off": ledger.record_write_off, "adjust": ledger.record_adjustment}[kind]
    async with uow(supplier) as session:
        return await action(
            session, owner_of(supplier), invoice_id, amount=amount, entry_date=None, document_number=None, reason=reason
        )


async def reload(supplier: Supplier, invoice_id) -> Invoice:
    async with uow(supplier) as session:
        return await ledger.get_invoice(session, owner_of(supplier), invoice_id)


async def balance_of(supplier: Supplier, buyer_id, currency: str = "CNY") -> ledger.BuyerBalance:
    async with uow(supplier) as session:
        balances = await ledger.buyer_balances(session, owner_of(supplier), buyer_id)
    return next(b for b in balances if b.currency == currency)


async def ledger_rows(supplier: Supplier) -> tuple[int, int]:
    async with uow(supplier) as session:
        entries = (await session.execute(select(func.count(LedgerEntry.id)))).scalar_one()
        allocations = (await session.execute(select(func.count(Allocation.id)))).scalar_one()
    return entries, allocations


def hundred_at_13(quantity: str = "10") -> list[tuple[str, str, str, str]]:
    return [("Bearing 6204", quantity, "100.00", "13")]


async def test_a_partial_payment_leaves_the_rest_open_and_the_invoice_partially_paid(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)  # 10 × 100.00 at 13 % = 1,000.00 + 130.00 = 1,130.00
    assert (invoice.net_amount, invoice.tax_amount, invoice.gross_amount) == (D("1000.00"), D("130.00"), D("1130.00"))
    await pay(world.a, buyer_id, "500.00")  # 1,130.00 − 500.00 = 630.00
    after = await reload(world.a, invoice.id)
    assert (after.open_amount, after.status) == (D("630.00"), InvoiceStatus.PARTIALLY_PAID)
    balance = await balance_of(world.a, buyer_id)
    assert (balance.open, balance.undisputed, balance.open_invoices, balance.on_account) == (D("630.00"), D("630.00"), 1, D("0"))
    await pay(world.a, buyer_id, "630.00")  # 630.00 − 630.00 = 0.00
    assert (await reload(world.a, invoice.id)).status is InvoiceStatus.PAID


async def test_payments_go_oldest_due_first_across_three_invoices_and_the_rest_stays_on_account(world):
    buyer_id = await make_buyer(world.a)
    # Created newest first, so only the due date can put them in order.
    third = await make_invoice(world.a, buyer_id, lines=hundred_at_13("2"), due_date=TODAY + timedelta(days=10))  # 226.00
    first = await make_invoice(
        world.a, buyer_id, issue_date=TODAY - timedelta(days=50), due_date=TODAY - timedelta(days=20)
    )  # 1,130.00
    second = await make_invoice(
        world.a, buyer_id, lines=hundred_at_13("5"), issue_date=TODAY - timedelta(days=35), due_date=TODAY - timedelta(days=5)
    )  # 565.00
    entry = await pay(world.a, buyer_id, "1500.00")
    # 1,500.00 → first 1,130.00 (370.00 left) → second 370.00 of 565.00 (195.00 still open); third untouched.
    assert entry.unallocated_amount == D("0")
    states = [await reload(world.a, i.id) for i in (first, second, third)]
    assert [(s.open_amount, s.status) for s in states] == [
        (D("0"), InvoiceStatus.PAID),
        (D("195.00"), InvoiceStatus.PARTIALLY_PAID),
        (D("226.00"), InvoiceStatus.ISSUED),
    ]
    balance = await balance_of(world.a, buyer_id)
    # open 195.00 + 226.00 = 421.00, of which 195.00 overdue (second's due date has passed) and 226.00 current.
    assert (balance.open, balance.overdue, balance.open_invoices) == (D("421.00"), D("195.00"), 2)
    entry = await pay(world.a, buyer_id, "500.00")
    # 500.00 → second 195.00 → third 226.00 → 500.00 − 421.00 = 79.00 on account.
    assert entry.unallocated_amount == D("79.00")
    balance = await balance_of(world.a, buyer_id)
    assert (balance.open, balance.overdue, balance.open_invoices, balance.on_account) == (D("0"), D("0"), 0, D("79.00"))
    assert {(await reload(world.a, i.id)).status for i in (first, second, third)} == {InvoiceStatus.PAID}


async def test_a_payment_names_its_invoices_and_the_rest_of_a_bigger_payment_stays_on_account(world):
    buyer_id = await make_buyer(world.a)
    oldest = await make_invoice(
        world.a, buyer_id, issue_date=TODAY - timedelta(days=60), due_date=TODAY - timedelta(days=30)
    )  # 1,130.00
    named = await make_invoice(world.a, buyer_id, lines=hundred_at_13("5"))  # 5 × 100.00 at 13 % = 565.00
    entry = await pay(world.a, buyer_id, "600.00", [PaymentAllocation(named.id, "565.00")])
    # The payer named the newer invoice: it is paid; the oldest is untouched; 600.00 − 565.00 = 35.00 on account.
    assert entry.unallocated_amount == D("35.00")
    assert (await reload(world.a, named.id)).status is InvoiceStatus.PAID
    assert (await reload(world.a, oldest.id)).open_amount == D("1130.00")
    balance = await balance_of(world.a, buyer_id)
    assert (balance.open, balance.overdue, balance.on_account) == (D("1130.00"), D("1130.00"), D("35.00"))


async def test_allocations_above_the_payment_or_twice_to_one_invoice_are_refused_and_nothing_written(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)  # 1,130.00
    before = await ledger_rows(world.a)
    with pytest.raises(ValidationFailed) as refused:
        await pay(world.a, buyer_id, "100.00", [PaymentAllocation(invoice.id, "100.01")])
    assert refused.value.field == "allocations"
    # Twice 600.00 to one invoice of 1,130.00 would be 1,200.00 against it.
    with pytest.raises(ValidationFailed) as twice:
        await pay(
            world.a, buyer_id, "1200.00", [PaymentAllocation(invoice.id, "600.00"), PaymentAllocation(invoice.id, "600.00")]
        )
    assert twice.value.field == "allocations"
    assert await ledger_rows(world.a) == before
    assert (await reload(world.a, invoice.id)).open_amount == D("1130.00")


async def test_credit_notes_adjustments_and_a_payment_close_an_invoice_as_paid(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)  # 1,130.00
    await record(world.a, "credit", invoice.id, "200.00")  # 1,130.00 − 200.00 = 930.00
    assert (await reload(world.a, invoice.id)).open_amount == D("930.00")
    await record(world.a, "adjust", invoice.id, "45.50", reason="late fee")  # 930.00 + 45.50 = 975.50
    await record(world.a, "adjust", invoice.id, "-0.50", reason="rounding")  # 975.50 − 0.50 = 975.00
    after = await reload(world.a, invoice.id)
    assert (after.open_amount, after.status) == (D("975.00"), InvoiceStatus.ISSUED)
    await pay(world.a, buyer_id, "975.00")  # 975.00 − 975.00 = 0.00
    after = await reload(world.a, invoice.id)
    assert (after.open_amount, after.status) == (D("0"), InvoiceStatus.PAID)


async def test_a_full_credit_note_makes_an_invoice_credited_and_a_full_write_off_written_off(world):
    buyer_id = await make_buyer(world.a)
    credited = await make_invoice(world.a, buyer_id)  # 1,130.00
    written_off = await make_invoice(world.a, buyer_id, lines=hundred_at_13("3"))  # 3 × 100.00 at 13 % = 339.00
    await record(world.a, "credit", credited.id, "1130.00")
    await record(world.a, "write_off", written_off.id, "339.00")
    assert (await reload(world.a, credited.id)).status is InvoiceStatus.CREDITED
    assert (await reload(world.a, written_off.id)).status is InvoiceStatus.WRITTEN_OFF
    # Nothing open and nothing on account: no balance in any currency.
    async with uow(world.a) as session:
        assert await ledger.buyer_balances(session, owner_of(world.a), buyer_id) == []


async def test_a_closed_invoice_is_named_by_what_closed_most_of_it(world):
    buyer_id = await make_buyer(world.a)
    short_paid = await make_invoice(world.a, buyer_id)  # 1,130.00
    mostly_lost = await make_invoice(world.a, buyer_id)  # 1,130.00
    await pay(world.a, buyer_id, "1100.00", allocations=[PaymentAllocation(short_paid.id, "1100.00")])
    await record(world.a, "write_off", short_paid.id, "30.00")  # 1,100.00 paid, 30.00 written off
    await pay(world.a, buyer_id, "130.00", allocations=[PaymentAllocation(mostly_lost.id, "130.00")])
    await record(world.a, "write_off", mostly_lost.id, "1000.00")  # 130.00 paid, 1,000.00 written off
    assert (await reload(world.a, short_paid.id)).status is InvoiceStatus.PAID
    assert (await reload(world.a, mostly_lost.id)).status is InvoiceStatus.WRITTEN_OFF


async def test_a_partial_write_off_leaves_the_rest_open(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)  # 1,130.00
    await record(world.a, "write_off", invoice.id, "130.00")  # 1,130.00 − 130.00 = 1,000.00
    after = await reload(world.a, invoice.id)
    assert (after.open_amount, after.status) == (D("1000.00"), InvoiceStatus.ISSUED)
    assert (await balance_of(world.a, buyer_id)).open == D("1000.00")


async def test_overdue_and_current_are_split_by_due_date(world):
    buyer_id = await make_buyer(world.a)
    await make_invoice(
        world.a, buyer_id, issue_date=TODAY - timedelta(days=31), due_date=TODAY - timedelta(days=1)
    )  # 1,130.00 overdue
    due_today = await make_invoice(world.a, buyer_id, lines=hundred_at_13("1"), due_date=TODAY)  # 113.00, due today: current
    await make_invoice(world.a, buyer_id, lines=hundred_at_13("2"), due_date=TODAY + timedelta(days=1))  # 226.00 current
    balance = await balance_of(world.a, buyer_id)
    # open 1,130.00 + 113.00 + 226.00 = 1,469.00; overdue 1,130.00; current 113.00 + 226.00 = 339.00
    assert (balance.open, balance.overdue, balance.open - balance.overdue) == (D("1469.00"), D("1130.00"), D("339.00"))
    invoice = await reload(world.a, due_today.id)
    assert ledger.invoice_balance(invoice, TODAY).overdue == D("0")
    assert ledger.invoice_balance(invoice, TODAY + timedelta(days=1)).overdue == D("113.00")


async def test_a_disputed_part_is_held_out_of_the_undisputed_balance(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)  # 1,130.00
    await pay(world.a, buyer_id, "500.00")  # 630.00 open
    await open_case(world.a, buyer_id, [ItemInput(invoice.id, amount="200.00")])
    after = await reload(world.a, invoice.id)
    assert after.status is InvoiceStatus.DISPUTED
    balance = ledger.invoice_balance(after, TODAY)
    # 630.00 open = 200.00 disputed + 430.00 undisputed
    assert (balance.open, balance.disputed, balance.undisputed) == (D("630.00"), D("200.00"), D("430.00"))
    buyer = await balance_of(world.a, buyer_id)
    assert (buyer.disputed, buyer.undisputed) == (D("200.00"), D("430.00"))


async def test_a_credit_note_above_the_open_amount_is_refused_and_nothing_written(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)  # 1,130.00
    await pay(world.a, buyer_id, "500.00")  # 630.00 open
    before = await ledger_rows(world.a)
    with pytest.raises(ValidationFailed) as refused:
        await record(world.a, "credit", invoice.id, "630.01")
    assert refused.value.field == "amount" and refused.value.status_code == 422
    assert await ledger_rows(world.a) == before
    assert (await reload(world.a, invoice.id)).open_amount == D("630.00")


async def test_a_credit_note_above_the_open_amount_is_a_422_over_the_api(client, world):
    from tests.conftest import bearer

    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)  # 1,130.00
    before = await ledger_rows(world.a)
    response = await client.post(
        f"/api/v1/invoices/{invoice.id}/credit-notes", json={"amount": "1130.01", "reason": "x"}, headers=bearer(world.a.api_key)
    )
    assert response.status_code == 422 and response.json()["field"] == "amount"
    assert "1130" in response.json()["detail"]
    assert await ledger_rows(world.a) == before


async def _pay_in_its_own_unit_of_work(supplier: Supplier, buyer_id, amount: str, allocations=None):
    try:
        return await pay(supplier, buyer_id, amount, allocations)
    except ValidationFailed as refused:
        return refused


@pytest.mark.postgresql
async def test_two_concurrent_payments_on_one_invoice_never_over_allocate(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)  # 1,130.00
    named = [PaymentAllocation(invoice.id, "700.00")]
    outcomes = await asyncio.gather(
        _pay_in_its_own_unit_of_work(world.a, buyer_id, "700.00", named),
        _pay_in_its_own_unit_of_work(world.a, buyer_id, "700.00", named),
    )
    # 700.00 + 700.00 = 1,400.00 > 1,130.00: one lands, the other finds 430.00 open and is refused.
    assert sorted(type(o).__name__ for o in outcomes) == ["LedgerEntry", "ValidationFailed"]
    assert (await reload(world.a, invoice.id)).open_amount == D("430.00")
    # Unnamed, both land, each taking only what is still open once the other has committed.
    second_invoice = await make_invoice(world.a, buyer_id, lines=hundred_at_13("5"))  # 565.00
    entries = await asyncio.gather(
        _pay_in_its_own_unit_of_work(world.a, buyer_id, "600.00"),
        _pay_in_its_own_unit_of_work(world.a, buyer_id, "600.00"),
    )
    # Open before: 430.00 + 565.00 = 995.00; paid 1,200.00 → 995.00 allocated, 205.00 on account.
    assert all(isinstance(e, LedgerEntry) for e in entries)
    assert sum((e.unallocated_amount for e in entries), D("0")) == D("205.00")
    for row in (invoice, second_invoice):
        after = await reload(world.a, row.id)
        assert (after.open_amount, after.status) == (D("0"), InvoiceStatus.PAID)
    async with uow(world.a) as session:
        allocated = (
            await session.execute(
                select(func.sum(Allocation.amount)).where(Allocation.invoice_id.in_([invoice.id, second_invoice.id]))
            )
        ).scalar_one()
    assert D(allocated) == D("1695.00")  # 1,130.00 + 565.00, never more
