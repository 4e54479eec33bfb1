"""Statements of account: aging at the bucket boundaries, totals, DSO and days beyond terms, CSV, PDF, the API wall."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader

from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.errors import NotFound, ValidationFailed
from backend.invoices import service as ledger
from backend.invoices import statements
from backend.invoices.service import PaymentAllocation
from tests.conftest import bearer
from tests.factories import make_buyer, make_invoice, owner_of

TODAY = date.today()
ONE_LINE_1130 = (("Bearing 6204", "10", "100.00", "13"),)  # 1,000.00 net + 130.00 tax = 1,130.00


async def _statement(supplier, buyer_id, as_of=None):
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        return await statements.statement_of_account(session, owner_of(supplier), buyer_id, as_of=as_of)


async def _pay(supplier, buyer_id, amount, *, on, invoice=None, currency="CNY"):
    allocations = [PaymentAllocation(invoice.id, amount)] if invoice else None
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        return await ledger.record_payment(
            session,
            owner_of(supplier),
            buyer_id=buyer_id,
            amount=amount,
            currency=currency,
            entry_date=on,
            allocations=allocations,
        )


@pytest.mark.parametrize(
    ("days_past_due", "bucket"),
    [
        (-5, "current"),
        (0, "current"),
        (1, "1_30"),
        (30, "1_30"),
        (31, "31_60"),
        (60, "31_60"),
        (61, "61_90"),
        (90, "61_90"),
        (91, "90_plus"),
    ],
)
def test_days_past_due_fall_in_the_right_bucket(days_past_due, bucket):
    assert statements.bucket_of(days_past_due) == bucket


async def test_aging_buckets_at_their_boundaries(world):
    buyer_id = await make_buyer(world.a, "Boundary Trading")
    due_days_ago = {0: "current", 1: "1_30", 30: "1_30", 31: "31_60", 90: "61_90", 91: "90_plus"}
    numbers = {}
    for days, bucket in due_days_ago.items():
        invoice = await make_invoice(
            world.a,
            buyer_id,
            lines=ONE_LINE_1130,
            issue_date=TODAY - timedelta(days=days + 30),
            due_date=TODAY - timedelta(days=days),
        )
        numbers[invoice.number] = (days, bucket)

    statement = await _statement(world.a, buyer_id, as_of=TODAY)

    assert {item.number: (item.days_past_due, item.bucket) for item in statement.items} == numbers
    (cny,) = statement.currencies
    assert cny.buckets == {
        "current": Decimal("1130.00"),
        "1_30": Decimal("2260.00"),
        "31_60": Decimal("1130.00"),
        "61_90": Decimal("1130.00"),
        "90_plus": Decimal("1130.00"),
    }
    assert cny.open == Decimal("6780.00") and cny.overdue == Decimal("5650.00")


async def test_totals_equal_the_sum_of_open_items_after_payments_and_credit_notes(world):
    buyer_id = await make_buyer(world.a, "Totals Ltd")
    first = await make_invoice(
        world.a, buyer_id, lines=ONE_LINE_1130, issue_date=TODAY - timedelta(days=60), due_date=TODAY - timedelta(days=30)
    )
    second = await make_invoice(
        world.a, buyer_id, lines=ONE_LINE_1130, issue_date=TODAY - timedelta(days=20), due_date=TODAY + timedelta(days=10)
    )
    paid = await make_invoice(
        world.a, buyer_id, lines=ONE_LINE_1130, issue_date=TODAY - timedelta(days=40), due_date=TODAY - timedelta(days=10)
    )
    await _pay(world.a, buyer_id, Decimal("1130.00"), on=TODAY - timedelta(days=2), invoice=paid)
    await _pay(world.a, buyer_id, Decimal("400.00"), on=TODAY - timedelta(days=1), invoice=first)
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        await ledger.record_credit_note(
            session,
            owner_of(world.a),
            second.id,
            amount="130.00",
            entry_date=TODAY,
            document_number=None,
            reason="Short delivery",
        )

    statement = await _statement(world.a, buyer_id)

    assert {item.number: item.open_amount for item in statement.items} == {
        first.number: Decimal("730.00"),
        second.number: Decimal("1000.00"),
    }
    (cny,) = statement.currencies
    assert cny.open == sum(item.open_amount for item in statement.items) == Decimal("1730.00")
    assert cny.buckets["1_30"] == Decimal("730.00") and cny.buckets["current"] == Decimal("1000.00")
    # The statement agrees with the ledger's own balance of the buyer.
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        (balance,) = await ledger.buyer_balances(session, owner_of(world.a), buyer_id)
    assert balance.open == cny.open and balance.overdue == cny.overdue


async def test_a_statement_as_of_a_past_date_shows_what_was_open_then(world):
    buyer_id = await make_buyer(world.a, "Past Date Co")
    invoice = await make_invoice(
        world.a, buyer_id, lines=ONE_LINE_1130, issue_date=TODAY - timedelta(days=50), due_date=TODAY - timedelta(days=20)
    )
    await make_invoice(world.a, buyer_id, lines=ONE_LINE_1130, issue_date=TODAY - timedelta(days=5))  # not yet billed then
    await _pay(world.a, buyer_id, Decimal("1130.00"), on=TODAY - timedelta(days=3), invoice=invoice)

    then = await _statement(world.a, buyer_id, as_of=TODAY - timedelta(days=10))

    assert [(i.number, i.open_amount, i.days_past_due, i.bucket) for i in then.items] == [
        (invoice.number, Decimal("1130.00"), 10, "1_30")
    ]
    assert [i.number for i in (await _statement(world.a, buyer_id)).items] != [invoice.number]


async def test_dso_and_days_beyond_terms_follow_their_stated_formulas(world):
    buyer_id = await make_buyer(world.a, "Late Payer Inc")
    # Inside the 90-day window: 1,130 + 2,260 = 3,390 invoiced.
    early = await make_invoice(
        world.a, buyer_id, lines=ONE_LINE_1130, issue_date=TODAY - timedelta(days=80), due_date=TODAY - timedelta(days=50)
    )
    late = await make_invoice(
        world.a,
        buyer_id,
        lines=(("Bearing 6204", "20", "100.00", "13"),),
        issue_date=TODAY - timedelta(days=70),
        due_date=TODAY - timedelta(days=40),
    )
    # Paid 10 days beyond terms (1,130) and 2 days early (2,260, counts as 0): (1130×10 + 2260×0) / 3390 = 3.3 days.
    await _pay(world.a, buyer_id, Decimal("1130.00"), on=TODAY - timedelta(days=40), invoice=early)
    await _pay(world.a, buyer_id, Decimal("2260.00"), on=TODAY - timedelta(days=42), invoice=late)
    open_one = await make_invoice(world.a, buyer_id, lines=ONE_LINE_1130, issue_date=TODAY - timedelta(days=10))

    (cny,) = (await _statement(world.a, buyer_id)).currencies

    assert cny.credit_sales == Decimal("4520.00")
    assert cny.open == open_one.gross_amount
    # DSO = open 1,130 ÷ credit sales 4,520 × 90 = 22.5 days.
    assert cny.dso_days == Decimal("22.5")
    assert cny.days_beyond_terms == Decimal("3.3")


async def test_money_paid_on_account_is_shown_beside_the_open_items(world):
    buyer_id = await make_buyer(world.a, "Prepaid Partner")
    await _pay(world.a, buyer_id, Decimal("500.00"), on=TODAY)
    (cny,) = (await _statement(world.a, buyer_id)).currencies
    assert cny.open == 0 and cny.on_account == Decimal("500.00") and cny.net_balance == Decimal("-500.00")


async def test_the_csv_parses_back_with_the_same_figures(world):
    buyer_id = await make_buyer(world.a, "上海精密轴承有限公司")
    for days in (0, 15, 45, 100):
        await make_invoice(
            world.a,
            buyer_id,
            lines=ONE_LINE_1130,
            issue_date=TODAY - timedelta(days=days + 30),
            due_date=TODAY - timedelta(days=days),
        )
    await make_invoice(
        world.a, buyer_id, lines=(("Gear", "3", "33.33", "13"),), currency="USD", issue_date=TODAY - timedelta(days=3)
    )
    statement = await _statement(world.a, buyer_id)

    text = statements.statement_csv(statement)

    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    items = [r for r in rows if r["row"] == "item"]
    assert {(r["invoice_number"], Decimal(r["open_amount"]), r["aging_bucket"]) for r in items} == {
        (i.number, i.open_amount, i.bucket) for i in statement.items
    }
    assert {r["buyer_name"] for r in rows} == {"上海精密轴承有限公司"}
    for figures in statement.currencies:
        buckets = {
            r["aging_bucket"]: Decimal(r["open_amount"])
            for r in rows
            if r["row"] == "bucket" and r["currency"] == figures.currency
        }
        assert buckets == figures.buckets
        (total,) = [Decimal(r["open_amount"]) for r in rows if r["row"] == "total" and r["currency"] == figures.currency]
        assert total == figures.open == sum(Decimal(r["open_amount"]) for r in items if r["currency"] == figures.currency)
    assert {f.currency: f.open for f in statement.currencies} == {"CNY": Decimal("4520.00"), "USD": Decimal("112.99")}


async def test_the_pdf_is_a_pdf_naming_supplier_buyer_and_totals_in_both_languages(world):
    from backend.i18n import current_language

    buyer_id = await make_buyer(world.a, "上海精密轴承有限公司 Shanghai Precision")
    many = 45  # more than a page of open items
    for n in range(many):
        await make_invoice(
            world.a,
            buyer_id,
            lines=ONE_LINE_1130,
            issue_date=TODAY - timedelta(days=n + 40),
            due_date=TODAY - timedelta(days=n + 10),
        )
    statement = await _statement(world.a, buyer_id)
    for language, title in (("en", "Statement of account"), ("zh-CN", None)):
        token = current_language.set(language)
        try:
            pdf = statements.statement_pdf(statement)
        finally:
            current_language.reset(token)
        assert pdf.startswith(b"%PDF")
        reader = PdfReader(io.BytesIO(pdf))
        text = "".join(page.extract_text() for page in reader.pages)
        pages = len(reader.pages)
        assert pages >= 2
        assert "上海精密轴承有限公司" in text and "Shanghai Precision" in text
        assert world.a.name in text
        assert f"{pages}" in reader.pages[-1].extract_text()
        if title:
            assert title in text and f"Page {pages} of {pages}" in text
            assert "50,850.00" in text  # 45 × 1,130.00, the total open


async def test_an_as_of_date_out_of_range_names_the_field(world):
    buyer_id = await make_buyer(world.a, "Range Ltd")
    with pytest.raises(ValidationFailed) as refused:
        await _statement(world.a, buyer_id, as_of=date(1999, 12, 31))
    assert refused.value.field == "as_of"


async def test_another_suppliers_buyer_has_no_statement(world):
    buyer_id = await make_buyer(world.a, "Alice's Buyer")
    with pytest.raises(NotFound):
        await _statement(world.b, buyer_id)


async def test_the_api_serves_the_statement_as_json_csv_and_pdf(client, world):
    buyer_id = await make_buyer(world.a, "API Buyer GmbH", country="DE", currency="EUR")
    invoice = await make_invoice(
        world.a,
        buyer_id,
        lines=ONE_LINE_1130,
        currency="EUR",
        issue_date=TODAY - timedelta(days=70),
        due_date=TODAY - timedelta(days=40),
    )
    url = f"/api/v1/buyers/{buyer_id}/statement"

    as_json = await client.get(url, params={"as_of": TODAY.isoformat()}, headers=bearer(world.a.api_key))
    assert as_json.status_code == 200, as_json.text
    body = as_json.json()
    assert body["buyer"]["legal_name"] == "API Buyer GmbH" and body["as_of"] == TODAY.isoformat()
    assert body["items"] == [
        {
            "invoice_id": str(invoice.id),
            "number": invoice.number,
            "po_reference": None,
            "issue_date": invoice.issue_date.isoformat(),
            "due_date": invoice.due_date.isoformat(),
            "currency": "EUR",
            "gross_amount": "1130.0000",
            "open_amount": "1130.0000",
            "disputed_amount": "0.0000",
            "days_past_due": 40,
            "aging_bucket": "31_60",
        }
    ]
    assert body["currencies"][0]["aging"]["31_60"] == "1130.0000" and body["currencies"][0]["open"] == "1130.0000"

    as_csv = await client.get(url, params={"format": "csv"}, headers=bearer(world.a.api_key))
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"] and invoice.number in as_csv.text
    as_pdf = await client.get(url, params={"format": "pdf"}, headers=bearer(world.a.api_key))
    assert as_pdf.status_code == 200 and as_pdf.content.startswith(b"%PDF")
    assert as_pdf.headers["content-type"] == "application/pdf"

    unknown_format = await client.get(url, params={"format": "xlsx"}, headers=bearer(world.a.api_key))
    assert unknown_format.status_code == 400 and "format" in unknown_format.text
    bad_date = await client.get(url, params={"as_of": "2024-13-01"}, headers=bearer(world.a.api_key))
    assert bad_date.status_code == 400 and "as_of" in bad_date.text


async def test_the_api_answers_404_for_another_suppliers_buyer(client, world):
    buyer_id = await make_buyer(world.a, "Alice's Secret Buyer")
    for output in ("json", "csv", "pdf"):
        response = await client.get(
            f"/api/v1/buyers/{buyer_id}/statement", params={"format": output}, headers=bearer(world.b.api_key)
        )
        assert response.status_code == 404
        assert "Alice" not in response.text


async def test_a_buyer_name_that_reads_as_a_formula_stays_text_in_the_csv(world):
    buyer_id = await make_buyer(world.a, '=HYPERLINK("http://evil.example","Click")')
    await make_invoice(world.a, buyer_id, lines=ONE_LINE_1130, number="+INV-1")
    rows = list(csv.DictReader(io.StringIO(statements.statement_csv(await _statement(world.a, buyer_id)).lstrip("\ufeff"))))
    item = next(r for r in rows if r["row"] == "item")
    assert item["buyer_name"] == '\'=HYPERLINK("http://evil.example","Click")'
    assert item["invoice_number"] == "'+INV-1"
    assert Decimal(item["open_amount"]) == Decimal("1130.00")
