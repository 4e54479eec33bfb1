"""What the disputes API refuses, and that a refusal changes nothing: moves the state machine does not
draw, stale versions, self-approval, an approval asked for by an organisation key (no person), credits
cut into slices below the threshold, amounts above what is open, forged or oversized evidence."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.disputes import api as disputes_api
from backend.disputes.models import Approval, DisputeCase, DisputeMessage
from backend.files.storage import get_storage
from backend.files.uploads import MAX_UPLOAD_BYTES
from backend.invoices.models import StoredFile
from tests.conftest import Supplier, csrf_token
from tests.disputes.test_api_helpers import (
    PDF,
    PNG,
    Api,
    agreed,
    case_body,
    dispute_operations,
    in_person,
    line_ids,
    register,
    set_threshold,
)
from tests.factories import make_buyer, make_invoice


async def _trail(api: Api, case_id: str) -> list[str]:
    trail = await api.ok("GET", "/audit-events", params={"object_type": "dispute", "object_id": case_id, "limit": 200})
    return [e["action"] for e in trail["items"]]


async def _snapshot(api: Api, case_id: str) -> tuple:
    """What a refused request must leave as it was: the case, its timeline and its audit trail."""
    case = await api.ok("GET", f"/disputes/{case_id}")
    timeline = await api.ok("GET", f"/disputes/{case_id}/timeline")
    return case, [e["id"] for e in timeline["items"]], await _trail(api, case_id)


def _files_in_storage(supplier: Supplier) -> list:
    folder = get_storage().root / str(supplier.tenant_id)
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


async def _count(supplier: Supplier, model, *where) -> int:
    async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


# --- the state machine and versions -------------------------------------------------------------


async def test_a_move_the_state_machine_does_not_draw_is_refused_with_409_and_changes_nothing(client, world):
    api = Api(client, world.a)
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await register(api, buyer_id, [{"invoice_id": invoice.id, "amount": "300.00"}])
    before = await _snapshot(api, case["id"])
    for target, words in (
        ("resolved", "only an agreed case is"),
        ("agreed", "when the buyer accepts a proposal"),
    ):
        refused = await api.call("POST", f"/disputes/{case['id']}/moves", json={"to": target})
        assert refused.status_code == 409, refused.text
        assert refused.json()["field"] == "state" and words in refused.json()["detail"]
        assert await _snapshot(api, case["id"]) == before

    withdrawn = await api.ok("POST", f"/disputes/{case['id']}/moves", json={"to": "withdrawn", "note": "Buyer found the parts"})
    assert withdrawn["allowed_moves"] == [] and withdrawn["held_amount"] == "0.00"
    before = await _snapshot(api, case["id"])
    refused = await api.call("POST", f"/disputes/{case['id']}/moves", json={"to": "acknowledged"})
    assert refused.status_code == 409
    assert refused.json()["detail"] == "A case in state Withdrawn cannot move to Acknowledged."
    assert await _snapshot(api, case["id"]) == before
    # A withdrawn case holds nothing back from collection.
    assert (await api.ok("GET", f"/invoices/{invoice.id}"))["disputed_amount"] == "0.00"


async def test_a_change_made_on_a_stale_version_is_refused_with_409_and_changes_nothing(client, world):
    api = Api(client, world.a)
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await register(api, buyer_id, [{"invoice_id": invoice.id}])
    seen = case["version"]
    # Two people open the case; the first sets the phase, the second acts on what they saw.
    first = await api.ok("PUT", f"/disputes/{case['id']}/phase", json={"phase": "middle", "version": seen})
    assert first["version"] == seen + 1
    before = await _snapshot(api, case["id"])
    for method, path, body in (
        ("POST", "/moves", {"to": "acknowledged", "version": seen}),
        ("PUT", "/phase", {"phase": "late", "version": seen}),
        ("PUT", "/owner", {"owner_user_id": str(world.a.finance.user_id), "version": seen}),
        ("POST", "/proposals", {"options": [{"kind": "credit_note", "amount": "10.00"}], "version": seen}),
    ):
        stale = await api.call(method, f"/disputes/{case['id']}{path}", json=body)
        assert stale.status_code == 409, (path, stale.text)
        assert stale.json()["field"] == "version" and "reload" in stale.json()["detail"]
        assert await _snapshot(api, case["id"]) == before
    assert (await api.ok("GET", f"/disputes/{case['id']}/proposals"))["items"] == []
    moved = await api.ok("POST", f"/disputes/{case['id']}/moves", json={"to": "acknowledged", "version": seen + 1})
    assert (moved["state"], moved["phase"], moved["version"]) == ("acknowledged", "middle", seen + 2)


async def test_the_person_who_asked_for_a_credit_cannot_approve_it_with_their_key_or_in_the_console(client, world):
    api = Api(client, world.a)
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case, _proposal = await agreed(api, buyer_id, invoice.id)
    owner = await in_person(client, world.a)
    requested = await owner.call(
        "POST", f"/disputes/{case['id']}/resolve", json={"outcome": "valid", "root_cause_code": "logistics"}
    )
    assert requested.status_code == 202, requested.text
    approval = requested.json()["approval"]
    before = await _snapshot(api, case["id"])
    # Not with their own personal key, not with the organisation's key (no one, so possibly them).
    for asker in (owner, api):
        refused = await asker.call("POST", f"/disputes/approvals/{approval['id']}/approve", json={"note": "fine by me"})
        assert refused.status_code == 409 and refused.json()["field"] == "approval", refused.text
        assert "Four eyes" in refused.json()["detail"]
        assert await _snapshot(api, case["id"]) == before
    # Nor in the console, where they are signed in: no decision is offered, and one sent anyway is refused.
    case_url = f"/console/disputes/{case['id']}"
    page = await client.get(case_url)
    assert "You asked for this." in page.text and 'name="decision"' not in page.text
    in_console = await client.post(
        f"{case_url}/approvals/{approval['id']}",
        data={"_csrf_token": await csrf_token(client, case_url), "decision": "approve", "version": str(approval["version"])},
        follow_redirects=False,
    )
    assert in_console.status_code == 409, in_console.text[:300]
    assert "the person who asked for a credit or write-off cannot approve it" in in_console.text
    assert await _snapshot(api, case["id"]) == before
    assert before[0]["state"] == "agreed" and before[0]["pending_approval"]["id"] == approval["id"]
    assert [e for e in (await api.ok("GET", f"/invoices/{invoice.id}/entries"))["items"] if e["kind"] == "credit_note"] == []
    # Asking twice is refused too: one approval waits per case.
    again = await owner.call("POST", f"/disputes/{case['id']}/resolve", json={"outcome": "valid", "root_cause_code": "logistics"})
    assert again.status_code == 409 and [a["id"] for a in (await api.ok("GET", "/disputes/approvals"))["items"]] == [
        approval["id"]
    ]


async def test_an_organisation_key_cannot_ask_for_an_approval_and_nothing_changes(client, world):
    api = Api(client, world.a)
    await set_threshold(world.a, "CNY", "100.00")
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case, _proposal = await agreed(api, buyer_id, invoice.id, credit="300.00")
    before = await _snapshot(api, case["id"])
    # 300.00 is above the tenant's 100.00: a second person must approve, so a person must ask.
    refused = await api.call(
        "POST",
        f"/disputes/{case['id']}/resolve",
        json={"outcome": "valid", "root_cause_code": "logistics", "version": case["version"]},
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["field"] == "approval" and "personal API key" in refused.json()["detail"]
    assert await _snapshot(api, case["id"]) == before
    assert (before[0]["state"], before[0]["version"], before[0]["pending_approval"]) == ("agreed", case["version"], None)
    assert await _count(world.a, Approval) == 0
    assert (await api.ok("GET", "/disputes/approvals"))["items"] == []
    assert (await api.ok("GET", f"/invoices/{invoice.id}/entries"))["items"] == []
    # The owner asks with their personal key, on the same version: the request waits for a second person.
    owner = await in_person(client, world.a)
    asked = await owner.call(
        "POST",
        f"/disputes/{case['id']}/resolve",
        json={"outcome": "valid", "root_cause_code": "logistics", "version": case["version"]},
    )
    assert asked.status_code == 202, asked.text
    assert asked.json()["approval"]["requested_by"] == world.a.finance.email


async def test_credits_in_slices_of_a_reopened_case_add_up_toward_the_threshold(client, world):
    api = Api(client, world.a)
    await set_threshold(world.a, "CNY", "100.00")
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    owner = await in_person(client, world.a)
    case, _proposal = await agreed(api, buyer_id, invoice.id, credit="80.00", disputed="500.00")
    # 80.00 is below the threshold: the owner (who may approve) resolves it at once.
    first = await owner.ok(
        "POST", f"/disputes/{case['id']}/resolve", json={"outcome": "partly_valid", "root_cause_code": "pricing"}
    )
    assert (first["approval"], first["case"]["state"], first["case"]["credited_amount"]) == (None, "resolved", "80.00")

    # The buyer comes back; the case is reopened and a further 80.00 agreed.
    await api.ok("POST", f"/disputes/{case['id']}/moves", json={"to": "under_review", "note": "Buyer found more damage"})
    proposal = await api.ok(
        "POST", f"/disputes/{case['id']}/proposals", 201, json={"options": [{"kind": "credit_note", "amount": "80.00"}]}
    )
    await api.ok(
        "POST",
        f"/disputes/proposals/{proposal['id']}/answer",
        json={"response": "accept", "option_id": proposal["options"][0]["id"], "on_behalf_of": "Li Na (AP)"},
    )
    # 80.00 alone is below 100.00, but the case would then have been credited 160.00: a second person approves.
    second = await owner.call(
        "POST", f"/disputes/{case['id']}/resolve", json={"outcome": "partly_valid", "root_cause_code": "pricing"}
    )
    assert second.status_code == 202, second.text
    body = second.json()
    assert (body["approval"]["status"], body["approval"]["credit_amount"]) == ("pending", "80.00")
    assert (body["case"]["state"], body["case"]["credited_amount"]) == ("agreed", "80.00")
    entries = (await api.ok("GET", f"/invoices/{invoice.id}/entries"))["items"]
    assert [(e["kind"], e["amount"]) for e in entries if e["kind"] == "credit_note"] == [("credit_note", "80.00")]


# --- amounts ----------------------------------------------------------------------------------------


async def test_a_disputed_amount_above_what_is_open_is_refused_with_422_and_nothing_is_stored(client, world):
    api = Api(client, world.a)
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id, lines=[("Bearing 6204", "10", "100.00", "13"), ("Seal", "1", "50", "0")])
    lines = await line_ids(api, buyer_id, invoice.id)
    for items, words in (
        ([{"invoice_id": invoice.id, "amount": "1180.01"}], "above what is open and not yet disputed (1180"),
        ([{"invoice_id": invoice.id, "invoice_line_id": lines[2], "amount": "50.01"}], "at most 50"),
        (
            [
                {"invoice_id": invoice.id, "invoice_line_id": lines[1], "amount": "1130.00"},
                {"invoice_id": invoice.id, "invoice_line_id": lines[2], "amount": "50.00"},
                {"invoice_id": invoice.id, "invoice_line_id": uuid.uuid4()},
            ],
            "not on invoice",
        ),
    ):
        refused = await api.call("POST", "/disputes", json=case_body(buyer_id, items))
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "items" and words in refused.json()["detail"], refused.json()
    malformed = await api.call("POST", "/disputes", json=case_body(buyer_id, [{"invoice_id": invoice.id, "amount": "12.345"}]))
    assert malformed.status_code == 422 and malformed.json()["field"] == "items"
    assert (await api.ok("GET", "/disputes"))["total"] == 0
    assert await _count(world.a, DisputeCase) == 0
    shown = await api.ok("GET", f"/invoices/{invoice.id}")
    assert (shown["status"], shown["disputed_amount"]) == ("issued", "0.00")
    # What is open can be disputed in full.
    case = await register(api, buyer_id, [{"invoice_id": invoice.id, "amount": "1180.00"}])
    assert case["held_amount"] == "1180.00"


# --- files ------------------------------------------------------------------------------------------


async def test_evidence_with_a_forged_extension_or_no_allowed_type_is_refused_and_nothing_is_kept(client, world):
    api = Api(client, world.a)
    buyer_id = await make_buyer(world.a)
    case = await register(api, buyer_id, [{"invoice_id": (await make_invoice(world.a, buyer_id)).id}])
    before = await _snapshot(api, case["id"])
    for filename, content, words in (
        ("photo.png", b"These are not the photos you are looking for.\n", "PDF, PNG, JPEG, WebP or TIFF"),
        ("invoice.pdf", PNG, "does not match its content"),
        ("scan.jpg", PDF, "does not match its content"),
    ):
        refused = await api.call(
            "POST", f"/disputes/{case['id']}/evidence", files={"file": (filename, content, "application/octet-stream")}
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "file" and words in refused.json()["detail"]
    forged_attachment = await api.call(
        "POST",
        f"/disputes/{case['id']}/messages/with-attachments",
        data={"body": "Photos attached", "internal": "true"},
        files=[("files", ("photos.pdf", PDF, "application/pdf")), ("files", ("photo.png", b"plain text", "image/png"))],
    )
    assert forged_attachment.status_code == 422 and forged_attachment.json()["field"] == "file"
    assert await _snapshot(api, case["id"]) == before
    assert await _count(world.a, StoredFile) == 0
    assert await _count(world.a, DisputeMessage) == 0
    assert _files_in_storage(world.a) == []
    # The real thing is kept, checked by content, and served back as it came.
    kept = await api.ok(
        "POST", f"/disputes/{case['id']}/evidence", 201, files={"file": ("photo.png", PNG, "application/octet-stream")}
    )
    assert (kept["content_type"], kept["size"]) == ("image/png", len(PNG))
    download = await api.get(kept["download_url"].removeprefix("/api/v1"))
    assert download.content == PNG and download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"].startswith("inline;")
    assert [f["id"] for f in (await api.ok("GET", f"/disputes/{case['id']}/evidence"))["items"]] == [kept["id"]]


async def test_an_evidence_file_above_the_limit_is_refused_with_413_and_nothing_is_kept(client, world):
    api = Api(client, world.a)
    buyer_id = await make_buyer(world.a)
    case = await register(api, buyer_id, [{"invoice_id": (await make_invoice(world.a, buyer_id)).id}])
    just_over = PDF + b"\x00" * (MAX_UPLOAD_BYTES + 1 - len(PDF))
    for content in (just_over, just_over + b"\x00" * (1024 * 1024)):
        refused = await api.call(
            "POST", f"/disputes/{case['id']}/evidence", files={"file": ("big.pdf", content, "application/pdf")}
        )
        assert refused.status_code == 413, refused.text[:300]
    half = PDF + b"\x00" * (MAX_UPLOAD_BYTES // 2 + 64 * 1024)
    together = await api.call(
        "POST",
        f"/disputes/{case['id']}/messages/with-attachments",
        data={"body": "Two big scans"},
        files=[("files", ("one.pdf", half, "application/pdf")), ("files", ("two.pdf", half, "application/pdf"))],
    )
    assert together.status_code == 413
    assert await _count(world.a, StoredFile) == 0 and await _count(world.a, DisputeMessage) == 0
    assert _files_in_storage(world.a) == []
    at_limit = await api.ok(
        "POST", f"/disputes/{case['id']}/evidence", 201, files={"file": ("big.pdf", just_over[:-1], "application/pdf")}
    )
    assert at_limit["size"] == MAX_UPLOAD_BYTES


# --- who the API is for -------------------------------------------------------------------------------


async def test_the_thread_over_the_api_is_the_teams_and_marks_internal_notes(client, world):
    api = Api(client, world.a)
    buyer_id = await make_buyer(world.a)
    case = await register(api, buyer_id, [{"invoice_id": (await make_invoice(world.a, buyer_id)).id}])
    await api.ok("POST", f"/disputes/{case['id']}/messages", 201, json={"body": "We are looking into it."})
    await api.ok("POST", f"/disputes/{case['id']}/messages", 201, json={"body": "Sales says: goodwill", "internal": True})
    noted = await api.ok(
        "POST",
        f"/disputes/{case['id']}/messages/with-attachments",
        201,
        data={"body": "Warehouse photo", "internal": "true"},
        files=[("files", ("warehouse.png", PNG, "image/png"))],
    )
    assert noted["internal"] is True and [a["filename"] for a in noted["attachments"]] == ["warehouse.png"]
    thread = (await api.ok("GET", f"/disputes/{case['id']}/messages"))["items"]
    assert [(m["body"], m["internal"]) for m in thread] == [
        ("We are looking into it.", False),
        ("Sales says: goodwill", True),
        ("Warehouse photo", True),
    ]
    timeline = (await api.ok("GET", f"/disputes/{case['id']}/timeline"))["items"]
    assert [(e["kind"], e["external"]) for e in timeline if e["kind"] in ("message", "note")] == [
        ("message", True),
        ("note", False),
        ("note", False),
    ]


async def test_no_disputes_endpoint_answers_without_a_suppliers_api_key(client, world):
    # The buyer's view of a case (never internal notes) belongs to the portal; the API has none yet.
    source = disputes_api.__file__
    with open(source, encoding="utf-8") as text:
        assert "buyer_case_view" not in text.read()
    operations = sorted(dispute_operations(client.app))
    assert len(operations) >= 30
    refused = []
    for method, path in operations:
        concrete = path.replace("{case_id}", str(uuid.uuid4())).replace("{invoice_id}", str(uuid.uuid4()))
        for name in ("task_id", "proposal_id", "approval_id", "file_id", "item"):
            concrete = concrete.replace("{" + name + "}", str(uuid.uuid4()) if name != "item" else "delivery_proven")
        response = await client.request(method, concrete, params={"buyer_id": str(uuid.uuid4())})
        refused.append((method, path, response.status_code))
    assert [r for r in refused if r[2] != 401] == []


async def test_every_disputes_endpoint_is_documented_with_a_tag_a_summary_and_its_schemas(client):
    schema = (await client.get("/schema/openapi.json")).json()
    operations = {
        (method.upper(), path): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if (method.upper(), path) in dispute_operations(client.app)
    }
    assert set(operations) == dispute_operations(client.app)
    for (method, path), operation in operations.items():
        assert operation.get("tags") == ["disputes"] and operation.get("summary"), (method, path)
        if method in ("POST", "PUT") and not path.endswith("/cancel") and "/approvals/" not in path:
            assert operation["requestBody"]["content"], (method, path)
        success = next(code for code in ("200", "201") if code in operation["responses"])
        assert operation["responses"][success].get("content"), (method, path)
    resolve = operations[("POST", "/api/v1/disputes/{case_id}/resolve")]
    assert {"200", "202"} <= set(resolve["responses"])
    evidence = operations[("POST", "/api/v1/disputes/{case_id}/evidence")]
    assert "multipart/form-data" in evidence["requestBody"]["content"]
