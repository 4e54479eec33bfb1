"""Console forms for a draft invoice, a purchase order and a delivery with proof files: created through the
form, errors shown beside the field with nothing written, more lines without JavaScript, and refused to
other suppliers (404) and to roles that may only read (403)."""

from __future__ import annotations

import re
import secrets
from datetime import date, timedelta
from decimal import Decimal

from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.invoices import orders
from backend.invoices import service as ledger
from backend.invoices.models import InvoiceStatus
from backend.invoices.repository import InvoiceFilter
from tests.conftest import csrf_token, sign_in
from tests.factories import make_buyer, make_invoice, owner_of

TODAY = date.today()
PDF = b"%PDF-1.4\nsigned by Li Wei\n%%EOF"


def _line(index: int, description: str, quantity: str, unit_price: str, tax_rate: str = "13", sku: str = "") -> dict:
    return {
        f"lines[{index}].sku": sku,
        f"lines[{index}].description": description,
        f"lines[{index}].quantity": quantity,
        f"lines[{index}].unit": "",
        f"lines[{index}].unit_price": unit_price,
        f"lines[{index}].tax_rate": tax_rate,
    }


async def _invoices_of(supplier, buyer_id):
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        return (await ledger.list_invoices(session, owner_of(supplier), InvoiceFilter(buyer_id=buyer_id)))[1]


async def _orders_of(supplier, buyer_id):
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        return (await orders.list_orders(session, owner_of(supplier), buyer_id=buyer_id))[1]


async def _deliveries_of(supplier, invoice_id):
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        return (await orders.list_deliveries(session, owner_of(supplier), invoice_id=invoice_id))[1]


async def test_a_draft_invoice_typed_into_the_form_is_saved_with_computed_totals(client, world):
    buyer_id = await make_buyer(world.a, "Form Buyer Ltd", currency="CNY", payment_terms_days=45)
    await sign_in(client, world.a.finance)
    page = await client.get("/console/invoices/new", params={"buyer": str(buyer_id)})
    assert page.status_code == 200
    assert f'<option value="{buyer_id}" selected>' in page.text and 'value="CNY"' in page.text
    assert "(45 days)" in page.text  # the due date's default is said
    assert page.text.count('name="lines[') == 3 * 6  # three empty rows to start with
    token = await csrf_token(client, "/console/invoices/new")

    form = {
        "_csrf_token": token,
        "buyer_id": str(buyer_id),
        "number": "INV-FORM-1",
        "currency": "",
        "issue_date": TODAY.isoformat(),
        "due_date": "",
        "po_reference": "",
        # A total typed into the form is never read.
        "gross_amount": "1.00",
        **_line(1, "Bearing 6204", "10", "100.00", "13", sku="B-6204"),
        **_line(2, "", "", "", ""),
        **_line(3, "Freight", "1", "80", "9"),
    }
    saved = await client.post("/console/invoices/new", data=form, follow_redirects=False)

    assert saved.status_code == 303, saved.text
    (invoice,) = await _invoices_of(world.a, buyer_id)
    assert saved.headers["location"] == f"/console/invoices/{invoice.id}"
    assert invoice.status is InvoiceStatus.DRAFT and invoice.currency == "CNY"
    assert invoice.gross_amount == Decimal("1217.20")  # 1000 + 130 + 80 + 7.20
    assert invoice.due_date == TODAY + timedelta(days=45)
    shown = await client.get(saved.headers["location"])
    assert "Freight" in shown.text and "CN¥1,217.20" in shown.text
    assert "Invoice audit" in shown.text and "Issue the invoice" in shown.text


async def test_bad_fields_are_named_beside_them_what_was_typed_stays_and_nothing_is_written(client, world):
    buyer_id = await make_buyer(world.a, "Careful Buyer Ltd")
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, "/console/invoices/new")
    form = {
        "_csrf_token": token,
        "buyer_id": str(buyer_id),
        "number": "INV-BAD-1",
        "currency": "CNY",
        "issue_date": TODAY.isoformat(),
        "due_date": (TODAY - timedelta(days=3)).isoformat(),
        **_line(1, "Bearing 6204", "10", "100.00"),
        **_line(2, "", "", "", ""),
        **_line(3, "Broken line", "-2", "abc"),
    }
    refused = await client.post("/console/invoices/new", data=form)

    assert refused.status_code == 422
    # The empty row is dropped, so the bad row is line 2 on screen and in the message.
    assert 'id="line-2-quantity-error">Line 2: the quantity must be above zero.' in refused.text
    assert 'id="line-2-unit_price-error">Line 2: enter a number' in refused.text
    assert 'id="invoice-due-date-error">The due date is before the issue date.' in refused.text
    assert 'value="Broken line"' in refused.text and 'value="INV-BAD-1"' in refused.text
    assert await _invoices_of(world.a, buyer_id) == []

    no_lines = await client.post(
        "/console/invoices/new", data={**form, "due_date": "", **_line(1, "", "", "", ""), **_line(3, "", "", "", "")}
    )
    assert no_lines.status_code == 422 and "An invoice needs at least one line." in no_lines.text

    await make_invoice(world.a, buyer_id, number="INV-TAKEN")
    taken = await client.post(
        "/console/invoices/new",
        data={**form, "number": "INV-TAKEN", "due_date": "", **_line(3, "Fine line", "2", "5")},
    )
    assert taken.status_code == 422
    assert 'id="invoice-number-error">An invoice with this number already exists.' in taken.text
    assert len(await _invoices_of(world.a, buyer_id)) == 1

    no_buyer = await client.post("/console/invoices/new", data={**form, "buyer_id": "", "due_date": ""})
    assert no_buyer.status_code == 422 and 'id="invoice-buyer-error"' in no_buyer.text


async def test_add_a_line_works_without_javascript_and_with_htmx(client, world):
    buyer_id = await make_buyer(world.a, "Many Lines Ltd")
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, "/console/invoices/new")
    form = {
        "_csrf_token": token,
        "buyer_id": str(buyer_id),
        "number": "INV-LINES-1",
        "issue_date": TODAY.isoformat(),
        **_line(1, "One", "1", "1"),
        **_line(2, "Two", "2", "2"),
        **_line(3, "Three", "3", "3"),
    }
    more = await client.post("/console/invoices/new", data={**form, "add_line": "1"})
    assert more.status_code == 200
    assert 'name="lines[4].description"' in more.text and 'value="Three"' in more.text
    assert 'name="lines[5].description"' not in more.text
    assert await _invoices_of(world.a, buyer_id) == []  # adding a row saves nothing

    row = await client.get("/console/invoices/new/line", params={"next_line": 4}, headers={"HX-Request": "true"})
    assert row.status_code == 200 and "<html" not in row.text
    assert 'name="lines[4].quantity"' in row.text
    assert re.search(r'<input type="hidden" id="next-line" name="next_line" value="5" hx-swap-oob="true">', row.text)

    saved = await client.post("/console/invoices/new", data={**form, **_line(4, "Four", "4", "4", "0")}, follow_redirects=False)
    assert saved.status_code == 303
    (invoice,) = await _invoices_of(world.a, buyer_id)
    assert invoice.net_amount == Decimal("30.00")  # 1 + 4 + 9 + 16


async def test_a_purchase_order_is_created_from_the_buyer_page_and_listed_there(client, world):
    buyer_id = await make_buyer(world.a, "Ordering Buyer Ltd", currency="EUR", country="DE")
    await sign_in(client, world.a.finance)
    buyer_page = await client.get(f"/console/buyers/{buyer_id}")
    assert f'href="/console/buyers/{buyer_id}/orders/new"' in buyer_page.text
    assert f'href="/console/invoices/new?buyer={buyer_id}"' in buyer_page.text
    new = await client.get(f"/console/buyers/{buyer_id}/orders/new")
    assert new.status_code == 200 and 'value="EUR"' in new.text
    token = await csrf_token(client, f"/console/buyers/{buyer_id}/orders/new")
    form = {
        "_csrf_token": token,
        "number": "PO-FORM-9",
        "order_date": (TODAY - timedelta(days=2)).isoformat(),
        "currency": "EUR",
        "contract_reference": "FRAME-2026",
        **_line(1, "Bolt M8", "500", "0.12", "19"),
    }

    future = await client.post(
        f"/console/buyers/{buyer_id}/orders/new", data={**form, "order_date": (TODAY + timedelta(days=9)).isoformat()}
    )
    assert future.status_code == 422 and 'id="order-date-error">The order date is in the future.' in future.text
    bad_line = await client.post(f"/console/buyers/{buyer_id}/orders/new", data={**form, **_line(1, "Bolt M8", "0", "0.12")})
    assert bad_line.status_code == 422
    assert 'id="line-1-quantity-error">Line 1: the quantity must be above zero.' in bad_line.text
    assert await _orders_of(world.a, buyer_id) == []

    saved = await client.post(f"/console/buyers/{buyer_id}/orders/new", data=form, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"/console/buyers/{buyer_id}#orders"
    (order,) = await _orders_of(world.a, buyer_id)
    assert order.number == "PO-FORM-9" and order.contract_reference == "FRAME-2026"
    listed = await client.get(f"/console/buyers/{buyer_id}")
    assert "PO-FORM-9" in listed.text and "FRAME-2026" in listed.text
    assert f"/console/invoices/new?buyer={buyer_id}&amp;po=PO-FORM-9" in listed.text
    # Invoicing the order starts from its lines.
    invoicing = await client.get("/console/invoices/new", params={"buyer": str(buyer_id), "po": "PO-FORM-9"})
    assert 'name="lines[1].description" value="Bolt M8"' in invoicing.text
    assert (
        'name="lines[1].quantity" value="500"' in invoicing.text and 'name="lines[1].unit_price" value="0.12"' in invoicing.text
    )
    assert 'name="lines[2].description" value=""' in invoicing.text and 'value="PO-FORM-9"' in invoicing.text
    assert "Copied from order PO-FORM-9." in invoicing.text


async def test_a_delivery_with_proof_files_is_recorded_on_the_invoice_page(client, world):
    buyer_id = await make_buyer(world.a, "Delivered Buyer Ltd")
    invoice = await make_invoice(world.a, buyer_id)
    await sign_in(client, world.a.finance)
    page = await client.get(f"/console/invoices/{invoice.id}")
    assert "Record a delivery" in page.text and "up to 20 MB each" in page.text
    token = await csrf_token(client, f"/console/invoices/{invoice.id}")
    fields = {
        "_csrf_token": token,
        "number": "DN-FORM-1",
        "delivered_on": (TODAY - timedelta(days=1)).isoformat(),
        "carrier": "SF Express",
        "tracking_number": "SF123",
        "received_by": "Li Wei",
        "notes": "",
    }

    refused = await client.post(
        f"/console/invoices/{invoice.id}/deliveries",
        data=fields,
        files=[("files", ("pod.pdf", PDF, "application/pdf")), ("files", ("notes.docx", b"PK\x03\x04word", "application/pdf"))],
    )
    assert refused.status_code == 422
    assert re.search(r'id="delivery-files-error" role="alert">notes.docx: Proof of delivery must be a PDF', refused.text)
    assert 'value="Li Wei"' in refused.text
    assert await _deliveries_of(world.a, invoice.id) == []  # neither the delivery nor the good file

    recorded = await client.post(
        f"/console/invoices/{invoice.id}/deliveries",
        data=fields,
        files=[("files", ("pod.pdf", PDF, "application/pdf")), ("files", ("photo.png", b"\x89PNG\r\n\x1a\nxx", "image/png"))],
        follow_redirects=False,
    )
    assert recorded.status_code == 303, recorded.text
    (details,) = await _deliveries_of(world.a, invoice.id)
    assert details.delivery.carrier == "SF Express" and sorted(f.filename for f in details.files) == ["photo.png", "pod.pdf"]
    shown = await client.get(f"/console/invoices/{invoice.id}")
    assert "DN-FORM-1" in shown.text and "pod.pdf" in shown.text

    again = await client.post(f"/console/invoices/{invoice.id}/deliveries", data=fields)
    assert again.status_code == 409 and 'id="delivery-number-error">A delivery with this number already exists.' in again.text


async def test_a_proof_file_past_20_mb_is_refused_in_place(client, world):
    buyer_id = await make_buyer(world.a, "Big Files Ltd")
    invoice = await make_invoice(world.a, buyer_id)
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, f"/console/invoices/{invoice.id}")
    refused = await client.post(
        f"/console/invoices/{invoice.id}/deliveries",
        data={"_csrf_token": token, "number": "DN-BIG", "delivered_on": TODAY.isoformat()},
        files=[("files", ("scan.pdf", PDF + b"x" * orders.MAX_PROOF_BYTES, "application/pdf"))],
    )
    assert refused.status_code == 413
    assert 'id="delivery-files-error" role="alert">scan.pdf: The file is larger than 20 MB.' in refused.text
    assert await _deliveries_of(world.a, invoice.id) == []


async def test_another_suppliers_buyer_and_invoice_are_not_found_on_the_new_forms(client, world):
    buyer_id = await make_buyer(world.a, "Alice Only Buyer")
    invoice = await make_invoice(world.a, buyer_id)
    await sign_in(client, world.b.finance)
    token = await csrf_token(client, "/console/invoices/new")
    for path in (
        f"/console/invoices/new?buyer={buyer_id}",
        f"/console/buyers/{buyer_id}/orders/new",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "Alice Only Buyer" not in response.text
    order_form = {"_csrf_token": token, "number": "PO-X", "order_date": TODAY.isoformat(), **_line(1, "X", "1", "1")}
    assert (await client.post(f"/console/buyers/{buyer_id}/orders/new", data=order_form)).status_code == 404
    delivery = await client.post(
        f"/console/invoices/{invoice.id}/deliveries",
        data={"_csrf_token": token, "number": "DN-X", "delivered_on": TODAY.isoformat()},
        files=[("files", ("pod.pdf", PDF, "application/pdf"))],
    )
    assert delivery.status_code == 404 and "Alice Only Buyer" not in delivery.text
    # A buyer id of another supplier typed into the form is no buyer of yours: refused beside the field.
    typed = await client.post(
        "/console/invoices/new",
        data={
            "_csrf_token": token,
            "buyer_id": str(buyer_id),
            "number": "INV-X",
            "issue_date": TODAY.isoformat(),
            **_line(1, "X", "1", "1"),
        },
    )
    assert typed.status_code == 422 and 'id="invoice-buyer-error"' in typed.text and "Alice Only Buyer" not in typed.text
    assert len(await _invoices_of(world.a, buyer_id)) == 1
    assert await _orders_of(world.a, buyer_id) == [] and await _deliveries_of(world.a, invoice.id) == []


async def test_a_collaborator_sees_no_forms_and_is_refused_every_post(client, world):
    buyer_id = await make_buyer(world.a, "Read Only Buyer")
    invoice = await make_invoice(world.a, buyer_id)
    await sign_in(client, world.a.collaborator)
    assert "New invoice" not in (await client.get("/console/invoices")).text
    buyer_page = await client.get(f"/console/buyers/{buyer_id}")
    assert "New purchase order" not in buyer_page.text and "New invoice" not in buyer_page.text
    assert "Record a delivery" not in (await client.get(f"/console/invoices/{invoice.id}")).text
    assert (await client.get("/console/invoices/new")).status_code == 403
    assert (await client.get(f"/console/buyers/{buyer_id}/orders/new")).status_code == 403
    token = await csrf_token(client, f"/console/invoices/{invoice.id}")
    invoice_form = {"_csrf_token": token, "buyer_id": str(buyer_id), "number": "INV-C", "issue_date": TODAY.isoformat()}
    assert (await client.post("/console/invoices/new", data={**invoice_form, **_line(1, "X", "1", "1")})).status_code == 403
    assert (await client.post("/console/invoices/new", data={**invoice_form, "add_line": "1"})).status_code == 403
    order_form = {"_csrf_token": token, "number": "PO-C", "order_date": TODAY.isoformat(), **_line(1, "X", "1", "1")}
    assert (await client.post(f"/console/buyers/{buyer_id}/orders/new", data=order_form)).status_code == 403
    delivery = await client.post(
        f"/console/invoices/{invoice.id}/deliveries",
        data={"_csrf_token": token, "number": "DN-C", "delivered_on": TODAY.isoformat()},
        files=[("files", ("pod.pdf", PDF, "application/pdf"))],
    )
    assert delivery.status_code == 403
    assert len(await _invoices_of(world.a, buyer_id)) == 1
    assert await _orders_of(world.a, buyer_id) == [] and await _deliveries_of(world.a, invoice.id) == []


async def test_a_viewer_is_refused_too(client, world):
    from backend.auth.passwords import hash_password
    from backend.db.uow import global_unit_of_work
    from backend.tenants.models import Membership, MembershipStatus, Role, User
    from tests.conftest import Person

    email = f"viewer.{secrets.token_hex(3)}@example.com"
    async with global_unit_of_work() as session:
        user = User(email=email, display_name="Viewer", password_hash=hash_password("viewer-pass-long-1"))
        session.add(user)
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        membership = Membership(user_id=user.id, role=Role.VIEWER, status=MembershipStatus.ACTIVE)
        session.add(membership)
    buyer_id = await make_buyer(world.a, "Viewed Buyer")
    await sign_in(client, Person(email, "viewer-pass-long-1", user.id, membership.id))
    token = await csrf_token(client, f"/console/buyers/{buyer_id}")
    form = {"_csrf_token": token, "buyer_id": str(buyer_id), "number": "INV-V", "issue_date": TODAY.isoformat()}
    assert (await client.post("/console/invoices/new", data={**form, **_line(1, "X", "1", "1")})).status_code == 403
    assert await _invoices_of(world.a, buyer_id) == []
