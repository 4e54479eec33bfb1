"""The dispute workflow end to end through the API: registration → evaluation with a collaborator's task
→ a proposal with two options → the buyer's acceptance → four-eyes approval → credit note → resolved.

Everything goes over the API. The organisation's key (an integration, nobody's identity) does the
case work; the steps only a person can take go over the API with that person's personal key: the
collaborator answering the task given to them, the owner asking for the credit (four eyes compare two
people, so a person asks), and a credit manager approving as the second pair of eyes.
"""

from __future__ import annotations

from decimal import Decimal

from tests.conftest import sign_in
from tests.disputes.test_api_helpers import Api, due_in, invited_and_joined, line_ids, personal_key, register, set_threshold
from tests.factories import make_buyer, make_invoice

BEARINGS = ("Bearing 6204", "10", "100.00", "13")  # 1,130.00 with tax
SEALS = ("Seal kit", "4", "25.00", "13")  # 113.00 with tax


async def test_a_line_level_case_goes_from_registration_to_a_credit_note_and_resolution_through_the_api(client, world):
    api = Api(client, world.a)
    await set_threshold(world.a, "CNY", "100.00")
    buyer_id = await make_buyer(world.a, "Huadong Machinery Co.")
    invoice = await make_invoice(world.a, buyer_id, lines=[BEARINGS, SEALS])  # 1,243.00

    # Registration: half the bearings line, by the e-mail the buyer sent.
    lines = await line_ids(api, buyer_id, invoice.id)
    case = await register(api, buyer_id, [{"invoice_id": invoice.id, "invoice_line_id": lines[1], "amount": "565.00"}])
    case_id = case["id"]
    assert (case["state"], case["phase"], case["disputed_amount"], case["held_amount"]) == ("open", "early", "565.00", "565.00")
    [held] = case["invoices"]
    assert held["items"][0]["line_no"] == 1 and held["items"][0]["amount"] == "565.00"
    # The undisputed part stays payable and in collection; the disputed part is held out of it.
    shown = await api.ok("GET", f"/invoices/{invoice.id}")
    assert (shown["open_amount"], shown["disputed_amount"], shown["balance"]["undisputed"]) == ("1243.00", "565.00", "678.00")
    paid = await api.ok(
        "POST", "/payments", 201, json={"buyer_id": str(buyer_id), "amount": "678.00", "currency": "CNY", "reason": "undisputed"}
    )
    assert [(a["invoice_id"], a["amount"]) for a in paid["allocations"]] == [(str(invoice.id), "678.00")]
    shown = await api.ok("GET", f"/invoices/{invoice.id}")
    assert (shown["open_amount"], shown["disputed_amount"], shown["balance"]["undisputed"]) == ("565.00", "565.00", "0.00")

    # Evaluation: an owner, acknowledged, a question for the collaborator, the checklist.
    case = await api.ok("PUT", f"/disputes/{case_id}/owner", json={"owner_user_id": str(world.a.finance.user_id)})
    assert case["owner_user_id"] == str(world.a.finance.user_id)
    case = await api.ok("POST", f"/disputes/{case_id}/moves", json={"to": "acknowledged", "version": case["version"]})
    assert case["state"] == "acknowledged" and "under_review" in case["allowed_moves"]
    task = await api.ok(
        "POST",
        f"/disputes/{case_id}/tasks",
        201,
        json={
            "assignee_user_id": str(world.a.collaborator.user_id),
            "team": "quality",
            "question": "Were the bearings of lot 2026-11 scratched when they left the warehouse?",
            "due_on": due_in(3),
        },
    )
    assert (task["status"], task["assignee_name"], task["team"]) == ("open", "alice collaborator", "quality")
    assert (await api.ok("GET", f"/disputes/{case_id}"))["state"] == "under_review"

    # The collaborator makes a personal key in the console and answers with it, as themselves.
    await sign_in(client, world.a.collaborator)
    collaborator_key = await personal_key(client, "Quality desk scripts")
    collaborator = Api(client, world.a, collaborator_key)
    await collaborator.ok(
        "POST",
        f"/disputes/tasks/{task['id']}/answer",
        json={"answer": "Yes: the packing photos show five scratched bearings.", "version": task["version"]},
    )
    [answered] = (await api.ok("GET", f"/disputes/{case_id}/tasks"))["items"]
    assert answered["status"] == "answered" and answered["answered_by"] == world.a.collaborator.email
    assert "five scratched" in answered["answer"]

    for item, answer in (("contract_terms_met", "no"), ("delivery_proven", "yes"), ("similar_past_disputes", "no")):
        await api.ok("PUT", f"/disputes/{case_id}/checklist/{item}", json={"answer": answer, "note": "from the packing photos"})
    checklist = {i["item"]: i["answer"] for i in (await api.ok("GET", f"/disputes/{case_id}/checklist"))["items"]}
    assert checklist == {
        "contract_terms_met": "no",
        "delivery_proven": "yes",
        "similar_past_disputes": "no",
        "market_change": None,
    }

    # Negotiation: two options; the buyer accepts the credit note by phone.
    proposal = await api.ok(
        "POST",
        f"/disputes/{case_id}/proposals",
        201,
        json={
            "message": "Two ways to settle the scratched bearings.",
            "options": [
                {"kind": "credit_note", "amount": "300.00", "description": "Credit for five bearings and freight"},
                {"kind": "redelivery", "description": "Five new bearings by courier this week"},
            ],
        },
    )
    assert [o["kind"] for o in proposal["options"]] == ["credit_note", "redelivery"]
    assert (await api.ok("GET", f"/disputes/{case_id}"))["phase"] == "middle"
    credit_option = proposal["options"][0]
    answered = await api.ok(
        "POST",
        f"/disputes/proposals/{proposal['id']}/answer",
        json={"response": "accept", "option_id": credit_option["id"], "on_behalf_of": "Li Na (AP)", "note": "by phone"},
    )
    assert answered["status"] == "accepted" and answered["accepted_option_id"] == credit_option["id"]
    assert "Li Na (AP)" in answered["responded_by"]
    case = await api.ok("GET", f"/disputes/{case_id}")
    assert (case["state"], case["phase"], case["agreed_option_id"]) == ("agreed", "late", credit_option["id"])

    # Resolution: 300.00 is above the tenant's 100.00, so it waits for a second person, and a person asks:
    # the owner, with a personal key made in the console (it acts as an admin).
    await sign_in(client, world.a.finance)
    owner_key = await personal_key(client, "Month-end credits")
    owner = Api(client, world.a, owner_key)
    requested = await owner.call(
        "POST",
        f"/disputes/{case_id}/resolve",
        json={"outcome": "partly_valid", "root_cause_code": "product_defect", "note": "Five of ten", "version": case["version"]},
    )
    assert requested.status_code == 202, requested.text
    approval = requested.json()["approval"]
    assert (approval["status"], approval["credit_amount"], approval["outcome"]) == ("pending", "300.00", "partly_valid")
    assert requested.json()["case"]["state"] == "agreed"
    assert not [e for e in (await api.ok("GET", f"/invoices/{invoice.id}/entries"))["items"] if e["kind"] == "credit_note"]
    waiting = (await api.ok("GET", "/disputes/approvals"))["items"]
    assert [a["id"] for a in waiting] == [approval["id"]] and waiting[0]["case_number"] == case["number"]
    # The person who asked is no second pair of eyes, and the organisation's key is no one (it could be them).
    for asker in (owner, api):
        refused = await asker.call("POST", f"/disputes/approvals/{approval['id']}/approve", json={})
        assert refused.status_code == 409 and refused.json()["field"] == "approval"

    # A credit manager joins, makes a personal key, and approves over the API as the second person.
    manager = await invited_and_joined(client, api, "Mei Credit", "credit_manager")
    manager_key = await personal_key(client, "Approvals")
    decided = await Api(client, world.a, manager_key).ok(
        "POST", f"/disputes/approvals/{approval['id']}/approve", json={"note": "Photos are convincing"}
    )
    assert (decided["approval"]["status"], decided["approval"]["decided_by"]) == ("approved", manager.label)

    # The credit note is in the ledger, the case is resolved with its outcome, and the rest is payable.
    entries = (await api.ok("GET", f"/invoices/{invoice.id}/entries"))["items"]
    credit_notes = [e for e in entries if e["kind"] == "credit_note"]
    assert [e["amount"] for e in credit_notes] == ["300.00"]
    assert credit_notes[0]["created_by"] == manager.label and case["number"] in credit_notes[0]["reason"]
    case = await api.ok("GET", f"/disputes/{case_id}")
    assert (case["state"], case["outcome"], case["root_cause_code"], case["resolution_note"]) == (
        "resolved",
        "partly_valid",
        "product_defect",
        "Five of ten",
    )
    amounts = [case[k] for k in ("disputed_amount", "credited_amount", "written_off_amount", "collected_amount")]
    assert amounts == ["565.00", "300.00", "0.00", "0.00"]
    assert case["held_amount"] == "0.00" and case["pending_approval"] is None and case["allowed_moves"] == ["under_review"]
    shown = await api.ok("GET", f"/invoices/{invoice.id}")
    assert (shown["open_amount"], shown["disputed_amount"], shown["balance"]["undisputed"]) == ("265.00", "0.00", "265.00")
    assert shown["status"] == "partially_paid"  # no longer disputed: back in collection
    paid = await api.ok(
        "POST", "/payments", 201, json={"buyer_id": str(buyer_id), "amount": "265.00", "currency": "CNY", "reason": "the rest"}
    )
    assert [a["amount"] for a in paid["allocations"]] == ["265.00"]
    assert (await api.ok("GET", f"/invoices/{invoice.id}"))["status"] == "paid"

    # Every step is on the case's timeline and in the audit trail.
    kinds = [e["kind"] for e in (await api.ok("GET", f"/disputes/{case_id}/timeline"))["items"]]
    steps = [
        "registered",
        "assigned",
        "acknowledged",
        "task_created",
        "task_answered",
        "checklist_answered",
        "proposal_offered",
        "proposal_answered",
        "approval_requested",
        "approval_approved",
        "resolved",
    ]
    assert _steps(kinds, steps) == steps
    trail = (await api.ok("GET", "/audit-events", params={"object_type": "dispute", "object_id": case_id, "limit": 200}))["items"]
    actions = [e["action"].removeprefix("dispute.") for e in reversed(trail)]
    assert _steps(actions, steps) == steps
    # The person's steps are theirs in the trail, with the key they took them through.
    by_whom = {e["action"]: e["actor_label"] for e in trail}
    manager_through_key = f"{manager.label} (API key {manager_key[:12]}…)"
    assert by_whom["dispute.task_answered"] == f"{world.a.collaborator.email} (API key {collaborator_key[:12]}…)"
    assert by_whom["dispute.approval_approved"] == by_whom["dispute.resolved"] == manager_through_key
    assert by_whom["dispute.approval_requested"] == f"{world.a.finance.email} (API key {owner_key[:12]}…)"
    who = {e["action"]: (e["actor_kind"], e["actor_id"]) for e in trail}
    assert who["dispute.task_answered"] == ("user", str(world.a.collaborator.user_id))
    assert who["dispute.approval_requested"] == ("user", str(world.a.finance.user_id))
    assert who["dispute.approval_approved"] == ("user", str(manager.id))
    ledger = (
        await api.ok("GET", "/audit-events", params={"action": "ledger.credit_note_recorded", "object_id": str(invoice.id)})
    )["items"]
    assert len(ledger) == 1 and ledger[0]["actor_label"] == manager_through_key
    written = ledger[0]["after"]["entry"]
    assert (written["kind"], Decimal(written["amount"]), written["document_number"]) == (
        "credit_note",
        Decimal("300.00"),
        credit_notes[0]["document_number"],
    )


def _steps(kinds: list[str], steps: list[str]) -> list[str]:
    """The workflow's steps as they happened, a step repeated at once (three checklist answers) counted once."""
    happened = [k for k in kinds if k in steps]
    return [k for i, k in enumerate(happened) if i == 0 or happened[i - 1] != k]
