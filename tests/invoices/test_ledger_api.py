"""The invoices and ledger API: drafts, issue, payments, credit notes, write-offs, adjustments."""

from __future__ import annotations

import secrets
import uuid
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from backend.audit import service as audit
from backend.auth.service import create_api_key
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.invoices.models import Invoice, InvoiceLine, LedgerEntry
from backend.tenants.models import Role
from tests.conftest import Supplier, bearer
from tests.factories import make_buyer, make_invoice

TODAY = date.today()


async def key_for(supplier: Supplier, role: Role) -> dict[str, str]:
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        _key, secret = await create_api_key(session, audit.SYSTEM, name=f"{role.value} key", role=role)
    return bearer(secret)


def invoice_body(buyer_id, **overrides) -> dict:
    return {
        "buyer_id": str(buyer_id),
        "number": f"INV-{secrets.token_hex(4).upper()}",
        "currency": "CNY",
        "issue_date": (TODAY - timedelta(days=10)).isoformat(),
        "due_date": (TODAY + timedelta(days=20)).isoformat(),
        "lines": [
            # 10 × 100.00 = 1,000.00 net, 13 % = 130.00 tax
            {"description": "Bearing 6204", "quantity": "10", "unit_price": "100.00", "tax_rate": "13", "sku": "B6204"},
            # 4 × 25.50 = 102.00 net, 13 % = 13.26 tax (numbers, not strings, are accepted too)
            {"description": "Seal kit", "quantity": 4, "unit_price": 25.50, "tax_rate": 13},
        ],
        **overrides,
    }


async def count_rows(supplier: Supplier) -> tuple[int, int, int]:
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        return (
            (await session.execute(select(func.count(Invoice.id)))).scalar_one(),
            (await session.execute(select(func.count(InvoiceLine.id)))).scalar_one(),
            (await session.execute(select(func.count(LedgerEntry.id)))).scalar_one(),
        )


async def audit_actions(client, supplier: Supplier, object_id) -> dict[str, dict]:
    response = await client.get(
        "/api/v1/audit-events", params={"object_id": str(object_id), "limit": 200}, headers=bearer(supplier.api_key)
    )
    return {e["action"]: e for e in response.json()["items"]}


async def test_an_invoice_created_over_the_api_has_totals_computed_from_its_lines(client, world):
    buyer_id = await make_buyer(world.a)
    response = await client.post("/api/v1/invoices", json=invoice_body(buyer_id), headers=bearer(world.a.api_key))
    assert response.status_code == 201, response.text
    invoice = response.json()
    # net 1,000.00 + 102.00 = 1,102.00; tax 130.00 + 13.26 = 143.26; gross 1,245.26
    assert (invoice["net_amount"], invoice["tax_amount"], invoice["gross_amount"]) == ("1102.00", "143.26", "1245.26")
    assert invoice["status"] == "draft" and invoice["source"] == "api" and invoice["open_amount"] == "1245.26"
    assert [(line["quantity"], line["unit_price"], line["gross_amount"]) for line in invoice["lines"]] == [
        ("10", "100.00", "1130.00"),
        ("4", "25.50", "115.26"),
    ]
    # A draft asks for nothing yet.
    assert invoice["balance"] == {
        "currency": "CNY",
        "open": "0.00",
        "overdue": "0.00",
        "current": "0.00",
        "disputed": "0.00",
        "undisputed": "0.00",
    }
    fetched = (await client.get(f"/api/v1/invoices/{invoice['id']}", headers=bearer(world.a.api_key))).json()
    assert fetched == invoice
    event = (await audit_actions(client, world.a, invoice["id"]))["invoice.created"]
    assert event["before"] is None and Decimal(event["after"]["gross_amount"]) == Decimal("1245.26")


async def test_an_invoice_is_issued_on_request_and_only_once(client, world):
    buyer_id = await make_buyer(world.a)
    headers = bearer(world.a.api_key)
    draft = (await client.post("/api/v1/invoices", json=invoice_body(buyer_id), headers=headers)).json()
    issued = await client.post(f"/api/v1/invoices/{draft['id']}/issue", headers=headers)
    assert issued.status_code == 201, issued.text
    assert issued.json()["status"] == "issued" and issued.json()["balance"]["open"] == "1245.26"
    again = await client.post(f"/api/v1/invoices/{draft['id']}/issue", headers=headers)
    assert again.status_code == 409 and again.json()["field"] == "status"
    event = (await audit_actions(client, world.a, draft["id"]))["invoice.issued"]
    assert event["before"]["status"] == "draft" and event["after"]["status"] == "issued"
    at_once = await client.post("/api/v1/invoices", json=invoice_body(buyer_id, issue=True), headers=headers)
    assert at_once.status_code == 201 and at_once.json()["status"] == "issued"


async def test_a_create_with_one_bad_line_writes_no_invoice_and_no_lines(client, world):
    buyer_id = await make_buyer(world.a)
    headers = bearer(world.a.api_key)
    before = await count_rows(world.a)
    body = invoice_body(buyer_id)
    body["lines"].append({"description": "Returned goods", "quantity": "-2", "unit_price": "10.00"})
    refused = await client.post("/api/v1/invoices", json=body, headers=headers)
    assert refused.status_code == 422 and refused.json()["field"] == "lines[3].quantity", refused.text
    body["lines"][2] = {"description": "Odd", "quantity": "two", "unit_price": "10.00"}
    malformed = await client.post("/api/v1/invoices", json=body, headers=headers)
    assert malformed.status_code == 400 and malformed.json()["extra"][0]["key"] == "lines[2].quantity"
    body["lines"][2] = {"description": "Odd", "quantity": "1.00001", "unit_price": "10.00"}
    too_fine = await client.post("/api/v1/invoices", json=body, headers=headers)
    assert too_fine.status_code == 422 and too_fine.json()["field"] == "lines[3].quantity"
    assert await count_rows(world.a) == before


async def test_bad_invoice_input_names_the_field(client, world):
    buyer_id = await make_buyer(world.a)
    other_tenants_buyer = await make_buyer(world.b)
    headers = bearer(world.a.api_key)
    before = await count_rows(world.a)
    for change, status, field in (
        ({"currency": "ZZZ"}, 422, "currency"),
        ({"lines": []}, 422, "lines"),
        ({"number": "  "}, 422, "number"),
        ({"due_date": (TODAY - timedelta(days=30)).isoformat()}, 422, "due_date"),
        ({"buyer_id": str(other_tenants_buyer)}, 422, "buyer_id"),
        ({"buyer_id": str(uuid.uuid4())}, 422, "buyer_id"),
        ({"issue_date": "2024-02-30"}, 400, "issue_date"),
        ({"number": "X" * 65}, 400, "number"),
    ):
        response = await client.post("/api/v1/invoices", json={**invoice_body(buyer_id), **change}, headers=headers)
        assert response.status_code == status, (change, response.text)
        named = response.json()["field"] if status == 422 else response.json()["extra"][0]["key"]
        assert named == field, (change, response.json())
    assert await count_rows(world.a) == before


async def test_a_duplicate_invoice_number_is_a_conflict(client, world):
    buyer_id = await make_buyer(world.a)
    headers = bearer(world.a.api_key)
    body = invoice_body(buyer_id)
    assert (await client.post("/api/v1/invoices", json=body, headers=headers)).status_code == 201
    again = await client.post("/api/v1/invoices", json=body, headers=headers)
    assert again.status_code == 409 and again.json()["field"] == "number"


async def test_invoices_list_filters_by_status_buyer_overdue_currency_dates_and_number(client, world):
    headers = bearer(world.a.api_key)
    first, second = await make_buyer(world.a), await make_buyer(world.a)
    late = await make_invoice(
        world.a,
        first,
        issue_date=TODAY - timedelta(days=60),
        due_date=TODAY - timedelta(days=30),
        number="LATE-" + secrets.token_hex(3),
    )
    current = await make_invoice(world.a, first, issue_date=TODAY - timedelta(days=5), due_date=TODAY + timedelta(days=25))
    dollars = await make_invoice(world.a, second, currency="USD", issue_date=TODAY - timedelta(days=3))
    draft = await make_invoice(world.a, second, issue=False, issue_date=TODAY - timedelta(days=1))

    async def numbers(**params) -> set[str]:
        response = await client.get("/api/v1/invoices", params={"limit": 200, **params}, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["total"] == len(page["items"])
        return {i["number"] for i in page["items"]}

    mine = {late.number, current.number, dollars.number, draft.number}
    assert await numbers(buyer_id=str(first)) == {late.number, current.number}
    assert (await numbers(overdue="true")) & mine == {late.number}
    assert (await numbers(status="draft")) & mine == {draft.number}
    assert (await numbers(currency="usd")) & mine == {dollars.number}
    assert await numbers(q=late.number[-6:].lower()) == {late.number}
    window = {"issued_from": (TODAY - timedelta(days=6)).isoformat(), "issued_to": (TODAY - timedelta(days=2)).isoformat()}
    assert (await numbers(**window)) & mine == {current.number, dollars.number}
    due = {"due_from": (TODAY - timedelta(days=31)).isoformat(), "due_to": (TODAY - timedelta(days=29)).isoformat()}
    assert (await numbers(**due)) & mine == {late.number}
    first_page = (await client.get("/api/v1/invoices", params={"buyer_id": str(first), "limit": 1}, headers=headers)).json()
    assert first_page["total"] == 2 and len(first_page["items"]) == 1
    bad = await client.get("/api/v1/invoices", params={"status": "lost"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "status"


async def test_invoice_lists_never_show_another_tenants_invoices(client, world):
    theirs = await make_invoice(world.b, await make_buyer(world.b))
    page = (await client.get("/api/v1/invoices", params={"q": theirs.number}, headers=bearer(world.a.api_key))).json()
    assert page["total"] == 0 and page["items"] == []


async def test_another_tenants_invoice_answers_404_like_a_missing_one_on_every_endpoint(client, world):
    theirs = await make_invoice(world.b, await make_buyer(world.b))
    headers = bearer(world.a.api_key)
    entry = {"amount": "10.00", "reason": "goodwill"}
    for method, path, body in (
        ("GET", "/api/v1/invoices/{id}", None),
        ("POST", "/api/v1/invoices/{id}/issue", None),
        ("GET", "/api/v1/invoices/{id}/entries", None),
        ("POST", "/api/v1/invoices/{id}/credit-notes", entry),
        ("POST", "/api/v1/invoices/{id}/write-offs", entry),
        ("POST", "/api/v1/invoices/{id}/adjustments", entry),
    ):
        foreign = await client.request(method, path.format(id=theirs.id), json=body, headers=headers)
        absent = await client.request(method, path.format(id=uuid.uuid4()), json=body, headers=headers)
        assert foreign.status_code == absent.status_code == 404, (method, path, foreign.text)
        assert foreign.json() == absent.json()
    their_buyer = theirs.buyer_id
    payment = {"amount": "10.00", "currency": "CNY"}
    foreign = await client.post("/api/v1/payments", json={**payment, "buyer_id": str(their_buyer)}, headers=headers)
    absent = await client.post("/api/v1/payments", json={**payment, "buyer_id": str(uuid.uuid4())}, headers=headers)
    assert foreign.status_code == absent.status_code == 404 and foreign.json() == absent.json()
    # Naming their invoice in an allocation of a payment from one's own buyer is refused like a missing one.
    mine = await make_buyer(world.a)
    for invoice_id in (theirs.id, uuid.uuid4()):
        response = await client.post(
            "/api/v1/payments",
            json={**payment, "buyer_id": str(mine), "allocations": [{"invoice_id": str(invoice_id), "amount": "10.00"}]},
            headers=headers,
        )
        assert response.status_code == 422 and response.json()["field"] == "allocations"
    assert (await client.get(f"/api/v1/invoices/{theirs.id}", headers=bearer(world.b.api_key))).json()["open_amount"] == "1130.00"
    assert await count_rows(world.b) == (1, 1, 0)


async def test_a_payment_goes_to_the_oldest_invoice_and_shows_in_both_ledgers(client, world):
    buyer_id = await make_buyer(world.a)
    headers = bearer(world.a.api_key)
    older = await make_invoice(world.a, buyer_id, issue_date=TODAY - timedelta(days=40), due_date=TODAY - timedelta(days=10))
    newer = await make_invoice(world.a, buyer_id, issue_date=TODAY - timedelta(days=5))
    response = await client.post(
        "/api/v1/payments",
        json={
            "buyer_id": str(buyer_id),
            "amount": 1500,
            "currency": "CNY",
            "date": TODAY.isoformat(),
            "document_number": "BANK-1",
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    payment = response.json()
    # 1,500.00 → 1,130.00 to the older invoice, 370.00 to the newer one.
    assert payment["amount"] == "1500.00" and payment["unallocated_amount"] == "0.00"
    assert [(a["invoice_number"], a["amount"]) for a in payment["allocations"]] == [
        (older.number, "1130.00"),
        (newer.number, "370.00"),
    ]
    older_now = (await client.get(f"/api/v1/invoices/{older.id}", headers=headers)).json()
    newer_now = (await client.get(f"/api/v1/invoices/{newer.id}", headers=headers)).json()
    assert (older_now["status"], older_now["open_amount"]) == ("paid", "0.00")
    assert (newer_now["status"], newer_now["open_amount"]) == ("partially_paid", "760.00")  # 1,130.00 − 370.00
    entries = (await client.get(f"/api/v1/invoices/{newer.id}/entries", headers=headers)).json()
    assert [(e["document_number"], e["allocations"][0]["amount"]) for e in entries["items"]] == [("BANK-1", "370.00")]
    buyer_entries = (await client.get(f"/api/v1/buyers/{buyer_id}/entries", headers=headers)).json()
    assert buyer_entries["total"] == 1 and buyer_entries["items"][0]["id"] == payment["id"]
    event = (await audit_actions(client, world.a, buyer_id))["ledger.payment_recorded"]
    allocated = {number: Decimal(amount) for number, amount in event["after"]["allocations"].items()}
    assert allocated == {older.number: Decimal("1130.00"), newer.number: Decimal("370.00")}


async def test_credit_notes_write_offs_and_adjustments_leave_entries_and_audit_before_and_after(client, world):
    buyer_id = await make_buyer(world.a)
    headers = bearer(world.a.api_key)
    invoice = await make_invoice(world.a, buyer_id)  # 1,130.00
    credit = await client.post(
        f"/api/v1/invoices/{invoice.id}/credit-notes",
        json={"amount": "130.00", "reason": "Two bearings damaged", "document_number": "CN-7"},
        headers=headers,
    )
    assert credit.status_code == 201, credit.text
    assert credit.json()["kind"] == "credit_note" and credit.json()["allocations"][0]["amount"] == "130.00"
    fee = await client.post(
        f"/api/v1/invoices/{invoice.id}/adjustments", json={"amount": "25.00", "reason": "late fee"}, headers=headers
    )
    assert fee.status_code == 201, fee.text
    write_off = await client.post(
        f"/api/v1/invoices/{invoice.id}/write-offs", json={"amount": 1025, "reason": "Buyer insolvent"}, headers=headers
    )
    assert write_off.status_code == 201, write_off.text
    # 1,130.00 − 130.00 + 25.00 − 1,025.00 = 0.00
    after = (await client.get(f"/api/v1/invoices/{invoice.id}", headers=headers)).json()
    assert (after["open_amount"], after["status"]) == ("0.00", "written_off")
    entries = (await client.get(f"/api/v1/invoices/{invoice.id}/entries", headers=headers)).json()["items"]
    assert [(e["kind"], e["amount"]) for e in entries] == [
        ("credit_note", "130.00"),
        ("adjustment", "25.00"),
        ("write_off", "1025.00"),
    ]
    actions = await audit_actions(client, world.a, invoice.id)
    assert actions["ledger.credit_note_recorded"]["before"]["open_amount"].startswith("1130.00")
    assert actions["ledger.credit_note_recorded"]["after"]["open_amount"].startswith("1000.00")
    assert actions["ledger.write_off_recorded"]["after"]["status"] == "written_off"
    assert actions["ledger.adjustment_recorded"]["after"]["entry"]["amount"].startswith("25.00")


async def test_a_collector_cannot_record_a_credit_note_or_a_write_off(client, world):
    collector = await key_for(world.a, Role.COLLECTOR)
    invoice = await make_invoice(world.a, await make_buyer(world.a))
    before = await count_rows(world.a)
    body = {"amount": "10.00", "reason": "goodwill"}
    assert (await client.post(f"/api/v1/invoices/{invoice.id}/credit-notes", json=body, headers=collector)).status_code == 403
    assert (await client.post(f"/api/v1/invoices/{invoice.id}/write-offs", json=body, headers=collector)).status_code == 403
    assert await count_rows(world.a) == before
    # What a collector does do: record the payment.
    paid = await client.post(
        "/api/v1/payments", json={"buyer_id": str(invoice.buyer_id), "amount": "10.00", "currency": "CNY"}, headers=collector
    )
    assert paid.status_code == 201


async def test_a_viewer_key_cannot_create_invoices_or_ledger_entries(client, world):
    viewer = await key_for(world.a, Role.VIEWER)
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    draft = await make_invoice(world.a, buyer_id, issue=False)
    before = await count_rows(world.a)
    for path, body in (
        ("/api/v1/invoices", invoice_body(buyer_id)),
        (f"/api/v1/invoices/{draft.id}/issue", None),
        ("/api/v1/payments", {"buyer_id": str(buyer_id), "amount": "1.00", "currency": "CNY"}),
        (f"/api/v1/invoices/{invoice.id}/adjustments", {"amount": "1.00"}),
        (f"/api/v1/invoices/{invoice.id}/credit-notes", {"amount": "1.00", "reason": "x"}),
    ):
        response = await client.post(path, json=body, headers=viewer)
        assert response.status_code == 403, (path, response.text)
    assert await count_rows(world.a) == before
    assert (await client.get(f"/api/v1/invoices/{invoice.id}", headers=viewer)).status_code == 200


async def test_bad_ledger_input_names_the_field_and_writes_nothing(client, world):
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    headers = bearer(world.a.api_key)
    before = await count_rows(world.a)
    payment = {"buyer_id": str(buyer_id), "amount": "100.00", "currency": "CNY"}
    for change, status, field in (
        ({"amount": "12.345"}, 422, "amount"),
        ({"amount": "0"}, 422, "amount"),
        ({"amount": "NaN"}, 422, "amount"),
        ({"amount": "1e30"}, 422, "amount"),
        ({"amount": "a lot"}, 400, "amount"),
        ({"currency": "ZZZ"}, 422, "currency"),
        ({"date": "yesterday"}, 400, "date"),
        ({"date": (TODAY + timedelta(days=10)).isoformat()}, 422, "date"),
        ({"allocations": [{"invoice_id": str(invoice.id), "amount": "200.00"}]}, 422, "allocations"),
        ({"allocations": [{"invoice_id": str(invoice.id), "amount": "2000.00"}], "amount": "2000.00"}, 422, "allocations"),
        ({"allocations": [{"invoice_id": str(invoice.id), "amount": "NaN"}]}, 422, "allocations[1].amount"),
    ):
        response = await client.post("/api/v1/payments", json={**payment, **change}, headers=headers)
        assert response.status_code == status, (change, response.text)
        named = response.json()["field"] if status == 422 else response.json()["extra"][0]["key"]
        assert named == field, (change, response.json())
    for path, body, field in (
        (f"/api/v1/invoices/{invoice.id}/credit-notes", {"amount": "10.00"}, "reason"),
        (f"/api/v1/invoices/{invoice.id}/credit-notes", {"amount": "-10.00", "reason": "x"}, "amount"),
        (f"/api/v1/invoices/{invoice.id}/adjustments", {"amount": "0"}, "amount"),
        (f"/api/v1/invoices/{invoice.id}/adjustments", {"amount": "-1130.01"}, "amount"),
        (f"/api/v1/invoices/{invoice.id}/write-offs", {"amount": "1130.01", "reason": "x"}, "amount"),
    ):
        response = await client.post(path, json=body, headers=headers)
        assert response.status_code == 422 and response.json()["field"] == field, (path, body, response.text)
    assert await count_rows(world.a) == before


async def test_a_document_number_is_used_once_per_kind(client, world):
    buyer_id = await make_buyer(world.a)
    await make_invoice(world.a, buyer_id)
    headers = bearer(world.a.api_key)
    body = {"buyer_id": str(buyer_id), "amount": "10.00", "currency": "CNY", "document_number": "BANK-42"}
    assert (await client.post("/api/v1/payments", json=body, headers=headers)).status_code == 201
    again = await client.post("/api/v1/payments", json=body, headers=headers)
    assert again.status_code == 409 and again.json()["field"] == "document_number"


async def test_a_create_and_issue_stopped_by_a_blocking_finding_leaves_no_draft_behind(client, world):
    buyer_id = await make_buyer(world.a)
    headers = bearer(world.a.api_key)
    stem = secrets.token_hex(3).upper()
    await make_invoice(world.a, buyer_id, number=f"INV-{stem}-1")
    before = await count_rows(world.a)
    # Reads the same once punctuation is ignored: the duplicate-number check blocks issuing by default.
    response = await client.post(
        "/api/v1/invoices", json=invoice_body(buyer_id, number=f"INV.{stem}.1", issue=True), headers=headers
    )
    assert response.status_code == 409 and response.json()["field"] == "findings", response.text
    assert await count_rows(world.a) == before
    assert (await client.get("/api/v1/invoices", params={"q": f"INV.{stem}"}, headers=headers)).json()["total"] == 0
