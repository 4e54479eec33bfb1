"""The buyers API: a supplier's customers and their contacts, seen only by that supplier."""

from __future__ import annotations

import secrets
import uuid
from datetime import date, timedelta

from backend.audit import service as audit
from backend.auth.service import create_api_key
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.invoices import service as ledger
from backend.tenants.models import Role
from tests.conftest import Supplier, bearer
from tests.factories import make_buyer, make_invoice, owner_of


async def key_for(supplier: Supplier, role: Role) -> dict[str, str]:
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        _key, secret = await create_api_key(session, audit.SYSTEM, name=f"{role.value} key", role=role)
    return bearer(secret)


def buyer_body(**overrides) -> dict:
    return {
        "reference": f"C-{secrets.token_hex(3)}",
        "legal_name": "Shenzhen Bright Components Co., Ltd.",
        "country": "CN",
        "currency": "CNY",
        "payment_terms_days": 45,
        "vat_number": "91440300MA5XXXX",
        "external_ids": [{"scheme": "insurer", "value": "SIN-77812"}],
        "credit_limit": "500000.00",
        "tags": ["electronics", "key-account"],
        **overrides,
    }


async def audit_events(client, supplier: Supplier, object_id) -> list[dict]:
    response = await client.get(
        "/api/v1/audit-events", params={"object_id": str(object_id), "limit": 200}, headers=bearer(supplier.api_key)
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_buyer_created_over_the_api_reads_back_with_its_details(client, world):
    headers = bearer(world.a.api_key)
    created = await client.post("/api/v1/buyers", json=buyer_body(reference="C-0001"), headers=headers)
    assert created.status_code == 201, created.text
    buyer = created.json()
    assert buyer["reference"] == "C-0001" and buyer["credit_limit"] == "500000.00"
    assert buyer["external_ids"] == [{"scheme": "insurer", "value": "SIN-77812"}]
    assert buyer["tags"] == ["electronics", "key-account"] and buyer["balances"] == []
    fetched = (await client.get(f"/api/v1/buyers/{buyer['id']}", headers=headers)).json()
    assert fetched == buyer
    [event] = [e for e in await audit_events(client, world.a, buyer["id"]) if e["action"] == "buyer.created"]
    assert event["before"] is None and event["after"]["legal_name"] == "Shenzhen Bright Components Co., Ltd."


async def test_a_credit_limit_sent_as_a_json_number_is_kept_exactly(client, world):
    response = await client.post("/api/v1/buyers", json=buyer_body(credit_limit=1234567.89), headers=bearer(world.a.api_key))
    assert response.status_code == 201, response.text
    assert response.json()["credit_limit"] == "1234567.89"


async def test_buyers_list_searches_filters_and_pages_with_a_total(client, world):
    headers = bearer(world.a.api_key)
    tag = f"t{secrets.token_hex(3)}"
    for name, country in (("Alpha Metals GmbH", "DE"), ("Beta Metals Ltd", "CN"), ("Gamma Foods Ltd", "CN")):
        body = buyer_body(legal_name=name, country=country, tags=[tag], credit_limit=None)
        assert (await client.post("/api/v1/buyers", json=body, headers=headers)).status_code == 201
    page = (await client.get("/api/v1/buyers", params={"tag": tag, "limit": 2}, headers=headers)).json()
    assert page["total"] == 3 and [b["legal_name"] for b in page["items"]] == ["Alpha Metals GmbH", "Beta Metals Ltd"]
    rest = (await client.get("/api/v1/buyers", params={"tag": tag, "limit": 2, "offset": 2}, headers=headers)).json()
    assert [b["legal_name"] for b in rest["items"]] == ["Gamma Foods Ltd"]
    metals = (await client.get("/api/v1/buyers", params={"tag": tag, "q": "metals"}, headers=headers)).json()
    assert metals["total"] == 2
    chinese = (await client.get("/api/v1/buyers", params={"tag": tag, "country": "cn"}, headers=headers)).json()
    assert {b["legal_name"] for b in chinese["items"]} == {"Beta Metals Ltd", "Gamma Foods Ltd"}


async def test_lists_never_show_another_tenants_buyers(client, world):
    await make_buyer(world.b, "Charlie's Secret Customer")
    page = (await client.get("/api/v1/buyers", params={"q": "Secret Customer"}, headers=bearer(world.a.api_key))).json()
    assert page == {"items": [], "total": 0, "limit": 50, "offset": 0}


async def test_another_tenants_buyer_answers_404_like_a_missing_one(client, world):
    theirs = await make_buyer(world.b, "Charlie's Customer")
    async with tenant_unit_of_work(TenantId(world.b.tenant_id)) as session:
        from backend.buyers import service as buyers

        contact = await buyers.add_contact(session, owner_of(world.b), theirs, name="Dan", email="dan@example.com")
    headers = bearer(world.a.api_key)
    missing = uuid.uuid4()
    for method, path, body in (
        ("GET", "/api/v1/buyers/{id}", None),
        ("PUT", "/api/v1/buyers/{id}", buyer_body()),
        ("PATCH", "/api/v1/buyers/{id}", {"legal_name": "Hijacked"}),
        ("GET", "/api/v1/buyers/{id}/contacts", None),
        ("POST", "/api/v1/buyers/{id}/contacts", {"name": "Eve", "email": "eve@example.com"}),
        ("DELETE", f"/api/v1/buyers/{{id}}/contacts/{contact.id}", None),
        ("GET", "/api/v1/buyers/{id}/entries", None),
    ):
        foreign = await client.request(method, path.format(id=theirs), json=body, headers=headers)
        absent = await client.request(method, path.format(id=missing), json=body, headers=headers)
        assert foreign.status_code == absent.status_code == 404, (method, path, foreign.text)
        assert foreign.json() == absent.json()
    # And B's buyer is untouched.
    theirs_now = (await client.get(f"/api/v1/buyers/{theirs}", headers=bearer(world.b.api_key))).json()
    assert theirs_now["legal_name"] == "Charlie's Customer"
    contacts = (await client.get(f"/api/v1/buyers/{theirs}/contacts", headers=bearer(world.b.api_key))).json()
    assert [c["name"] for c in contacts["items"]] == ["Dan"]


async def test_a_contact_of_another_buyer_cannot_be_removed_through_ones_own_buyer(client, world):
    mine = await make_buyer(world.a, "Mine")
    other = await make_buyer(world.a, "Other")
    headers = bearer(world.a.api_key)
    contact = (
        await client.post(f"/api/v1/buyers/{other}/contacts", json={"name": "Fay", "email": "fay@example.com"}, headers=headers)
    ).json()
    response = await client.delete(f"/api/v1/buyers/{mine}/contacts/{contact['id']}", headers=headers)
    assert response.status_code == 404


async def test_a_viewer_key_can_read_but_cannot_create_or_change_a_buyer(client, world):
    viewer = await key_for(world.a, Role.VIEWER)
    buyer_id = await make_buyer(world.a)
    assert (await client.get(f"/api/v1/buyers/{buyer_id}", headers=viewer)).status_code == 200
    assert (await client.post("/api/v1/buyers", json=buyer_body(), headers=viewer)).status_code == 403
    assert (await client.patch(f"/api/v1/buyers/{buyer_id}", json={"legal_name": "X"}, headers=viewer)).status_code == 403
    contact = {"name": "Gus", "email": "gus@example.com"}
    assert (await client.post(f"/api/v1/buyers/{buyer_id}/contacts", json=contact, headers=viewer)).status_code == 403


async def test_a_collector_can_edit_a_buyer_but_not_its_credit_limit(client, world):
    collector = await key_for(world.a, Role.COLLECTOR)
    buyer_id = await make_buyer(world.a)
    assert (
        await client.patch(f"/api/v1/buyers/{buyer_id}", json={"legal_name": "Renamed"}, headers=collector)
    ).status_code == 200
    refused = await client.patch(f"/api/v1/buyers/{buyer_id}", json={"credit_limit": "1000.00"}, headers=collector)
    assert refused.status_code == 403
    assert (await client.get(f"/api/v1/buyers/{buyer_id}", headers=collector)).json()["credit_limit"] is None


async def test_bad_input_gets_a_4xx_naming_the_field_and_writes_nothing(client, world):
    headers = bearer(world.a.api_key)
    reference = f"C-{secrets.token_hex(3)}"
    cases = [
        # Shape errors from the decoder: 400, the field in `extra`.
        ({"payment_terms_days": 400}, 400, "payment_terms_days"),
        ({"credit_limit": "lots"}, 400, "credit_limit"),
        ({"country": "CHN"}, 400, "country"),
        # A missing member is named in the message, its object in the key.
        ({"external_ids": [{"scheme": "insurer"}]}, 400, "external_ids[0]"),
        ({"surprise": 1}, 400, "surprise"),  # named in the message: "unknown field `surprise`"
        ({"parent_id": "not-a-uuid"}, 400, "parent_id"),
        # Meaning errors from the service: 422, the field in `field`.
        ({"country": "C1"}, 422, "country"),
        ({"currency": "ZZZ"}, 422, "currency"),
        ({"credit_limit": "-5"}, 422, "credit_limit"),
        ({"credit_limit": "NaN"}, 422, "credit_limit"),
        ({"credit_limit": "1e400"}, 422, "credit_limit"),
        ({"legal_name": "   "}, 422, "legal_name"),
        ({"parent_id": str(uuid.uuid4())}, 422, "parent_id"),
    ]
    for change, status, field in cases:
        response = await client.post("/api/v1/buyers", json=buyer_body(reference=reference, **change), headers=headers)
        assert response.status_code == status, (change, response.text)
        body = response.json()
        if status == 422:
            assert body["field"] == field, (change, body)
        else:
            assert any(e["key"] == field or f"`{field}`" in e["message"] for e in body["extra"]), (change, body)
    page = (await client.get("/api/v1/buyers", params={"q": reference}, headers=headers)).json()
    assert page["total"] == 0


async def test_a_duplicate_customer_number_is_a_conflict_naming_the_field(client, world):
    headers = bearer(world.a.api_key)
    body = buyer_body()
    assert (await client.post("/api/v1/buyers", json=body, headers=headers)).status_code == 201
    again = await client.post("/api/v1/buyers", json=body, headers=headers)
    assert again.status_code == 409 and again.json()["field"] == "reference"


async def test_patch_changes_only_the_fields_sent_and_audits_before_and_after(client, world):
    headers = bearer(world.a.api_key)
    buyer = (await client.post("/api/v1/buyers", json=buyer_body(), headers=headers)).json()
    changed = await client.patch(
        f"/api/v1/buyers/{buyer['id']}", json={"payment_terms_days": 60, "vat_number": None}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert after["payment_terms_days"] == 60 and after["vat_number"] is None
    assert {k: v for k, v in after.items() if k not in ("payment_terms_days", "vat_number", "updated_at")} == {
        k: v for k, v in buyer.items() if k not in ("payment_terms_days", "vat_number", "updated_at")
    }
    [event] = [e for e in await audit_events(client, world.a, buyer["id"]) if e["action"] == "buyer.updated"]
    assert event["before"]["payment_terms_days"] == 45 and event["after"]["payment_terms_days"] == 60
    assert event["before"]["vat_number"] == "91440300MA5XXXX" and event["after"]["vat_number"] is None


async def test_put_replaces_a_buyers_details(client, world):
    headers = bearer(world.a.api_key)
    buyer = (await client.post("/api/v1/buyers", json=buyer_body(), headers=headers)).json()
    replacement = buyer_body(reference=buyer["reference"], legal_name="New Name Ltd", tags=[], external_ids=[])
    response = await client.put(f"/api/v1/buyers/{buyer['id']}", json=replacement, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["legal_name"] == "New Name Ltd" and response.json()["tags"] == []


async def test_contacts_are_added_listed_and_removed_each_with_an_audit_entry(client, world):
    headers = bearer(world.a.api_key)
    buyer_id = await make_buyer(world.a)
    added = await client.post(
        f"/api/v1/buyers/{buyer_id}/contacts",
        json={"name": "Li Wei", "email": "Li.Wei@Example.com", "language": "zh-CN", "role": "AP clerk"},
        headers=headers,
    )
    assert added.status_code == 201, added.text
    contact = added.json()
    assert contact["email"] == "li.wei@example.com" and contact["language"] == "zh-CN"
    again = await client.post(
        f"/api/v1/buyers/{buyer_id}/contacts", json={"name": "Li Wei", "email": "li.wei@example.com"}, headers=headers
    )
    assert again.status_code == 409 and again.json()["field"] == "email"
    bad = await client.post(
        f"/api/v1/buyers/{buyer_id}/contacts", json={"name": "Jo", "email": "jo@example.com", "language": "fr"}, headers=headers
    )
    assert bad.status_code == 422 and bad.json()["field"] == "language"
    listed = (await client.get(f"/api/v1/buyers/{buyer_id}/contacts", headers=headers)).json()
    assert [c["id"] for c in listed["items"]] == [contact["id"]]
    assert (await client.delete(f"/api/v1/buyers/{buyer_id}/contacts/{contact['id']}", headers=headers)).status_code == 204
    assert (await client.get(f"/api/v1/buyers/{buyer_id}/contacts", headers=headers)).json()["items"] == []
    actions = {e["action"]: e for e in await audit_events(client, world.a, buyer_id)}
    assert actions["buyer.contact_added"]["after"]["email"] == "li.wei@example.com"
    assert actions["buyer.contact_removed"]["before"]["name"] == "Li Wei"


async def test_a_buyer_shows_its_balances_per_currency(client, world):
    buyer_id = await make_buyer(world.a)
    today = date.today()
    # CNY: 10 × 100.00 at 13 % = 1,130.00, due 5 days ago (overdue); 2 × 50.00 at 0 % = 100.00, due in 20 days.
    overdue = await make_invoice(world.a, buyer_id, issue_date=today - timedelta(days=35), due_date=today - timedelta(days=5))
    await make_invoice(world.a, buyer_id, lines=[("Seal", "2", "50.00", "0")], due_date=today + timedelta(days=20))
    # USD: 3 × 19.99 at 0 % = 59.97, not yet due.
    await make_invoice(
        world.a, buyer_id, lines=[("Gasket", "3", "19.99", "0")], currency="USD", due_date=today + timedelta(days=1)
    )
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        # 130.00 to the overdue invoice: 1,130.00 − 130.00 = 1,000.00 still overdue.
        await ledger.record_payment(session, owner_of(world.a), buyer_id=buyer_id, amount="130.00", currency="CNY")
    buyer = (await client.get(f"/api/v1/buyers/{buyer_id}", headers=bearer(world.a.api_key))).json()
    assert buyer["balances"] == [
        {
            "currency": "CNY",
            "open": "1100.00",  # 1,000.00 + 100.00
            "overdue": "1000.00",
            "current": "100.00",
            "disputed": "0.00",
            "undisputed": "1100.00",
            "open_invoices": 2,
            "on_account": "0.00",
        },
        {
            "currency": "USD",
            "open": "59.97",
            "overdue": "0.00",
            "current": "59.97",
            "disputed": "0.00",
            "undisputed": "59.97",
            "open_invoices": 1,
            "on_account": "0.00",
        },
    ]
    assert overdue.gross_amount == 1130


async def test_the_api_needs_a_key(client, world):
    assert (await client.get("/api/v1/buyers")).status_code == 401


async def test_a_body_litestar_refuses_still_names_the_field(client, world):
    wrong_type = await client.post("/api/v1/buyers", json={"reference": 5}, headers=bearer(world.a.api_key))
    missing = await client.post("/api/v1/buyers", json={"legal_name": "Acme"}, headers=bearer(world.a.api_key))
    nested = await client.post(
        "/api/v1/buyers",
        json={"reference": "R-1", "legal_name": "Acme", "country": "CN", "currency": "CNY", "external_ids": [{"scheme": "duns"}]},
        headers=bearer(world.a.api_key),
    )
    assert (wrong_type.status_code, wrong_type.json()["field"]) == (400, "reference")
    assert missing.status_code == 400 and missing.json()["field"] in {"reference", "country", "currency"}
    assert (nested.status_code, nested.json()["field"]) == (400, "external_ids[0].value")
    assert nested.json()["detail"] == "external_ids[0].value: Object missing required field `value`"
    listed = await client.get("/api/v1/buyers", headers=bearer(world.a.api_key))
    assert "Acme" not in listed.text
