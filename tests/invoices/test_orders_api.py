"""Purchase orders and deliveries over the API, with proof-of-delivery files checked by content."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import date, timedelta

from backend.audit import service as audit
from backend.auth.service import create_api_key
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.files.storage import get_storage
from backend.invoices.orders import MAX_PROOF_BYTES
from backend.tenants.models import Role
from tests.conftest import Supplier, bearer
from tests.factories import make_buyer, make_invoice

TODAY = date.today()
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + secrets.token_bytes(64)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + secrets.token_bytes(64)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + secrets.token_bytes(64)
TIFF = b"II*\x00\x08\x00\x00\x00" + secrets.token_bytes(64)


async def key_for(supplier: Supplier, role: Role) -> dict[str, str]:
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        _key, secret = await create_api_key(session, audit.SYSTEM, name=f"{role.value} key", role=role)
    return bearer(secret)


def order_body(buyer_id, **overrides) -> dict:
    return {
        "buyer_id": str(buyer_id),
        "number": f"PO-{secrets.token_hex(4).upper()}",
        "order_date": (TODAY - timedelta(days=20)).isoformat(),
        "currency": "CNY",
        "contract_reference": "FA-2026-017",
        "lines": [
            {"description": "Bearing 6204", "quantity": "10", "unit_price": "100.00", "tax_rate": "13", "sku": "B6204"},
            {"description": "Seal kit", "quantity": 4, "unit_price": "25.5", "tax_rate": 13},
        ],
        **overrides,
    }


async def make_order(client, supplier: Supplier, buyer_id, **overrides) -> dict:
    response = await client.post("/api/v1/orders", json=order_body(buyer_id, **overrides), headers=bearer(supplier.api_key))
    assert response.status_code == 201, response.text
    return response.json()


async def make_delivery(client, supplier: Supplier, **links) -> dict:
    body = {"number": f"DN-{secrets.token_hex(4)}", "delivered_on": (TODAY - timedelta(days=15)).isoformat(), **links}
    body = {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in body.items()}
    response = await client.post("/api/v1/deliveries", json=body, headers=bearer(supplier.api_key))
    assert response.status_code == 201, response.text
    return response.json()


async def upload(
    client, supplier: Supplier, delivery_id, content: bytes, filename: str = "pod.pdf", content_type="application/pdf"
):
    return await client.post(
        f"/api/v1/deliveries/{delivery_id}/files",
        files={"file": (filename, content, content_type)},
        headers=bearer(supplier.api_key),
    )


def stored_files_of(supplier: Supplier) -> list:
    folder = get_storage().root / str(supplier.tenant_id)
    return sorted(folder.iterdir()) if folder.exists() else []


async def test_a_purchase_order_is_created_with_its_lines_and_read_back(client, world):
    buyer_id = await make_buyer(world.a)
    order = await make_order(client, world.a, buyer_id, number="PO-4711")
    assert order["number"] == "PO-4711" and order["contract_reference"] == "FA-2026-017"
    assert [(x["line_no"], x["quantity"], x["unit_price"], x["tax_rate"]) for x in order["lines"]] == [
        (1, "10", "100.00", "13"),
        (2, "4", "25.50", "13"),
    ]
    assert order["deliveries"] == [] and order["invoice_ids"] == []
    fetched = await client.get(f"/api/v1/orders/{order['id']}", headers=bearer(world.a.api_key))
    assert fetched.json() == order
    events = (
        await client.get("/api/v1/audit-events", params={"object_id": order["id"]}, headers=bearer(world.a.api_key))
    ).json()["items"]
    [created] = [e for e in events if e["action"] == "order.created"]
    assert created["after"]["number"] == "PO-4711" and len(created["after"]["lines"]) == 2


async def test_orders_list_filters_by_buyer_and_number_and_never_shows_another_tenants(client, world):
    first, second = await make_buyer(world.a), await make_buyer(world.a)
    a1 = await make_order(client, world.a, first, number="PO-ALPHA-1")
    a2 = await make_order(client, world.a, first, number="PO-ALPHA-2")
    await make_order(client, world.a, second, number="PO-BETA-1")
    theirs = await make_order(client, world.b, await make_buyer(world.b), number="PO-ALPHA-3")
    headers = bearer(world.a.api_key)
    page = (await client.get("/api/v1/orders", params={"buyer_id": str(first), "limit": 1}, headers=headers)).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    alpha = (await client.get("/api/v1/orders", params={"q": "alpha"}, headers=headers)).json()
    assert {o["id"] for o in alpha["items"]} == {a1["id"], a2["id"]} and theirs["id"] not in str(alpha)


async def test_bad_order_input_names_the_field_and_writes_nothing(client, world):
    buyer_id = await make_buyer(world.a)
    other_tenants_buyer = await make_buyer(world.b)
    headers = bearer(world.a.api_key)
    number = f"PO-{secrets.token_hex(4)}"
    bad_line = order_body(buyer_id)["lines"] + [{"description": "Return", "quantity": "-1", "unit_price": "5.00"}]
    for change, status, field in (
        ({"lines": bad_line}, 422, "lines[3].quantity"),
        ({"lines": []}, 422, "lines"),
        ({"currency": "ZZZ"}, 422, "currency"),
        ({"buyer_id": str(other_tenants_buyer)}, 422, "buyer_id"),
        ({"buyer_id": str(uuid.uuid4())}, 422, "buyer_id"),
        ({"order_date": (TODAY + timedelta(days=9)).isoformat()}, 422, "order_date"),
        ({"order_date": "20.01.2026"}, 400, "order_date"),
        ({"lines": [{"description": "x", "quantity": "1", "unit_price": "one"}]}, 400, "lines[0].unit_price"),
    ):
        response = await client.post("/api/v1/orders", json={**order_body(buyer_id, number=number), **change}, headers=headers)
        assert response.status_code == status, (change, response.text)
        named = response.json()["field"] if status == 422 else response.json()["extra"][0]["key"]
        assert named == field, (change, response.json())
    assert (await client.get("/api/v1/orders", params={"q": number}, headers=headers)).json()["total"] == 0
    await make_order(client, world.a, buyer_id, number=number)
    again = await client.post("/api/v1/orders", json=order_body(buyer_id, number=number), headers=headers)
    assert again.status_code == 409 and again.json()["field"] == "number"


async def test_an_invoice_shows_its_order_and_the_deliveries_against_either(client, world):
    buyer_id = await make_buyer(world.a)
    order = await make_order(client, world.a, buyer_id)
    invoice = await make_invoice(world.a, buyer_id, po_reference=order["number"])
    by_order = await make_delivery(client, world.a, order_id=order["id"], carrier="SF Express", tracking_number="SF1234")
    by_invoice = await make_delivery(client, world.a, invoice_id=invoice.id, received_by="Wang Fang")
    assert by_order["buyer_id"] == by_invoice["buyer_id"] == str(buyer_id)
    detail = (await client.get(f"/api/v1/invoices/{invoice.id}", headers=bearer(world.a.api_key))).json()
    assert detail["order_id"] == order["id"] and detail["order"]["number"] == order["number"]
    assert len(detail["order"]["lines"]) == 2
    assert {d["id"] for d in detail["deliveries"]} == {by_order["id"], by_invoice["id"]}
    order_now = (await client.get(f"/api/v1/orders/{order['id']}", headers=bearer(world.a.api_key))).json()
    assert [d["id"] for d in order_now["deliveries"]] == [by_order["id"]] and order_now["invoice_ids"] == [str(invoice.id)]
    listed = (await client.get("/api/v1/deliveries", params={"order_id": order["id"]}, headers=bearer(world.a.api_key))).json()
    assert listed["total"] == 1 and listed["items"][0]["carrier"] == "SF Express"


async def test_a_delivery_must_name_an_order_or_invoice_of_one_buyer(client, world):
    first, second = await make_buyer(world.a), await make_buyer(world.a)
    order = await make_order(client, world.a, first)
    invoice = await make_invoice(world.a, second)
    theirs = await make_invoice(world.b, await make_buyer(world.b))
    headers = bearer(world.a.api_key)
    base = {"number": f"DN-{secrets.token_hex(4)}", "delivered_on": TODAY.isoformat()}
    for links, field in (
        ({}, "order_id"),
        ({"order_id": order["id"], "invoice_id": str(invoice.id)}, "invoice_id"),
        ({"invoice_id": str(theirs.id)}, "invoice_id"),
        ({"invoice_id": str(uuid.uuid4())}, "invoice_id"),
        ({"order_id": str(uuid.uuid4())}, "order_id"),
    ):
        response = await client.post("/api/v1/deliveries", json={**base, **links}, headers=headers)
        assert response.status_code == 422 and response.json()["field"] == field, (links, response.text)
    assert (await client.get("/api/v1/deliveries", params={"order_id": order["id"]}, headers=headers)).json()["total"] == 0


async def test_a_proof_of_delivery_file_is_kept_with_its_sha256_and_downloaded_safely(client, world):
    buyer_id = await make_buyer(world.a)
    delivery = await make_delivery(client, world.a, order_id=(await make_order(client, world.a, buyer_id))["id"])
    response = await upload(client, world.a, delivery["id"], PDF, filename="../../签收单 #1.pdf", content_type="image/png")
    assert response.status_code == 201, response.text
    stored = response.json()
    # The type is what the bytes say, not what the client claimed; the name loses its folders.
    assert stored["content_type"] == "application/pdf" and stored["filename"] == "签收单 #1.pdf"
    assert stored["sha256"] == hashlib.sha256(PDF).hexdigest() and stored["size"] == len(PDF)
    listed = (await client.get(f"/api/v1/deliveries/{delivery['id']}", headers=bearer(world.a.api_key))).json()
    assert [f["id"] for f in listed["files"]] == [stored["id"]]
    [kept] = stored_files_of(world.a)
    assert kept.name not in str(listed) and kept.read_bytes() == PDF  # the storage key never leaves the server
    download = await client.get(stored["download_url"], headers=bearer(world.a.api_key))
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["x-content-type-options"] == "nosniff"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("inline;") and "filename*=UTF-8''%E7%AD%BE%E6%94%B6%E5%8D%95%20%231.pdf" in disposition
    events = (
        await client.get("/api/v1/audit-events", params={"object_id": delivery["id"]}, headers=bearer(world.a.api_key))
    ).json()["items"]
    attached = next(e for e in events if e["action"] == "delivery.proof_attached")
    assert attached["after"]["sha256"] == stored["sha256"]
    created = next(e for e in events if e["action"] == "delivery.created")
    assert created["before"] is None and created["after"]["number"] == delivery["number"]


async def test_every_allowed_image_type_is_recognised_by_its_content(client, world):
    delivery = await make_delivery(client, world.a, invoice_id=(await make_invoice(world.a, await make_buyer(world.a))).id)
    for content, expected in ((PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp"), (TIFF, "image/tiff")):
        response = await upload(
            client, world.a, delivery["id"], content, filename="scan", content_type="application/octet-stream"
        )
        assert response.status_code == 201 and response.json()["content_type"] == expected, response.text
    tiff = response.json()
    download = await client.get(tiff["download_url"], headers=bearer(world.a.api_key))
    # A TIFF is not shown by browsers: it is only ever downloaded.
    assert download.headers["content-disposition"].startswith("attachment;") and download.content == TIFF


async def test_a_file_that_is_not_a_pdf_or_an_image_is_refused_by_its_content(client, world):
    delivery = await make_delivery(client, world.a, invoice_id=(await make_invoice(world.a, await make_buyer(world.a))).id)
    for content in (b"<html><script>alert(1)</script></html>", b"MZ\x90\x00 an executable", b"GIF89a", b""):
        response = await upload(client, world.a, delivery["id"], content, filename="pod.pdf", content_type="application/pdf")
        assert response.status_code == 422 and response.json()["field"] == "file", (content, response.text)
    missing = await client.post(
        f"/api/v1/deliveries/{delivery['id']}/files", files={"other": ("x", PDF)}, headers=bearer(world.a.api_key)
    )
    assert missing.status_code == 400 and "file" in str(missing.json()["extra"])
    assert stored_files_of(world.a) == []
    assert (await client.get(f"/api/v1/deliveries/{delivery['id']}", headers=bearer(world.a.api_key))).json()["files"] == []


async def test_a_file_above_20_mb_is_refused_with_413_and_nothing_is_kept(client, world):
    delivery = await make_delivery(client, world.a, invoice_id=(await make_invoice(world.a, await make_buyer(world.a))).id)
    just_over = PDF + b"\x00" * (MAX_PROOF_BYTES + 1 - len(PDF))
    response = await upload(client, world.a, delivery["id"], just_over)
    assert response.status_code == 413, response.text[:300]
    assert response.json()["field"] == "file"
    assert stored_files_of(world.a) == []
    way_over = await upload(client, world.a, delivery["id"], just_over + b"\x00" * (1024 * 1024))
    assert way_over.status_code == 413
    at_limit = await upload(client, world.a, delivery["id"], just_over[:-1])
    assert at_limit.status_code == 201 and at_limit.json()["size"] == MAX_PROOF_BYTES


async def test_another_tenants_orders_deliveries_and_files_answer_404_like_missing_ones(client, world):
    their_buyer = await make_buyer(world.b)
    their_order = await make_order(client, world.b, their_buyer)
    their_delivery = await make_delivery(client, world.b, order_id=their_order["id"])
    their_file = (await upload(client, world.b, their_delivery["id"], PDF)).json()
    headers = bearer(world.a.api_key)
    missing = uuid.uuid4()
    for method, path, kwargs in (
        ("GET", "/api/v1/orders/{order}", {}),
        ("GET", "/api/v1/deliveries/{delivery}", {}),
        ("GET", "/api/v1/deliveries/{delivery}/files/{file}", {}),
        ("POST", "/api/v1/deliveries/{delivery}/files", {"files": {"file": ("pod.pdf", PDF, "application/pdf")}}),
    ):
        foreign = await client.request(
            method,
            path.format(order=their_order["id"], delivery=their_delivery["id"], file=their_file["id"]),
            headers=headers,
            **kwargs,
        )
        absent = await client.request(
            method, path.format(order=missing, delivery=missing, file=missing), headers=headers, **kwargs
        )
        assert foreign.status_code == absent.status_code == 404, (method, path, foreign.text)
        assert foreign.json() == absent.json()
    # A delivery of their order is refused like a missing order.
    refused = await client.post(
        "/api/v1/deliveries",
        json={"number": "DN-X", "delivered_on": TODAY.isoformat(), "order_id": their_order["id"]},
        headers=headers,
    )
    assert refused.status_code == 422 and refused.json()["field"] == "order_id"
    for path in ("/api/v1/orders", "/api/v1/deliveries"):
        assert (await client.get(path, headers=headers)).json()["total"] == 0
    assert len(stored_files_of(world.b)) == 1 and stored_files_of(world.a) == []


async def test_a_file_is_reached_only_through_its_own_delivery(client, world):
    invoice = await make_invoice(world.a, await make_buyer(world.a))
    first = await make_delivery(client, world.a, invoice_id=invoice.id)
    second = await make_delivery(client, world.a, invoice_id=invoice.id)
    stored = (await upload(client, world.a, first["id"], PDF)).json()
    response = await client.get(f"/api/v1/deliveries/{second['id']}/files/{stored['id']}", headers=bearer(world.a.api_key))
    assert response.status_code == 404


async def test_a_viewer_key_cannot_create_orders_or_deliveries_or_upload_files(client, world):
    viewer = await key_for(world.a, Role.VIEWER)
    buyer_id = await make_buyer(world.a)
    order = await make_order(client, world.a, buyer_id)
    delivery = await make_delivery(client, world.a, order_id=order["id"])
    assert (await client.post("/api/v1/orders", json=order_body(buyer_id), headers=viewer)).status_code == 403
    body = {"number": "DN-V", "delivered_on": TODAY.isoformat(), "order_id": order["id"]}
    assert (await client.post("/api/v1/deliveries", json=body, headers=viewer)).status_code == 403
    files = {"file": ("pod.pdf", PDF, "application/pdf")}
    assert (await client.post(f"/api/v1/deliveries/{delivery['id']}/files", files=files, headers=viewer)).status_code == 403
    assert stored_files_of(world.a) == []
    assert (await client.get(f"/api/v1/orders/{order['id']}", headers=viewer)).status_code == 200


async def test_every_ledger_endpoint_is_documented_with_a_tag_and_a_summary(client):
    schema = (await client.get("/schema/openapi.json")).json()
    ours = ("/api/v1/buyers", "/api/v1/invoices", "/api/v1/payments", "/api/v1/orders", "/api/v1/deliveries")
    operations = [
        (method, path, operation)
        for path, item in schema["paths"].items()
        if path.startswith(ours)
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(operations) >= 28
    undocumented = [(m, p) for m, p, op in operations if not op.get("summary") or not op.get("tags")]
    assert undocumented == []
