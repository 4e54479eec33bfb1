"""Console ledger pages: buyers, a buyer, invoices, an invoice, a statement — each refused to another supplier."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

from backend.buyers import service as buyers
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.invoices import checks
from backend.invoices import service as ledger
from tests.conftest import csrf_token, sign_in
from tests.factories import make_buyer, make_invoice, owner_of

TODAY = date.today()
ONE_LINE = (("Bearing 6204", "10", "100.00", "13"),)  # CN¥1,130.00 gross


async def _overdue_buyer(supplier, name="Acme Trading Ltd", **overrides):
    buyer_id = await make_buyer(supplier, name, **overrides)
    invoice = await make_invoice(
        supplier, buyer_id, lines=ONE_LINE, issue_date=TODAY - timedelta(days=45), due_date=TODAY - timedelta(days=15)
    )
    return buyer_id, invoice


async def test_the_buyers_list_shows_what_each_buyer_owes_and_filters(client, world):
    buyer_id, _invoice = await _overdue_buyer(world.a, "Acme Trading Ltd", tags=["key account"])
    await make_buyer(world.a, "Berlin Bolts GmbH", country="DE", currency="EUR")
    await sign_in(client, world.a.finance)

    page = await client.get("/console/buyers")
    assert page.status_code == 200
    row = re.search(rf'<tr>\s*<td><a href="/console/buyers/{buyer_id}">Acme Trading Ltd</a>.*?</tr>', page.text, re.S).group(0)
    assert row.count("CN¥1,130.00") == 2  # open and overdue
    assert "Berlin Bolts GmbH" in page.text

    german = await client.get("/console/buyers", params={"country": "de"})
    assert "Berlin Bolts GmbH" in german.text and "Acme Trading Ltd" not in german.text
    tagged = await client.get("/console/buyers", params={"tag": "key account"})
    assert "Acme Trading Ltd" in tagged.text and "Berlin Bolts GmbH" not in tagged.text
    # htmx asks for the table alone.
    partial = await client.get("/console/buyers", params={"q": "acme"}, headers={"HX-Request": "true", "HX-Target": "buyers"})
    assert partial.status_code == 200 and "<html" not in partial.text and "Acme Trading Ltd" in partial.text
    assert "Berlin Bolts GmbH" not in partial.text


async def test_amounts_and_dates_are_written_the_chinese_way_in_chinese(client, world):
    buyer_id, invoice = await _overdue_buyer(world.a, "上海精密轴承有限公司")
    await sign_in(client, world.a.finance)
    client.cookies.set("accord_lang", "zh-CN")
    token = await csrf_token(client, "/console/buyers")
    await client.post("/language", data={"language": "zh-CN", "next": "/console/buyers", "_csrf_token": token})
    page = await client.get(f"/console/buyers/{buyer_id}")
    assert page.headers["content-language"] == "zh-CN"
    assert "¥1,130.00" in page.text and "CN¥" not in page.text
    assert f"{invoice.due_date.year}年" in page.text


async def test_a_new_buyer_with_a_bad_field_is_explained_next_to_it_and_nothing_is_added(client, world):
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, "/console/buyers")
    form = {"reference": "C-900", "legal_name": "Nowhere Ltd", "country": "China", "currency": "CNY", "payment_terms_days": "30"}
    refused = await client.post("/console/buyers", data={**form, "_csrf_token": token})
    assert refused.status_code == 422
    assert re.search(r'id="buyer-new-country-error">Enter the country as a two-letter ISO code', refused.text)
    assert 'value="Nowhere Ltd"' in refused.text  # what was typed stays
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        assert (await buyers.list_buyers(session, owner_of(world.a), query="Nowhere"))[0] == 0

    added = await client.post("/console/buyers", data={**form, "country": "cn", "_csrf_token": token}, follow_redirects=False)
    assert added.status_code == 303
    page = await client.get(added.headers["location"])
    assert page.status_code == 200 and "Nowhere Ltd" in page.text and "C-900" in page.text


async def test_the_buyer_page_shows_balances_aging_invoices_and_the_statement_link(client, world):
    buyer_id, invoice = await _overdue_buyer(world.a)
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        await ledger.record_payment(session, owner_of(world.a), buyer_id=buyer_id, amount="130.00", currency="CNY")
    await sign_in(client, world.a.finance)

    page = await client.get(f"/console/buyers/{buyer_id}")

    assert page.status_code == 200
    assert invoice.number in page.text and "CN¥1,000.00" in page.text  # open after the payment
    assert f'href="/console/buyers/{buyer_id}/statement"' in page.text
    assert "1–30 days" in page.text and "DSO = open receivables" in page.text
    assert "Record a payment" in page.text and "PAY-" in page.text  # the recorded payment in the ledger


async def test_a_collaborator_reads_the_buyer_page_without_the_forms(client, world):
    buyer_id, _invoice = await _overdue_buyer(world.a)
    await sign_in(client, world.a.collaborator)
    page = await client.get(f"/console/buyers/{buyer_id}")
    assert page.status_code == 200 and "Acme Trading Ltd" in page.text
    assert "Record a payment" not in page.text and "Add a contact" not in page.text


async def test_contacts_are_added_and_removed_in_place(client, world):
    buyer_id = await make_buyer(world.a, "Contactable Ltd")
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, f"/console/buyers/{buyer_id}")
    htmx = {"HX-Request": "true", "HX-Target": "contacts", "x-csrftoken": token}

    bad = await client.post(f"/console/buyers/{buyer_id}/contacts", data={"name": "Li Wei", "email": "nope"}, headers=htmx)
    assert bad.status_code == 422 and 'id="contact-email-error"' in bad.text and "<html" not in bad.text
    added = await client.post(
        f"/console/buyers/{buyer_id}/contacts",
        data={"name": "Li Wei <script>", "email": "li.wei@example.cn", "language": "zh-CN", "role": "AP"},
        headers=htmx,
    )
    assert added.status_code == 200 and "li.wei@example.cn" in added.text
    assert "Li Wei &lt;script&gt;" in added.text and "<script>" not in added.text
    contact_id = re.search(r'id="contact-([0-9a-f-]{36})"', added.text).group(1)

    removed = await client.post(f"/console/buyers/{buyer_id}/contacts/{contact_id}/remove", headers=htmx)
    assert removed.status_code == 200 and "li.wei@example.cn" not in removed.text


async def test_a_payment_is_recorded_from_the_buyer_page_and_a_bad_amount_is_explained(client, world):
    buyer_id, invoice = await _overdue_buyer(world.a)
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, f"/console/buyers/{buyer_id}")
    form = {"currency": "CNY", "entry_date": TODAY.isoformat(), "document_number": "BANK-77", "_csrf_token": token}

    refused = await client.post(f"/console/buyers/{buyer_id}/payments", data={**form, "amount": "12.345"})
    assert refused.status_code == 422 and 'id="payment-amount-error"' in refused.text
    bad_date = await client.post(
        f"/console/buyers/{buyer_id}/payments", data={**form, "amount": "10", "entry_date": "31/12/2025"}
    )
    assert bad_date.status_code == 422 and 'id="payment-date-error"' in bad_date.text

    paid = await client.post(f"/console/buyers/{buyer_id}/payments", data={**form, "amount": "1130.00"}, follow_redirects=False)
    assert paid.status_code == 303
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        assert (await ledger.get_invoice(session, owner_of(world.a), invoice.id)).open_amount == 0


async def test_the_invoices_list_filters_from_the_query_string_with_or_without_htmx(client, world):
    buyer_id, late = await _overdue_buyer(world.a)
    other_buyer = await make_buyer(world.a, "Other Buyer", currency="USD")
    current = await make_invoice(world.a, buyer_id, lines=ONE_LINE, issue_date=TODAY - timedelta(days=2))
    dollars = await make_invoice(world.a, other_buyer, lines=ONE_LINE, currency="USD", issue_date=TODAY - timedelta(days=100))
    await sign_in(client, world.a.finance)

    everything = await client.get("/console/invoices")
    assert all(i.number in everything.text for i in (late, current, dollars))
    overdue = await client.get("/console/invoices", params={"overdue": "1", "buyer": str(buyer_id)})
    assert late.number in overdue.text and current.number not in overdue.text and dollars.number not in overdue.text
    in_usd = await client.get("/console/invoices", params={"currency": "usd"})
    assert dollars.number in in_usd.text and late.number not in in_usd.text
    issued_window = {
        "issued_from": (TODAY - timedelta(days=50)).isoformat(),
        "issued_to": (TODAY - timedelta(days=40)).isoformat(),
    }
    by_issue = await client.get("/console/invoices", params=issued_window)
    assert late.number in by_issue.text and current.number not in by_issue.text
    by_due = await client.get("/console/invoices", params={"due_to": (TODAY - timedelta(days=1)).isoformat()})
    assert late.number in by_due.text and current.number not in by_due.text
    searched = await client.get("/console/invoices", params={"q": current.number.lower()})
    assert current.number in searched.text and late.number not in searched.text

    partial = await client.get(
        "/console/invoices",
        params={"status": "issued", "currency": "USD"},
        headers={"HX-Request": "true", "HX-Target": "invoices"},
    )
    assert partial.status_code == 200 and "<html" not in partial.text and dollars.number in partial.text
    unreadable = await client.get("/console/invoices", params={"due_from": "yesterday", "currency": "XXY"})
    assert unreadable.status_code == 200
    assert 'id="filter-due_from-error"' in unreadable.text and 'id="filter-currency-error"' in unreadable.text


async def test_the_invoices_list_pages_keep_the_filters(client, world):
    buyer_id = await make_buyer(world.a, "Many Invoices Ltd")
    for _n in range(27):
        await make_invoice(world.a, buyer_id, lines=ONE_LINE, issue_date=TODAY - timedelta(days=5))
    await sign_in(client, world.a.finance)
    first = await client.get("/console/invoices", params={"buyer": str(buyer_id), "status": "issued"})
    assert "Page 1 of 2" in first.text
    assert f"/console/invoices?page=2&amp;status=issued&amp;buyer={buyer_id}" in first.text


async def test_the_invoice_page_shows_lines_balance_and_ledger(client, world):
    buyer_id, invoice = await _overdue_buyer(world.a)
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        await ledger.record_payment(
            session, owner_of(world.a), buyer_id=buyer_id, amount="500.00", currency="CNY", document_number="BANK-1"
        )
    await sign_in(client, world.a.finance)
    page = await client.get(f"/console/invoices/{invoice.id}")
    assert page.status_code == 200
    assert "Bearing 6204" in page.text and "CN¥630.00" in page.text and "BANK-1" in page.text
    assert "15 days overdue" in page.text and "Credit note" in page.text and "No purchase order is linked" in page.text


async def test_a_blocked_draft_shows_the_findings_and_the_reason_it_was_not_issued(client, world):
    buyer_id = await make_buyer(world.a, "Draft Buyer")
    draft = await make_invoice(world.a, buyer_id, lines=ONE_LINE, issue=False)
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        await checks.set_blocking(session, owner_of(world.a), "missing_order", True)
    await sign_in(client, world.a.finance)
    page = await client.get(f"/console/invoices/{draft.id}")
    assert "The invoice names no purchase order." in page.text and "Blocks issuing" in page.text
    token = await csrf_token(client, f"/console/invoices/{draft.id}")

    refused = await client.post(
        f"/console/invoices/{draft.id}/issue", headers={"HX-Request": "true", "HX-Target": "issue", "x-csrftoken": token}
    )
    assert refused.status_code == 409
    assert "The invoice audit found a blocking problem" in refused.text and 'id="issue"' in refused.text

    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        await checks.set_blocking(session, owner_of(world.a), "missing_order", False)
    issued = await client.post(f"/console/invoices/{draft.id}/issue", data={"_csrf_token": token}, follow_redirects=False)
    assert issued.status_code == 303
    assert "Issued" in (await client.get(f"/console/invoices/{draft.id}")).text


async def test_credit_notes_need_a_reason_and_are_for_approvers_only(client, world):
    _buyer_id, invoice = await _overdue_buyer(world.a)
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, f"/console/invoices/{invoice.id}")
    url = f"/console/invoices/{invoice.id}/entries/credit-notes"

    no_reason = await client.post(url, data={"amount": "100", "entry_date": TODAY.isoformat(), "_csrf_token": token})
    assert no_reason.status_code == 422 and 'id="credit-notes-reason-error"' in no_reason.text
    too_much = await client.post(url, data={"amount": "5000", "reason": "Price", "entry_date": "", "_csrf_token": token})
    assert too_much.status_code == 422 and 'id="credit-notes-amount-error"' in too_much.text
    credited = await client.post(
        url, data={"amount": "130.00", "reason": "Short delivery", "_csrf_token": token}, follow_redirects=False
    )
    assert credited.status_code == 303
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        assert (await ledger.get_invoice(session, owner_of(world.a), invoice.id)).open_amount == Decimal("1000.00")
    assert (await client.post(f"/console/invoices/{invoice.id}/entries/refunds", data={"_csrf_token": token})).status_code == 404


async def test_a_collaborator_can_neither_see_nor_use_the_credit_forms(client, world):
    _buyer_id, invoice = await _overdue_buyer(world.a)
    await sign_in(client, world.a.collaborator)
    page = await client.get(f"/console/invoices/{invoice.id}")
    assert page.status_code == 200 and "Record credit note" not in page.text
    token = await csrf_token(client, f"/console/invoices/{invoice.id}")
    refused = await client.post(
        f"/console/invoices/{invoice.id}/entries/credit-notes", data={"amount": "1", "reason": "x", "_csrf_token": token}
    )
    assert refused.status_code == 403


async def test_the_statement_page_and_its_downloads(client, world):
    buyer_id, invoice = await _overdue_buyer(world.a)
    await sign_in(client, world.a.finance)
    page = await client.get(f"/console/buyers/{buyer_id}/statement")
    assert page.status_code == 200 and invoice.number in page.text and "Download PDF" in page.text
    assert "Total CNY" in page.text
    earlier = await client.get(
        f"/console/buyers/{buyer_id}/statement", params={"as_of": (TODAY - timedelta(days=60)).isoformat()}
    )
    assert invoice.number not in earlier.text  # not yet issued then
    csv_file = await client.get(f"/console/buyers/{buyer_id}/statement", params={"format": "csv"})
    assert csv_file.headers["content-type"].startswith("text/csv") and invoice.number in csv_file.text
    pdf = await client.get(f"/console/buyers/{buyer_id}/statement", params={"format": "pdf"})
    assert pdf.content.startswith(b"%PDF") and pdf.headers["content-disposition"].startswith("attachment")
    bad = await client.get(f"/console/buyers/{buyer_id}/statement", params={"as_of": "1999-01-01"})
    assert bad.status_code == 422 and 'id="as-of-error"' in bad.text


async def test_another_suppliers_buyers_and_invoices_are_not_found(client, world):
    buyer_id, invoice = await _overdue_buyer(world.a, "Alice Only Trading")
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        contact = await buyers.add_contact(session, owner_of(world.a), buyer_id, name="Secret Person", email="secret@example.com")
    await sign_in(client, world.b.finance)
    token = await csrf_token(client, "/console/buyers")
    for path in (
        f"/console/buyers/{buyer_id}",
        f"/console/buyers/{buyer_id}/statement",
        f"/console/buyers/{buyer_id}/statement?format=csv",
        f"/console/buyers/{buyer_id}/statement?format=pdf",
        f"/console/invoices/{invoice.id}",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "Alice Only Trading" not in response.text and "Not found" in response.text
    for path, form in (
        (f"/console/buyers/{buyer_id}/contacts", {"name": "X", "email": "x@example.com"}),
        (f"/console/buyers/{buyer_id}/contacts/{contact.id}/remove", {}),
        (f"/console/buyers/{buyer_id}/payments", {"amount": "1", "currency": "CNY"}),
        (f"/console/invoices/{invoice.id}/issue", {}),
        (f"/console/invoices/{invoice.id}/entries/adjustments", {"amount": "1"}),
    ):
        response = await client.post(path, data={**form, "_csrf_token": token})
        assert response.status_code == 404, path
        assert "Alice Only Trading" not in response.text
    listed = await client.get("/console/invoices", params={"buyer": str(buyer_id)})
    assert invoice.number not in listed.text and "Alice Only Trading" not in listed.text
    assert "Alice Only Trading" not in (await client.get("/console/buyers")).text
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        assert len(await buyers.list_contacts(session, owner_of(world.a), buyer_id)) == 1


async def test_the_invoice_page_shows_its_order_and_deliveries_with_proof_files_others_cannot_fetch(client, world):
    import io

    from backend.invoices import orders

    buyer_id = await make_buyer(world.a, "Delivered To Ltd")
    principal = owner_of(world.a)
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        order = await orders.create_order(
            session,
            principal,
            orders.OrderInput(
                buyer_id=buyer_id,
                number="PO-7001",
                order_date=TODAY - timedelta(days=20),
                currency="CNY",
                lines=[orders.OrderLineInput("Bearing 6204", Decimal("10"), Decimal("100.00"), Decimal("13"))],
            ),
        )
    invoice = await make_invoice(world.a, buyer_id, lines=ONE_LINE, po_reference="PO-7001")
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        delivery = await orders.create_delivery(
            session,
            principal,
            orders.DeliveryInput(
                number="DN-55", delivered_on=TODAY - timedelta(days=12), order_id=order.id, carrier="SF Express"
            ),
        )
        stored = await orders.attach_proof(
            session, principal, delivery.id, filename="signed-pod.pdf", source=io.BytesIO(b"%PDF-1.4\nsigned by Li Wei\n%%EOF")
        )
    await sign_in(client, world.a.finance)
    page = await client.get(f"/console/invoices/{invoice.id}")
    assert "PO-7001" in page.text and "DN-55" in page.text and "SF Express" in page.text and "signed-pod.pdf" in page.text
    link = f"/console/invoices/{invoice.id}/deliveries/{delivery.id}/files/{stored.id}"
    assert link in page.text
    proof = await client.get(link)
    assert proof.status_code == 200 and proof.content.startswith(b"%PDF") and proof.headers["x-content-type-options"] == "nosniff"
    # Through another invoice of the same tenant, which shows no such delivery, the file is not found.
    unrelated = await make_invoice(world.a, buyer_id, lines=ONE_LINE)
    assert (await client.get(f"/console/invoices/{unrelated.id}/deliveries/{delivery.id}/files/{stored.id}")).status_code == 404

    await client.post("/console/sign-out", data={"_csrf_token": await csrf_token(client, "/console")})
    await sign_in(client, world.b.finance)
    assert (await client.get(link)).status_code == 404


async def test_the_home_page_leads_with_open_and_overdue_receivables_of_its_own_tenant_only(client, world):
    mine = await make_buyer(world.a)
    await make_invoice(world.a, mine, issue_date=date.today() - timedelta(days=45))  # 1,130.00, due 15 days ago
    await make_invoice(world.a, mine, lines=(("Seal kit", "2", "100.00", "13"),))  # 226.00, not yet due
    theirs = await make_buyer(world.b, currency="EUR")
    await make_invoice(world.b, theirs, currency="EUR", lines=(("Valve", "1", "777.77", "0"),))
    await sign_in(client, world.a.finance)
    page = (await client.get("/console")).text
    assert "CN¥1,356.00" in page and "open receivables in CNY" in page
    assert "CN¥1,130.00" in page and "overdue in CNY" in page
    assert "777.77" not in page and "in EUR" not in page
