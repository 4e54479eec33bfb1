"""The disputes API as a team works with it day to day: the inbox's filters and sorting, bulk assignment,
phases, tasks cancelled, counter-offers, refused approvals, similar cases and the buyer's profile."""

from __future__ import annotations

import uuid
from datetime import timedelta

from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.disputes import service as disputes
from tests.disputes.test_api_helpers import (
    TODAY,
    Api,
    agreed,
    due_in,
    in_person,
    invited_and_joined,
    register,
    set_threshold,
)
from tests.factories import make_buyer, make_invoice


async def test_the_inbox_filters_combine_sort_and_page(client, world):
    api = Api(client, world.a)
    acme = await make_buyer(world.a, "Acme Trading Ltd")
    huadong = await make_buyer(world.a, "Huadong Machinery Co.")
    old = await register(
        api,
        acme,
        [{"invoice_id": (await make_invoice(world.a, acme)).id, "amount": "100.00"}],
        opened_on=(TODAY - timedelta(days=40)).isoformat(),
        reason_code="late_delivery",
    )
    mine = await register(
        api,
        acme,
        [{"invoice_id": (await make_invoice(world.a, acme)).id, "amount": "700.00"}],
        owner_user_id=str(world.a.finance.user_id),
    )
    invoice = await make_invoice(world.a, huadong, number="INV-HD-0042")
    collector = await invited_and_joined(client, api, "Zhou Collector", "collector")
    theirs = await register(api, huadong, [{"invoice_id": invoice.id, "amount": "300.00"}], owner_user_id=str(collector.id))
    await api.ok("POST", f"/disputes/{theirs['id']}/moves", json={"to": "acknowledged"})

    async def numbers(**params) -> list[str]:
        page = await api.ok("GET", "/disputes", params=params)
        return [c["number"] for c in page["items"]]

    assert await numbers(sort="number") == [old["number"], mine["number"], theirs["number"]]
    assert await numbers(owner="unassigned") == [old["number"]]
    assert await numbers(owner=str(collector.id)) == [theirs["number"]]
    # An API key is nobody: its own cases are none.
    assert await numbers(owner="me") == []
    assert await numbers(state=["open"], sort="number") == [old["number"], mine["number"]]
    assert await numbers(state=["open", "acknowledged"], sort="-amount") == [mine["number"], theirs["number"], old["number"]]
    assert await numbers(reason="late_delivery") == [old["number"]]
    assert await numbers(buyer_id=str(huadong)) == [theirs["number"]]
    assert await numbers(min_age_days=30) == [old["number"]]
    assert await numbers(max_age_days=30, sort="number") == [mine["number"], theirs["number"]]
    assert await numbers(min_amount="300.00", max_amount="699.99") == [theirs["number"]]
    assert await numbers(q="hd-0042") == [theirs["number"]]
    assert await numbers(q="acme", sort="-number") == [mine["number"], old["number"]]
    assert await numbers(phase="middle") == []
    page = await api.ok("GET", "/disputes", params={"sort": "number", "limit": 2, "offset": 1})
    assert (page["total"], [c["number"] for c in page["items"]]) == (3, [mine["number"], theirs["number"]])
    listed = next(c for c in (await api.ok("GET", "/disputes"))["items"] if c["id"] == old["id"])
    assert (listed["buyer_name"], listed["age_days"], listed["disputed_amount"]) == ("Acme Trading Ltd", 40, "100.00")
    for params, field in (({"owner": "somebody"}, "owner"), ({"min_amount": "1.00001"}, "min_amount")):
        refused = await api.call("GET", "/disputes", params=params)
        assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
    unknown = await api.call("GET", "/disputes", params={"state": "lost"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "state" and "under_review" in unknown.json()["detail"]


async def test_cases_are_assigned_in_bulk_all_or_none(client, world):
    api = Api(client, world.a)
    buyer_id = await make_buyer(world.a)
    first = await register(api, buyer_id, [{"invoice_id": (await make_invoice(world.a, buyer_id)).id}])
    second = await register(api, buyer_id, [{"invoice_id": (await make_invoice(world.a, buyer_id)).id}])
    owner = str((await invited_and_joined(client, api, "Zhou Collector", "collector")).id)
    missing = await api.call(
        "POST",
        "/disputes/assign",
        json={"case_ids": [first["id"], "0" * 8 + "-0000-4000-8000-" + "0" * 12], "owner_user_id": owner},
    )
    assert missing.status_code == 404
    assert (await api.ok("GET", f"/disputes/{first['id']}"))["owner_user_id"] is None
    stranger = await api.call(
        "POST", "/disputes/assign", json={"case_ids": [first["id"]], "owner_user_id": str(world.b.finance.user_id)}
    )
    assert stranger.status_code == 422 and stranger.json()["field"] == "owner_user_id"
    # A collaborator helps with cases but cannot own one.
    helper = await api.call(
        "POST", "/disputes/assign", json={"case_ids": [first["id"]], "owner_user_id": str(world.a.collaborator.user_id)}
    )
    assert helper.status_code == 422 and helper.json()["field"] == "owner_user_id"
    assert (await api.ok("GET", f"/disputes/{first['id']}"))["owner_user_id"] is None
    assigned = await api.ok("POST", "/disputes/assign", json={"case_ids": [first["id"], second["id"]], "owner_user_id": owner})
    assert sorted(c["owner_user_id"] for c in assigned["items"]) == [owner, owner]
    shown = await api.ok("GET", f"/disputes/{second['id']}")
    assert (shown["owner_user_id"], shown["owner_name"]) == (owner, "Zhou Collector")
    freed = await api.ok("PUT", f"/disputes/{second['id']}/owner", json={"owner_user_id": None, "version": shown["version"]})
    assert freed["owner_user_id"] is None and freed["version"] == shown["version"] + 1


async def test_phase_tasks_and_a_countered_proposal(client, world):
    api = Api(client, world.a)
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case = await register(api, buyer_id, [{"invoice_id": invoice.id, "amount": "400.00"}])
    assert (await api.ok("PUT", f"/disputes/{case['id']}/phase", json={"phase": "middle"}))["phase"] == "middle"
    task = await api.ok(
        "POST",
        f"/disputes/{case['id']}/tasks",
        201,
        json={
            "assignee_user_id": str(world.a.collaborator.user_id),
            "team": "logistics",
            "question": "Signed POD?",
            "due_on": due_in(1),
        },
    )
    late = await api.call(
        "POST",
        f"/disputes/{case['id']}/tasks",
        json={"assignee_user_id": str(world.a.collaborator.user_id), "team": "logistics", "question": "?", "due_on": due_in(-1)},
    )
    assert late.status_code == 422 and late.json()["field"] == "due_on"
    stale = await api.call("POST", f"/disputes/tasks/{task['id']}/cancel", json={"version": task["version"] + 1})
    assert stale.status_code == 409 and stale.json()["field"] == "version"
    cancelled = await api.ok("POST", f"/disputes/tasks/{task['id']}/cancel")  # no body: whatever version it has now
    assert cancelled["status"] == "cancelled"
    again = await api.call("POST", f"/disputes/tasks/{task['id']}/answer", json={"answer": "too late"})
    assert again.status_code == 409
    proposal = await api.ok(
        "POST",
        f"/disputes/{case['id']}/proposals",
        201,
        json={
            "options": [
                {"kind": "discount", "amount": "150.00", "description": "Goodwill"},
                {
                    "kind": "instalments",
                    "schedule": [{"due_on": due_in(30), "amount": "500"}, {"due_on": due_in(60), "amount": "630"}],
                },
            ]
        },
    )
    plan = proposal["options"][1]
    assert (plan["amount"], [i["amount"] for i in plan["schedule"]]) == ("1130.00", ["500.00", "630.00"])
    unnamed = await api.call(
        "POST", f"/disputes/proposals/{proposal['id']}/answer", json={"response": "counter", "on_behalf_of": " "}
    )
    assert unnamed.status_code == 422 and unnamed.json()["field"] == "on_behalf_of"
    countered = await api.ok(
        "POST",
        f"/disputes/proposals/{proposal['id']}/answer",
        json={"response": "counter", "on_behalf_of": "Li Na (AP)", "note": "We ask for 250", "counter_amount": "250.00"},
    )
    assert (countered["status"], countered["counter_amount"], countered["response_note"]) == (
        "countered",
        "250.00",
        "We ask for 250",
    )
    assert (await api.ok("GET", f"/disputes/{case['id']}"))["state"] == "negotiating"
    over = await api.call(
        "POST", f"/disputes/{case['id']}/proposals", json={"options": [{"kind": "credit_note", "amount": "400.01"}]}
    )
    assert over.status_code == 422 and over.json()["field"] == "options[0].amount"
    listed = (await api.ok("GET", f"/disputes/{case['id']}/proposals"))["items"]
    assert [p["status"] for p in listed] == ["countered"]


async def test_a_refused_approval_leaves_the_case_agreed_and_the_ledger_untouched(client, world):
    import uuid

    api = Api(client, world.a)
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case, _proposal = await agreed(api, buyer_id, invoice.id, credit="50.00")
    # A second person's approval is asked for by a person: the owner, with their personal key.
    owner = await in_person(client, world.a)
    requested = await owner.call(
        "POST", f"/disputes/{case['id']}/resolve", json={"outcome": "valid", "root_cause_code": "pricing"}
    )
    assert requested.status_code == 202, requested.text
    approval = requested.json()["approval"]
    manager = await invited_and_joined(client, api, "Wang Approver", "credit_manager")
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        await disputes.decide_approval(session, manager, uuid.UUID(approval["id"]), approve=False, note="Photos unclear")
    shown = await api.ok("GET", f"/disputes/{case['id']}")
    assert (shown["state"], shown["pending_approval"], shown["credited_amount"]) == ("agreed", None, "0.00")
    assert (await api.ok("GET", "/disputes/approvals"))["items"] == []
    assert [e["kind"] for e in (await api.ok("GET", f"/invoices/{invoice.id}/entries"))["items"]] == []
    timeline = [e["kind"] for e in (await api.ok("GET", f"/disputes/{case['id']}/timeline"))["items"]]
    assert timeline[-2:] == ["approval_requested", "approval_refused"]


async def test_below_the_threshold_an_approving_key_resolves_at_once(client, world):
    api = Api(client, world.a)
    await set_threshold(world.a, "CNY", "1000.00")
    buyer_id = await make_buyer(world.a)
    invoice = await make_invoice(world.a, buyer_id)
    case, _proposal = await agreed(api, buyer_id, invoice.id, credit="80.00", disputed="200.00")
    resolved = await api.call(
        "POST",
        f"/disputes/{case['id']}/resolve",
        json={"outcome": "partly_valid", "root_cause_code": "pricing", "version": case["version"]},
    )
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()
    assert body["approval"] is None and body["case"]["state"] == "resolved" and body["case"]["credited_amount"] == "80.00"
    assert [(e["kind"], e["amount"]) for e in (await api.ok("GET", f"/invoices/{invoice.id}/entries"))["items"]] == [
        ("credit_note", "80.00")
    ]
    assert [c["id"] for c in (await api.ok("GET", f"/invoices/{invoice.id}/disputes"))["items"]] == [case["id"]]


async def _invoice_with_sku(api: Api, buyer_id, sku: str) -> str:
    body = {
        "buyer_id": str(buyer_id),
        "number": f"INV-{uuid.uuid4().hex[:8].upper()}",
        "currency": "CNY",
        "issue_date": (TODAY - timedelta(days=5)).isoformat(),
        "lines": [{"description": "Bearing 6204", "quantity": "10", "unit_price": "100.00", "tax_rate": "13", "sku": sku}],
        "issue": True,
    }
    return (await api.ok("POST", "/invoices", 201, json=body))["id"]


async def test_similar_cases_and_the_buyers_profile_beside_a_case(client, world):
    api = Api(client, world.a)
    await set_threshold(world.a, "CNY", "1000.00")
    acme, other = await make_buyer(world.a, "Acme Trading Ltd"), await make_buyer(world.a, "Other Buyer")
    # Other buyers' closed cases: the same reason on the same product (the knowledge base), and on another product.
    closed, _p = await agreed(api, other, await _invoice_with_sku(api, other, "B6204"), credit="50.00", disputed="100.00")
    await api.ok("POST", f"/disputes/{closed['id']}/resolve", json={"outcome": "valid", "root_cause_code": "product_defect"})
    elsewhere, _p = await agreed(api, other, await _invoice_with_sku(api, other, "S-77"), credit="10.00", disputed="100.00")
    await api.ok("POST", f"/disputes/{elsewhere['id']}/resolve", json={"outcome": "valid", "root_cause_code": "product_defect"})
    earlier = await register(
        api, acme, [{"invoice_id": await _invoice_with_sku(api, acme, "B6204"), "amount": "20.00"}], reason_code="price"
    )
    case = await register(api, acme, [{"invoice_id": await _invoice_with_sku(api, acme, "B6204"), "amount": "300.00"}])
    similar = await api.ok("GET", f"/disputes/{case['id']}/similar")
    assert similar["skus"] == ["B6204"]
    assert [c["id"] for c in similar["of_buyer"]] == [earlier["id"]]
    assert [(c["id"], c["buyer_name"], c["outcome"]) for c in similar["same_reason_and_product"]] == [
        (closed["id"], "Other Buyer", "valid")
    ]
    profile = await api.ok("GET", f"/disputes/{case['id']}/buyer-profile")
    assert (profile["legal_name"], profile["cases_total"], profile["cases_in_progress"]) == ("Acme Trading Ltd", 2, 2)
    assert profile["history"] == [{"currency": "CNY", "disputed": "320.00", "settled": "0.00"}]
    assert {r["reason_code"]: r["cases"] for r in profile["reasons"]} == {"quality": 1, "price": 1}
    [balance] = profile["balances"]
    assert (balance["currency"], balance["open"], balance["disputed"]) == ("CNY", "2260.00", "320.00")
