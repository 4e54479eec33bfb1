"""The invoice audit before issue: each check names its problem, the tenant decides what blocks issuing."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest

from backend.audit import service as audit
from backend.auth import service as auth
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.errors import Conflict, PermissionDenied, ValidationFailed
from backend.invoices import checks, orders
from backend.invoices import service as invoices
from backend.invoices.drafts import InvoiceDraft, LineDraft
from backend.invoices.models import Invoice, InvoiceStatus
from backend.tenants import service as tenants
from backend.tenants.models import Role
from tests.conftest import Supplier, bearer, csrf_token, sign_in
from tests.factories import make_buyer, owner_of

ISSUED_ON = date.today() - timedelta(days=5)
# (sku, description, quantity, unit price, tax rate %)
ORDERED = [
    ("BRG-6204", "Deep groove ball bearing 6204-2RS", "100", "12.50", "13"),
    ("MOT-Y2-90L", "Motor Y2-90L-4 1.5 kW", "4", "860.00", "13"),
]


def _scope(supplier: Supplier):
    return tenant_unit_of_work(TenantId(supplier.tenant_id))


async def _order(supplier: Supplier, buyer_id: uuid.UUID, number: str = "PO-2026-0001", lines=ORDERED, currency: str = "CNY"):
    data = orders.OrderInput(
        buyer_id=buyer_id,
        number=number,
        order_date=ISSUED_ON - timedelta(days=20),
        currency=currency,
        lines=[
            orders.OrderLineInput(description, Decimal(quantity), Decimal(price), Decimal(rate), sku=sku)
            for sku, description, quantity, price, rate in lines
        ],
    )
    async with _scope(supplier) as session:
        return (await orders.create_order(session, owner_of(supplier), data)).id


async def _draft(
    supplier: Supplier,
    buyer_id: uuid.UUID,
    lines=ORDERED,
    *,
    po: str | None = "PO-2026-0001",
    number: str | None = None,
    currency: str = "CNY",
    due_date: date | None = None,
    issue_date: date = ISSUED_ON,
) -> Invoice:
    draft = InvoiceDraft(
        number=number or f"INV-{secrets.token_hex(4).upper()}",
        buyer_reference="",
        currency=currency,
        issue_date=issue_date,
        due_date=due_date,
        po_reference=po,
        lines=[
            LineDraft(sku=sku, description=d, quantity=Decimal(q), unit_price=Decimal(p), tax_rate=Decimal(t))
            for sku, d, q, p, t in lines
        ],
    )
    async with _scope(supplier) as session:
        return await invoices.create_invoice(session, owner_of(supplier), draft, buyer_id=buyer_id)


async def _findings(supplier: Supplier, invoice: Invoice) -> list[checks.Finding]:
    async with _scope(supplier) as session:
        return await checks.findings_for(session, owner_of(supplier), invoice.id)


async def _issue(supplier: Supplier, invoice: Invoice) -> Invoice:
    async with _scope(supplier) as session:
        return await invoices.issue_invoice(session, owner_of(supplier), invoice.id)


async def _set_blocking(supplier: Supplier, check: str, blocking: bool) -> None:
    async with _scope(supplier) as session:
        await checks.set_blocking(session, owner_of(supplier), check, blocking)


async def _api_key(supplier: Supplier, role: Role) -> str:
    async with _scope(supplier) as session:
        _key, secret = await auth.create_api_key_for(session, owner_of(supplier), name=f"{role.value} key", role=role)
    return secret


@pytest.fixture
async def buyer(world):
    buyer_id = await make_buyer(world.a, "苏州恒瑞机电有限公司", payment_terms_days=45)
    await _order(world.a, buyer_id)
    return buyer_id


def _only(findings: list[checks.Finding], check: str) -> checks.Finding:
    matching = [f for f in findings if f.check == check]
    assert len(matching) == 1, [(f.check, f.message_text()) for f in findings]
    return matching[0]


# --- each check ------------------------------------------------------------------------------


async def test_an_invoice_that_matches_its_order_and_terms_has_no_findings_and_issues(world, buyer):
    invoice = await _draft(world.a, buyer)
    assert await _findings(world.a, invoice) == []
    assert (await _issue(world.a, invoice)).status is InvoiceStatus.ISSUED


async def test_an_invoice_without_a_purchase_order_is_found(world, buyer):
    finding = _only(await _findings(world.a, await _draft(world.a, buyer, po=None)), "missing_order")
    assert finding.message_text() == "The invoice names no purchase order."
    assert not finding.blocking and finding.severity == "warning"


async def test_an_invoice_naming_an_order_that_is_not_on_file_is_found(world, buyer):
    findings = await _findings(world.a, await _draft(world.a, buyer, po="PO-9999"))
    assert _only(findings, "missing_order").message_text() == "Purchase order PO-9999 is not on file."


async def test_an_invoice_in_another_currency_than_its_order_is_found(world, buyer):
    findings = await _findings(world.a, await _draft(world.a, buyer, currency="USD"))
    assert _only(findings, "currency").message_text() == "The invoice is in USD, the order in CNY."


async def test_a_line_for_an_item_not_on_the_order_is_found(world, buyer):
    lines = [*ORDERED, ("PCB-A7", "PCB assembly A7 controller", "2", "310.00", "13")]
    findings = await _findings(world.a, await _draft(world.a, buyer, lines))
    assert _only(findings, "line_not_ordered").message_text() == "Line 3 (PCB-A7) is not on order PO-2026-0001."


async def test_billing_more_than_ordered_counts_earlier_invoices_of_the_order(world, buyer):
    first = await _draft(world.a, buyer, [("BRG-6204", "Deep groove ball bearing 6204-2RS", "60", "12.50", "13")])
    assert await _findings(world.a, first) == []
    await _issue(world.a, first)
    second = await _draft(world.a, buyer, [("BRG-6204", "Deep groove ball bearing 6204-2RS", "60", "12.50", "13")])
    findings = await _findings(world.a, second)
    assert _only(findings, "quantity").message_text() == "Line 1: 120 billed in all, 100 ordered."
    # 100 × 12.50 + 4 × 860 = 4,690 ordered; 750 billed before; 750 more fits, so no totals finding.
    assert "totals" not in {f.check for f in findings}


async def test_two_lines_of_the_same_item_together_billing_more_than_ordered_are_found(world, buyer):
    lines = [
        ("BRG-6204", "Bearing 6204, first delivery", "60", "12.50", "13"),
        ("BRG-6204", "Bearing 6204, second delivery", "60", "12.50", "13"),
    ]
    findings = await _findings(world.a, await _draft(world.a, buyer, lines))
    assert _only(findings, "quantity").message_text() == "Line 2: 120 billed in all, 100 ordered."


async def test_a_unit_price_other_than_the_orders_is_found(world, buyer):
    lines = [("BRG-6204", "Deep groove ball bearing 6204-2RS", "100", "13.20", "13")]
    findings = await _findings(world.a, await _draft(world.a, buyer, lines))
    assert _only(findings, "unit_price").message_text() == "Line 1: unit price 13.20, the order says 12.50."


async def test_a_tax_rate_other_than_the_orders_is_found(world, buyer):
    lines = [("MOT-Y2-90L", "Motor Y2-90L-4 1.5 kW", "4", "860.00", "9")]
    findings = await _findings(world.a, await _draft(world.a, buyer, lines))
    assert _only(findings, "tax").message_text() == "Line 1: tax 9 %, the order says 13 %."


async def test_a_net_total_above_what_is_left_to_bill_on_the_order_is_found(world, buyer):
    first = await _draft(world.a, buyer, [("MOT-Y2-90L", "Motor Y2-90L-4 1.5 kW", "4", "860.00", "13")])
    await _issue(world.a, first)
    # The order's 4,690 less the 3,440 billed leaves 1,250; a repeat of the motors bills 3,440 more.
    again = await _draft(world.a, buyer, [("MOT-Y2-90L", "Motor Y2-90L-4 1.5 kW", "4", "860.00", "13")])
    findings = await _findings(world.a, again)
    assert _only(findings, "totals").message_text() == "Net 3440.00 exceeds the 1250.00 left to bill on order PO-2026-0001."
    assert {"quantity", "totals", "duplicate_billing"} <= {f.check for f in findings}


async def test_an_invoice_number_that_reads_like_another_is_found_and_blocks_by_default(world, buyer):
    await _draft(world.a, buyer, number="INV-2026-0042")
    lookalike = await _draft(world.a, buyer, number="inv 2026/0042")
    finding = _only(await _findings(world.a, lookalike), "duplicate_number")
    assert finding.message_text() == "Invoice number inv 2026/0042 is already used as INV-2026-0042."
    assert finding.blocking and finding.severity == "blocking"


async def test_the_same_amount_billed_twice_for_one_order_is_found(world, buyer):
    first = await _draft(world.a, buyer, [("BRG-6204", "Deep groove ball bearing 6204-2RS", "40", "12.50", "13")])
    await _issue(world.a, first)
    second = await _draft(world.a, buyer, [("BRG-6204", "Deep groove ball bearing 6204-2RS", "40", "12.50", "13")])
    finding = _only(await _findings(world.a, second), "duplicate_billing")
    assert finding.message_text() == (f"Invoice {first.number} already bills this buyer 565.00 CNY for the same order or day.")


async def test_a_due_date_that_does_not_follow_the_buyers_terms_is_found(world, buyer):
    invoice = await _draft(world.a, buyer, due_date=ISSUED_ON + timedelta(days=30))
    expected = ISSUED_ON + timedelta(days=45)
    assert _only(await _findings(world.a, invoice), "due_date").message_text() == (
        f"Due {(ISSUED_ON + timedelta(days=30)).isoformat()}, but the buyer's terms of 45 days give {expected.isoformat()}."
    )


# --- blocking and issuing --------------------------------------------------------------------


async def test_a_check_the_tenant_made_blocking_stops_issuing_and_the_invoice_stays_a_draft(world, buyer):
    await _set_blocking(world.a, "unit_price", True)
    invoice = await _draft(world.a, buyer, [("BRG-6204", "Deep groove ball bearing 6204-2RS", "100", "13.20", "13")])
    with pytest.raises(Conflict) as refused:
        await _issue(world.a, invoice)
    assert refused.value.status_code == 409 and refused.value.field == "findings"
    assert "Line 1: unit price 13.20, the order says 12.50." in refused.value.translated(lambda m: m)
    async with _scope(world.a) as session:
        assert (await invoices.get_invoice(session, owner_of(world.a), invoice.id)).status is InvoiceStatus.DRAFT
        assert not await audit.list_entries(session, action="invoice.issued", object_id=str(invoice.id))


async def test_the_findings_endpoint_says_a_blocking_finding_makes_the_invoice_not_issuable(client, world, buyer):
    invoice = await _draft(world.a, buyer, po=None)
    await _set_blocking(world.a, "missing_order", True)
    response = await client.get(f"/api/v1/invoices/{invoice.id}/findings", headers=bearer(world.a.api_key))
    assert response.status_code == 200
    assert response.json()["issuable"] is False
    assert response.json()["findings"] == [
        {"check": "missing_order", "severity": "blocking", "message": "The invoice names no purchase order.", "params": {}}
    ]


async def test_a_warning_lets_the_invoice_issue_and_the_audit_entry_records_the_findings(world, buyer):
    invoice = await _draft(world.a, buyer, po=None, due_date=ISSUED_ON + timedelta(days=10))
    issued = await _issue(world.a, invoice)
    assert issued.status is InvoiceStatus.ISSUED
    async with _scope(world.a) as session:
        (entry,) = await audit.list_entries(session, action="invoice.issued", object_id=str(invoice.id))
    assert [f["check"] for f in entry.after["findings"]] == ["missing_order", "due_date"]
    # The trail keeps what the finance team was shown, not only the check's name.
    assert entry.after["findings"][0]["message"] == "The invoice names no purchase order."


async def test_making_duplicate_numbers_a_warning_lets_a_lookalike_number_issue(world, buyer):
    await _draft(world.a, buyer, number="HD-0007")
    lookalike = await _draft(world.a, buyer, number="HD 0007")
    with pytest.raises(Conflict):
        await _issue(world.a, lookalike)
    await _set_blocking(world.a, "duplicate_number", False)
    assert (await _issue(world.a, lookalike)).status is InvoiceStatus.ISSUED


# --- settings --------------------------------------------------------------------------------


async def test_every_check_is_listed_with_its_description_and_default(world):
    async with _scope(world.a) as session:
        settings = await checks.check_settings(session, owner_of(world.a))
    assert [s.check for s in settings] == list(checks.CHECKS)
    assert {s.check for s in settings if s.blocking} == {"duplicate_number"}
    assert all(s.description for s in settings)


async def test_changing_a_setting_is_audited_once_and_an_unchanged_one_is_not(world):
    await _set_blocking(world.a, "tax", True)
    await _set_blocking(world.a, "tax", True)
    async with _scope(world.a) as session:
        entries = await audit.list_entries(session, action="invoice_check.changed", object_id="tax")
    assert len(entries) == 1
    assert (entries[0].before, entries[0].after) == ({"blocking": False}, {"blocking": True})


async def test_an_unknown_check_is_refused_naming_the_field(world):
    with pytest.raises(ValidationFailed) as refused:
        await _set_blocking(world.a, "mood", True)
    assert refused.value.field == "check"


@pytest.mark.parametrize("role", [Role.COLLECTOR, Role.VIEWER])
async def test_only_credit_managers_admins_and_owners_change_settings(world, role):
    from dataclasses import replace

    async with _scope(world.a) as session:
        with pytest.raises(PermissionDenied):
            await checks.set_blocking(session, replace(owner_of(world.a), role=role), "tax", True)
    async with _scope(world.a) as session:
        manager = replace(owner_of(world.a), role=Role.CREDIT_MANAGER)
        assert (await checks.set_blocking(session, manager, "tax", True)).blocking


async def test_one_tenants_settings_do_not_touch_another_tenants_issuing(world):
    await _set_blocking(world.a, "missing_order", True)
    b_buyer = await make_buyer(world.b, "Baltic Marine Supplies AB", country="SE", currency="EUR")
    invoice = await _draft(world.b, b_buyer, [("X-1", "Hydraulic valve DN25", "1", "100.00", "19")], po=None, currency="EUR")
    assert (await _issue(world.b, invoice)).status is InvoiceStatus.ISSUED


# --- the API ---------------------------------------------------------------------------------


async def test_the_api_lists_and_changes_the_settings(client, world):
    headers = bearer(world.a.api_key)
    listed = await client.get("/api/v1/invoice-checks", headers=headers)
    assert listed.status_code == 200
    assert [c["check"] for c in listed.json()] == list(checks.CHECKS)
    assert listed.json()[0] == {"check": "missing_order", "description": checks.CHECKS["missing_order"], "blocking": False}
    changed = await client.put("/api/v1/invoice-checks/quantity", json={"blocking": True}, headers=headers)
    assert changed.status_code == 200 and changed.json()["blocking"] is True
    again = await client.get("/api/v1/invoice-checks", headers=headers)
    assert next(c for c in again.json() if c["check"] == "quantity")["blocking"] is True
    other = await client.get("/api/v1/invoice-checks", headers=bearer(world.b.api_key))
    assert next(c for c in other.json() if c["check"] == "quantity")["blocking"] is False


async def test_the_api_names_the_field_of_bad_input(client, world):
    headers = bearer(world.a.api_key)
    unknown = await client.put("/api/v1/invoice-checks/mood", json={"blocking": True}, headers=headers)
    assert unknown.status_code == 422 and unknown.json()["field"] == "check"
    for body in ({}, {"blocking": "perhaps"}, {"blocking": None}):
        bad = await client.put("/api/v1/invoice-checks/tax", json=body, headers=headers)
        assert bad.status_code == 400, body
        assert "blocking" in str(bad.json()), bad.json()
    listed = await client.get("/api/v1/invoice-checks", headers=headers)
    assert next(c for c in listed.json() if c["check"] == "tax")["blocking"] is False


async def test_a_collector_key_cannot_change_a_setting(client, world):
    collector = await _api_key(world.a, Role.COLLECTOR)
    refused = await client.put("/api/v1/invoice-checks/tax", json={"blocking": True}, headers=bearer(collector))
    assert refused.status_code == 403
    assert (await client.get("/api/v1/invoice-checks", headers=bearer(collector))).status_code == 200
    manager = await _api_key(world.a, Role.CREDIT_MANAGER)
    allowed = await client.put("/api/v1/invoice-checks/tax", json={"blocking": True}, headers=bearer(manager))
    assert allowed.status_code == 200


async def test_another_tenants_invoice_findings_answer_404(client, world, buyer):
    invoice = await _draft(world.a, buyer, po=None)
    foreign = await client.get(f"/api/v1/invoices/{invoice.id}/findings", headers=bearer(world.b.api_key))
    missing = await client.get(f"/api/v1/invoices/{uuid.uuid4()}/findings", headers=bearer(world.b.api_key))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()


async def test_the_findings_endpoint_gives_each_finding_with_its_message(client, world, buyer):
    invoice = await _draft(world.a, buyer, [("BRG-6204", "Deep groove ball bearing 6204-2RS", "100", "13.20", "9")])
    response = await client.get(f"/api/v1/invoices/{invoice.id}/findings", headers=bearer(world.a.api_key))
    body = response.json()
    assert body["issuable"] is True and body["invoice_id"] == str(invoice.id)
    assert [(f["check"], f["severity"], f["message"]) for f in body["findings"]] == [
        ("unit_price", "warning", "Line 1: unit price 13.20, the order says 12.50."),
        ("tax", "warning", "Line 1: tax 9 %, the order says 13 %."),
    ]
    chinese = await client.get(
        f"/api/v1/invoices/{invoice.id}/findings", headers={**bearer(world.a.api_key), "Accept-Language": "zh-CN"}
    )
    assert chinese.status_code == 200 and len(chinese.json()["findings"]) == 2


async def test_the_endpoints_are_in_the_openapi_document(client):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert {"get"} <= set(paths["/api/v1/invoice-checks"])
    assert {"put"} <= set(paths["/api/v1/invoice-checks/{check}"])
    assert {"get"} <= set(paths["/api/v1/invoices/{invoice_id}/findings"])


# --- the console page ------------------------------------------------------------------------

PAGE = "/console/settings/invoice-checks"


def _row(html: str, check: str) -> str:
    match = re.search(rf'<tr id="check-{check}">.*?</tr>', html, re.S)
    assert match, f"no row for {check}"
    return match.group(0)


async def test_the_page_lists_every_check_with_its_description_and_state(client, world):
    await sign_in(client, world.a.finance)
    page = await client.get(PAGE)
    assert page.status_code == 200
    for check, description in checks.CHECKS.items():
        assert description.replace("'", "&#39;") in _row(page.text, check)
    assert "Blocks issuing" in _row(page.text, "duplicate_number")
    assert "Warns only" in _row(page.text, "quantity")
    assert 'href="/console/settings/invoice-checks"' in (await client.get("/console")).text


async def test_a_plain_form_toggles_a_check_and_the_page_shows_it(client, world):
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, PAGE)
    response = await client.post(f"{PAGE}/quantity", data={"blocking": "true", "_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"{PAGE}?saved=quantity"
    row = _row((await client.get(response.headers["location"])).text, "quantity")
    assert "Blocks issuing" in row and "Saved." in row
    async with _scope(world.a) as session:
        assert next(s for s in await checks.check_settings(session, owner_of(world.a)) if s.check == "quantity").blocking


async def test_htmx_toggles_a_check_and_gets_its_row_back(client, world):
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, PAGE)
    response = await client.post(
        f"{PAGE}/duplicate_number",
        data={"blocking": "false"},
        headers={"hx-request": "true", "x-csrftoken": token},
    )
    assert response.status_code == 200
    row = _row(response.text, "duplicate_number")
    assert "Warns only" in row and "Saved." in row and 'name="blocking" value="true"' in row


async def test_a_toggle_without_the_csrf_token_is_refused(client, world):
    await sign_in(client, world.a.finance)
    response = await client.post(f"{PAGE}/quantity", data={"blocking": "true"})
    assert response.status_code == 403
    async with _scope(world.a) as session:
        assert not next(s for s in await checks.check_settings(session, owner_of(world.a)) if s.check == "quantity").blocking


async def test_a_bad_toggle_is_explained_on_the_page(client, world):
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, PAGE)
    bad_value = await client.post(f"{PAGE}/quantity", data={"blocking": "maybe", "_csrf_token": token})
    assert bad_value.status_code == 422
    assert "Choose whether the check blocks issuing or only warns." in _row(bad_value.text, "quantity")
    unknown = await client.post(f"{PAGE}/mood", data={"blocking": "true", "_csrf_token": token})
    assert unknown.status_code == 422 and "Unknown invoice check: mood." in unknown.text


async def test_a_viewer_sees_the_settings_but_cannot_toggle_them(client, world):
    async with _scope(world.a) as session:
        await tenants.change_role(session, owner_of(world.a), world.a.collaborator.membership_id, Role.VIEWER)
    await sign_in(client, world.a.collaborator)
    page = await client.get(PAGE)
    assert page.status_code == 200
    assert "Only credit managers, administrators and owners can change these settings." in page.text
    assert 'name="blocking"' not in page.text
    token = await csrf_token(client, PAGE)
    refused = await client.post(f"{PAGE}/quantity", data={"blocking": "true", "_csrf_token": token})
    assert refused.status_code == 403
    async with _scope(world.a) as session:
        entries = await audit.list_entries(session, action="invoice_check.changed")
    assert entries == []


async def test_the_page_shows_and_changes_only_the_signed_in_tenants_settings(client, world):
    await _set_blocking(world.b, "tax", True)
    await sign_in(client, world.a.finance)
    assert "Warns only" in _row((await client.get(PAGE)).text, "tax")
    token = await csrf_token(client, PAGE)
    await client.post(f"{PAGE}/unit_price", data={"blocking": "true", "_csrf_token": token})
    async with _scope(world.b) as session:
        b_settings = {s.check: s.blocking for s in await checks.check_settings(session, owner_of(world.b))}
    assert b_settings["tax"] is True and b_settings["unit_price"] is False
