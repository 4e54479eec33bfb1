"""Input at the edges of what the ledger can hold is refused by name, never as a 500 or a silent rounding."""

from __future__ import annotations

import asyncio
import json

import pytest

from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.invoices import service as ledger
from backend.invoices.models import ImportStatus, Invoice, InvoiceStatus
from tests.conftest import bearer
from tests.factories import make_buyer, make_invoice, owner_of
from tests.invoices.test_imports import confirm, count, csv_bytes, run_import_job, upload


def _invoice_json(buyer_id, number: str, quantity: str, price: str, **extra) -> dict:
    line = {"description": "Turbine", "quantity": quantity, "unit_price": price, "tax_rate": "13"}
    return {"number": number, "buyer_id": str(buyer_id), "currency": "CNY", "issue_date": "2026-11-02", "lines": [line], **extra}


async def test_an_invoice_whose_total_would_not_fit_is_refused_and_nothing_written(client, world):
    buyer_id = await make_buyer(world.a)
    huge = await client.post(
        "/api/v1/invoices",
        json=_invoice_json(buyer_id, "BIG-1", "99999999999999", "99999999999999"),
        headers=bearer(world.a.api_key),
    )
    too_precise = await client.post(
        "/api/v1/invoices", json=_invoice_json(buyer_id, "BIG-2", "1.00001", "10"), headers=bearer(world.a.api_key)
    )
    long_po = await client.post(
        "/api/v1/invoices",
        json=_invoice_json(buyer_id, "BIG-3", "1", "10", po_reference="P" * 65),
        headers=bearer(world.a.api_key),
    )
    assert huge.status_code in (400, 422) and huge.json()["field"].startswith("lines")
    assert too_precise.status_code in (400, 422) and "quantity" in too_precise.json()["field"]
    assert long_po.status_code in (400, 422) and long_po.json()["field"] == "po_reference"
    assert await count(world.a, Invoice) == 0


async def test_a_payment_larger_than_the_ledger_holds_names_the_amount(world):
    buyer_id = await make_buyer(world.a)
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        with pytest.raises(ledger.ValidationFailed) as refused:
            await ledger.record_payment(session, owner_of(world.a), buyer_id=buyer_id, amount="1e20", currency="CNY")
    assert refused.value.field == "amount"


async def test_csv_rows_that_would_not_fit_are_row_errors_in_the_preview_and_the_rest_imports(world):
    await make_buyer(world.a, reference="LIM-1")
    rows = [
        "OK-1,LIM-1,CNY,2026-11-02,,,PO-1,S1,Bolt,10,EA,2.50,13",
        "BIG-1,LIM-1,CNY,2026-11-02,,,PO-2,S1,Bolt,99999999999999,EA,99999999999999,13",
        f"LONG-1,LIM-1,CNY,2026-11-02,,,{'P' * 80},S1,Bolt,1,EA,1,13",
    ]
    record = await upload(world.a, csv_bytes(rows))
    assert [(e["row"], e["field"]) for e in record.errors] == [(3, "lines"), (4, "po_reference")]
    await confirm(world.a, record.id)
    record = await run_import_job(world.a, record.id)
    assert record.status is ImportStatus.DONE and record.created_invoices == 1


async def test_a_downward_adjustment_that_closes_an_invoice_does_not_call_it_paid(world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)  # 1,130.00
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        await ledger.record_adjustment(
            session,
            owner_of(world.a),
            invoice.id,
            amount="-1130.00",
            entry_date=None,
            document_number=None,
            reason="price corrected",
        )
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        closed = await ledger.get_invoice(session, owner_of(world.a), invoice.id)
    assert (closed.open_amount, closed.status) == (0, InvoiceStatus.CREDITED)


async def test_a_statement_downloads_for_a_buyer_whose_customer_number_is_chinese(client, world):
    buyer_id = await make_buyer(world.a, reference="华东-001")
    await make_invoice(world.a, buyer_id)
    for output in ("csv", "pdf"):
        response = await client.get(f"/api/v1/buyers/{buyer_id}/statement?format={output}", headers=bearer(world.a.api_key))
        assert response.status_code == 200, response.text
        assert "attachment" in response.headers["content-disposition"]


async def test_buyers_are_found_by_a_chinese_tag(client, world):
    await make_buyer(world.a, "苏州恒瑞机电有限公司", tags=["重点客户", "automation"])
    await make_buyer(world.a, "Baltic Marine Supplies AB", tags=["marine"])
    response = await client.get("/api/v1/buyers", params={"tag": "重点客户"}, headers=bearer(world.a.api_key))
    assert [b["legal_name"] for b in response.json()["items"]] == ["苏州恒瑞机电有限公司"]
    # LIKE's own characters in a tag are matched as themselves.
    assert (await client.get("/api/v1/buyers", params={"tag": "%"}, headers=bearer(world.a.api_key))).json()["items"] == []
    assert json.dumps("重点客户") != '"重点客户"'  # stored escaped: the case this filter must handle


@pytest.mark.postgresql
async def test_two_buyers_created_at_once_with_one_customer_number_give_one_buyer_and_one_409(client, world):
    body = {"reference": "SAME-1", "legal_name": "Acme", "country": "CN", "currency": "CNY"}
    responses = await asyncio.gather(
        *(client.post("/api/v1/buyers", json=body, headers=bearer(world.a.api_key)) for _ in range(2))
    )
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]


async def test_an_order_line_that_would_not_fit_is_refused_by_name_like_an_invoice_line(client, world):
    from tests.invoices.test_orders_api import order_body

    buyer_id = await make_buyer(world.a)
    lines = [{"description": "Bolt", "quantity": "1.00001", "unit_price": "1", "tax_rate": "13"}]
    response = await client.post("/api/v1/orders", json=order_body(buyer_id, lines=lines), headers=bearer(world.a.api_key))
    assert response.status_code in (400, 422) and response.json()["field"] == "lines[1].quantity"
    assert (await client.get("/api/v1/orders", headers=bearer(world.a.api_key))).json()["items"] == []
