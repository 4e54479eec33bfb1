"""The imports API: upload, preview, confirm and status of an import, and bulk JSON invoices; another tenant gets 404."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.invoices.models import Invoice, InvoiceLine, InvoiceSource, InvoiceStatus
from tests.conftest import bearer
from tests.factories import make_buyer
from tests.invoices.test_imports import csv_bytes, one_line_invoices
from tests.test_team import run_jobs

DATA = Path(__file__).parent / "data"


async def invoices_of(supplier) -> int:
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        return (await session.execute(select(func.count()).select_from(Invoice))).scalar_one()


async def test_upload_preview_confirm_and_follow_an_import(client, world):
    await make_buyer(world.a, reference="API-1")
    data = csv_bytes([*one_line_invoices(30, "API-1", "AP"), "AP-BAD,API-1,CNY,2026-02-30,,,,,Nut,1,EA,1.00,13"])
    response = await client.post(
        "/api/v1/invoice-imports", files={"file": ("march.csv", data, "text/csv")}, headers=bearer(world.a.api_key)
    )
    assert response.status_code == 201, response.text
    preview = response.json()
    record = preview["invoice_import"]
    assert (record["status"], record["total_rows"], record["error_count"]) == ("previewed", 31, 1)
    assert record["errors"] == [
        {"row": 32, "field": "issue_date", "message": "issue_date is not a date as yyyy-mm-dd: 2026-02-30."}
    ]
    assert preview["columns"][:2] == ["invoice_number", "buyer_reference"] and len(preview["rows"]) == 20
    assert preview["rows"][0]["row"] == 2 and preview["rows"][0]["values"][0] == "AP-00001"

    import_id = record["id"]
    again = await client.get(f"/api/v1/invoice-imports/{import_id}/preview", headers=bearer(world.a.api_key))
    assert again.status_code == 200 and again.json()["rows"] == preview["rows"]
    confirmed = await client.post(f"/api/v1/invoice-imports/{import_id}/confirm", headers=bearer(world.a.api_key))
    assert confirmed.status_code == 202 and confirmed.json()["status"] == "queued"
    twice = await client.post(f"/api/v1/invoice-imports/{import_id}/confirm", headers=bearer(world.a.api_key))
    assert twice.status_code == 409 and twice.json()["field"] == "status"
    await run_jobs()
    status = (await client.get(f"/api/v1/invoice-imports/{import_id}", headers=bearer(world.a.api_key))).json()
    assert (status["status"], status["progress_percent"], status["created_invoices"], status["error_count"]) == (
        "done",
        100,
        30,
        1,
    )
    listed = (await client.get("/api/v1/invoice-imports", headers=bearer(world.a.api_key))).json()
    assert [item["id"] for item in listed["items"]] == [import_id]


async def test_another_tenants_import_is_not_found_on_every_endpoint(client, world):
    await make_buyer(world.a, reference="API-2")
    response = await client.post(
        "/api/v1/invoice-imports",
        files={"file": ("a.csv", csv_bytes(one_line_invoices(2, "API-2", "OT")), "text/csv")},
        headers=bearer(world.a.api_key),
    )
    import_id = response.json()["invoice_import"]["id"]
    outsider = bearer(world.b.api_key)
    for method, path in (
        ("get", f"/api/v1/invoice-imports/{import_id}"),
        ("get", f"/api/v1/invoice-imports/{import_id}/preview"),
        ("post", f"/api/v1/invoice-imports/{import_id}/confirm"),
        ("get", f"/api/v1/invoice-imports/{uuid.uuid4()}"),
    ):
        answer = await getattr(client, method)(path, headers=outsider)
        assert answer.status_code == 404, (method, path, answer.text)
    assert (await client.get("/api/v1/invoice-imports", headers=outsider)).json()["items"] == []
    status = (await client.get(f"/api/v1/invoice-imports/{import_id}", headers=bearer(world.a.api_key))).json()
    assert status["status"] == "previewed"


async def test_a_malformed_ubl_upload_answers_422_naming_the_element(client, world):
    response = await client.post(
        "/api/v1/invoice-imports",
        files={"file": ("bad.xml", (DATA / "ubl_malformed_quantity.xml").read_bytes(), "application/xml")},
        headers=bearer(world.a.api_key),
    )
    assert response.status_code == 422
    assert response.json()["field"] == "cac:InvoiceLine[2]/cbc:InvoicedQuantity"
    assert response.json()["detail"] == "cac:InvoiceLine[2]/cbc:InvoicedQuantity is not a number."
    listed = (await client.get("/api/v1/invoice-imports", headers=bearer(world.a.api_key))).json()
    assert listed["total"] == 0


async def test_an_upload_without_a_file_answers_400_naming_it(client, world):
    response = await client.post("/api/v1/invoice-imports", data={"note": "no file"}, files={}, headers=bearer(world.a.api_key))
    assert response.status_code == 400 and "data" in response.text, response.text
    headerless = await client.post(
        "/api/v1/invoice-imports", files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")}, headers=bearer(world.a.api_key)
    )
    assert headerless.status_code == 422 and headerless.json()["field"] == "invoice_number"


def bulk_invoice(number: str, buyer_reference: str, **overrides) -> dict:
    invoice = {
        "number": number,
        "buyer_reference": buyer_reference,
        "currency": "CNY",
        "issue_date": "2026-11-02",
        "due_date": "2026-12-02",
        "lines": [
            {"description": "深沟球轴承 6204", "quantity": "100", "unit_price": "6.80", "tax_rate": "13", "sku": "6204"},
            {"description": "Freight Wuxi–Shanghai", "quantity": 1, "unit_price": "350.00", "tax_rate": "9"},
        ],
    }
    return {**invoice, **overrides}


async def test_bulk_invoices_are_created_issued_and_a_retry_changes_nothing(client, world):
    await make_buyer(world.a, reference="BULK-1")
    body = {"invoices": [bulk_invoice("BK-1", "BULK-1"), bulk_invoice("BK-2", "BULK-1", currency="cny")]}
    response = await client.post("/api/v1/invoices/bulk", json=body, headers=bearer(world.a.api_key))
    assert response.status_code == 200, response.text
    assert response.json() == {"created": ["BK-1", "BK-2"], "unchanged": []}
    retry = await client.post("/api/v1/invoices/bulk", json=body, headers=bearer(world.a.api_key))
    assert retry.json() == {"created": [], "unchanged": ["BK-1", "BK-2"]}
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        invoice = (await session.scalars(select(Invoice).where(Invoice.number == "BK-2"))).one()
        lines = (await session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id))).all()
    # 680.00 + 88.40 tax, 350.00 + 31.50 tax
    assert (invoice.net_amount, invoice.tax_amount, invoice.gross_amount) == (
        Decimal("1030.00"),
        Decimal("119.90"),
        Decimal("1149.90"),
    )
    assert invoice.status is InvoiceStatus.ISSUED and invoice.source is InvoiceSource.API and len(lines) == 2
    assert invoice.currency == "CNY"


async def test_a_bulk_request_with_one_bad_invoice_writes_nothing_and_names_every_field(client, world):
    await make_buyer(world.a, reference="BULK-2")
    bad_line = bulk_invoice("BK-4", "BULK-2")
    bad_line["lines"][1]["quantity"] = "-1"
    body = {
        "invoices": [
            bulk_invoice("BK-3", "BULK-2"),
            bad_line,
            bulk_invoice("BK-5", "NOBODY"),
            bulk_invoice("BK-3", "BULK-2"),
            bulk_invoice("BK-6", "BULK-2", currency="XXY"),
        ]
    }
    response = await client.post("/api/v1/invoices/bulk", json=body, headers=bearer(world.a.api_key))
    assert response.status_code == 422, response.text
    fields = [error["field"] for error in response.json()["errors"]]
    assert fields == [
        "invoices[1].lines[2].quantity",
        "invoices[2].buyer_reference",
        "invoices[3].number",
        "invoices[4].currency",
    ]
    assert response.json()["field"] == "invoices[1].lines[2].quantity"
    assert await invoices_of(world.a) == 0


async def test_bulk_input_of_the_wrong_shape_answers_400_naming_the_field(client, world):
    body = {"invoices": [bulk_invoice("BK-7", "X", issue_date="yesterday")]}
    response = await client.post("/api/v1/invoices/bulk", json=body, headers=bearer(world.a.api_key))
    assert response.status_code == 400 and "issue_date" in response.text
    empty = await client.post("/api/v1/invoices/bulk", json={"invoices": []}, headers=bearer(world.a.api_key))
    assert empty.status_code == 422 and empty.json()["field"] == "invoices"


async def test_bulk_invoices_are_written_for_the_callers_tenant_only(client, world):
    await make_buyer(world.a, reference="SHARED-REF")
    # Tenant B names A's buyer reference: B has no such buyer, so nothing is written anywhere.
    response = await client.post(
        "/api/v1/invoices/bulk", json={"invoices": [bulk_invoice("BK-8", "SHARED-REF")]}, headers=bearer(world.b.api_key)
    )
    assert response.status_code == 422 and response.json()["field"] == "invoices[0].buyer_reference"
    assert await invoices_of(world.a) == 0 and await invoices_of(world.b) == 0
