"""Supplier B's key against supplier A's cases, tasks, proposals, approvals, messages and files: every
disputes endpoint answers 404, exactly as for an id that exists nowhere, and changes nothing.

The table below names every endpoint; a disputes endpoint missing from it fails the test, so a new one
is added here with the ids it takes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.disputes.test_api_helpers import PDF, PNG, Api, agreed, dispute_operations, due_in, in_person, register
from tests.factories import make_buyer, make_invoice


@dataclass
class Ids:
    case_id: str
    task_id: str
    proposal_id: str
    option_id: str
    approval_id: str
    file_id: str
    message_id: str
    buyer_id: str
    invoice_id: str
    user_id: str

    @classmethod
    def made_up(cls) -> Ids:
        return cls(*(str(uuid.uuid4()) for _field in range(10)))


@dataclass
class Call:
    # A path under /api/v1 and the request's parts, from the ids it is made with.
    path: Callable[[Ids], str]
    kwargs: Callable[[Ids], dict] = field(default=lambda ids: {})
    status: int = 404


def _json(make: Callable[[Ids], dict]) -> Callable[[Ids], dict]:
    return lambda ids: {"json": make(ids)}


def _file(name: str, content: bytes, key: str = "file") -> Callable[[Ids], dict]:
    return lambda ids: {"files": {key: (name, content, "application/octet-stream")}}


# Every disputes endpoint, with A's ids put where it takes them. A list answers 200 and is checked for
# A's cases instead; a body that names a buyer answers 422 (not one of yours), as for a made-up one.
ENDPOINTS: dict[tuple[str, str], list[Call]] = {
    ("GET", "/api/v1/disputes"): [Call(lambda i: "/disputes", lambda i: {"params": {"buyer_id": i.buyer_id}}, 200)],
    ("POST", "/api/v1/disputes"): [
        Call(
            lambda i: "/disputes",
            _json(
                lambda i: {
                    "buyer_id": i.buyer_id,
                    "reason_code": "quality",
                    "description": "x",
                    "items": [{"invoice_id": i.invoice_id}],
                }
            ),
            422,
        )
    ],
    ("GET", "/api/v1/disputes/disputable-invoices"): [
        Call(lambda i: "/disputes/disputable-invoices", lambda i: {"params": {"buyer_id": i.buyer_id}})
    ],
    ("GET", "/api/v1/disputes/{case_id}"): [Call(lambda i: f"/disputes/{i.case_id}")],
    ("POST", "/api/v1/disputes/{case_id}/moves"): [
        Call(lambda i: f"/disputes/{i.case_id}/moves", _json(lambda i: {"to": "withdrawn", "note": "gone"}))
    ],
    ("PUT", "/api/v1/disputes/{case_id}/phase"): [
        Call(lambda i: f"/disputes/{i.case_id}/phase", _json(lambda i: {"phase": "late"}))
    ],
    ("PUT", "/api/v1/disputes/{case_id}/owner"): [
        Call(lambda i: f"/disputes/{i.case_id}/owner", _json(lambda i: {"owner_user_id": None}))
    ],
    ("POST", "/api/v1/disputes/assign"): [
        Call(lambda i: "/disputes/assign", _json(lambda i: {"case_ids": [i.case_id], "owner_user_id": None}))
    ],
    ("GET", "/api/v1/disputes/{case_id}/timeline"): [Call(lambda i: f"/disputes/{i.case_id}/timeline")],
    ("GET", "/api/v1/disputes/{case_id}/similar"): [Call(lambda i: f"/disputes/{i.case_id}/similar")],
    ("GET", "/api/v1/disputes/{case_id}/buyer-profile"): [Call(lambda i: f"/disputes/{i.case_id}/buyer-profile")],
    ("GET", "/api/v1/disputes/{case_id}/evidence"): [Call(lambda i: f"/disputes/{i.case_id}/evidence")],
    ("POST", "/api/v1/disputes/{case_id}/evidence"): [Call(lambda i: f"/disputes/{i.case_id}/evidence", _file("photo.png", PNG))],
    ("GET", "/api/v1/disputes/{case_id}/files/{file_id}"): [Call(lambda i: f"/disputes/{i.case_id}/files/{i.file_id}")],
    ("GET", "/api/v1/disputes/{case_id}/messages"): [Call(lambda i: f"/disputes/{i.case_id}/messages")],
    ("POST", "/api/v1/disputes/{case_id}/messages"): [
        Call(lambda i: f"/disputes/{i.case_id}/messages", _json(lambda i: {"body": "hello", "internal": True}))
    ],
    ("POST", "/api/v1/disputes/{case_id}/messages/with-attachments"): [
        Call(
            lambda i: f"/disputes/{i.case_id}/messages/with-attachments",
            lambda i: {"data": {"body": "hello"}, "files": [("files", ("scan.pdf", PDF, "application/pdf"))]},
        )
    ],
    ("GET", "/api/v1/disputes/{case_id}/checklist"): [Call(lambda i: f"/disputes/{i.case_id}/checklist")],
    ("PUT", "/api/v1/disputes/{case_id}/checklist/{item}"): [
        Call(lambda i: f"/disputes/{i.case_id}/checklist/delivery_proven", _json(lambda i: {"answer": "no"}))
    ],
    ("GET", "/api/v1/disputes/{case_id}/tasks"): [Call(lambda i: f"/disputes/{i.case_id}/tasks")],
    ("POST", "/api/v1/disputes/{case_id}/tasks"): [
        Call(
            lambda i: f"/disputes/{i.case_id}/tasks",
            _json(lambda i: {"assignee_user_id": i.user_id, "team": "sales", "question": "?", "due_on": due_in(2)}),
        )
    ],
    ("POST", "/api/v1/disputes/tasks/{task_id}/answer"): [
        Call(lambda i: f"/disputes/tasks/{i.task_id}/answer", _json(lambda i: {"answer": "done"}))
    ],
    ("POST", "/api/v1/disputes/tasks/{task_id}/cancel"): [
        Call(lambda i: f"/disputes/tasks/{i.task_id}/cancel", _json(lambda i: {}))
    ],
    ("GET", "/api/v1/disputes/{case_id}/proposals"): [Call(lambda i: f"/disputes/{i.case_id}/proposals")],
    ("POST", "/api/v1/disputes/{case_id}/proposals"): [
        Call(
            lambda i: f"/disputes/{i.case_id}/proposals",
            _json(lambda i: {"options": [{"kind": "credit_note", "amount": "1.00"}]}),
        )
    ],
    ("POST", "/api/v1/disputes/proposals/{proposal_id}/answer"): [
        Call(
            lambda i: f"/disputes/proposals/{i.proposal_id}/answer",
            _json(lambda i: {"response": "accept", "option_id": i.option_id, "on_behalf_of": "Mallory"}),
        ),
        Call(
            lambda i: f"/disputes/proposals/{i.proposal_id}/answer",
            _json(lambda i: {"response": "decline", "on_behalf_of": "Mallory"}),
        ),
    ],
    ("POST", "/api/v1/disputes/{case_id}/resolve"): [
        Call(lambda i: f"/disputes/{i.case_id}/resolve", _json(lambda i: {"outcome": "valid", "root_cause_code": "other"}))
    ],
    ("GET", "/api/v1/disputes/approvals"): [Call(lambda i: "/disputes/approvals", status=200)],
    ("POST", "/api/v1/disputes/approvals/{approval_id}/approve"): [
        Call(lambda i: f"/disputes/approvals/{i.approval_id}/approve", _json(lambda i: {}))
    ],
    ("POST", "/api/v1/disputes/approvals/{approval_id}/refuse"): [
        Call(lambda i: f"/disputes/approvals/{i.approval_id}/refuse", _json(lambda i: {"note": "no"}))
    ],
    ("GET", "/api/v1/invoices/{invoice_id}/disputes"): [Call(lambda i: f"/invoices/{i.invoice_id}/disputes")],
}


def _filled(route: str, ids: Ids) -> str:
    for name, value in vars(ids).items():
        route = route.replace("{" + name + "}", value)
    return route.replace("{item}", "delivery_proven")


async def _a_world(api: Api, supplier) -> tuple[Ids, list[str]]:
    """Supplier A's case with evidence, a message with an attachment, an open task and an open proposal,
    and a second case agreed and waiting for approval. Returns the ids and both case ids."""
    buyer_id = await make_buyer(supplier)
    invoice = await make_invoice(supplier, buyer_id)
    case = await register(api, buyer_id, [{"invoice_id": invoice.id, "amount": "400.00"}])
    evidence = await api.ok("POST", f"/disputes/{case['id']}/evidence", 201, files={"file": ("pod.pdf", PDF, "application/pdf")})
    message = await api.ok(
        "POST",
        f"/disputes/{case['id']}/messages/with-attachments",
        201,
        data={"body": "Photos of the damage", "internal": "false"},
        files=[("files", ("damage.png", PNG, "image/png"))],
    )
    task = await api.ok(
        "POST",
        f"/disputes/{case['id']}/tasks",
        201,
        json={
            "assignee_user_id": str(supplier.collaborator.user_id),
            "team": "quality",
            "question": "Scratched?",
            "due_on": due_in(5),
        },
    )
    proposal = await api.ok(
        "POST", f"/disputes/{case['id']}/proposals", 201, json={"options": [{"kind": "credit_note", "amount": "100.00"}]}
    )
    second = await make_invoice(supplier, buyer_id)
    waiting, _proposal = await agreed(api, buyer_id, second.id)
    # A second person's approval is asked for by a person: the owner, with their personal key.
    owner = await in_person(api.client, supplier)
    resolved = await owner.call(
        "POST", f"/disputes/{waiting['id']}/resolve", json={"outcome": "valid", "root_cause_code": "logistics"}
    )
    assert resolved.status_code == 202, resolved.text
    ids = Ids(
        case_id=case["id"],
        task_id=task["id"],
        proposal_id=proposal["id"],
        option_id=proposal["options"][0]["id"],
        approval_id=resolved.json()["approval"]["id"],
        file_id=message["attachments"][0]["id"],
        message_id=message["id"],
        buyer_id=str(buyer_id),
        invoice_id=str(invoice.id),
        user_id=str(supplier.collaborator.user_id),
    )
    assert evidence["id"] != ids.file_id
    return ids, [case["id"], waiting["id"]]


async def _everything_of(api: Api, case_ids: list[str]) -> list:
    """All A's API shows of its cases (read with A's own key), and A's whole audit trail."""
    seen = []
    for case_id in case_ids:
        for tail in ("", "/timeline", "/messages", "/evidence", "/checklist", "/tasks", "/proposals"):
            seen.append(await api.ok("GET", f"/disputes/{case_id}{tail}"))
    seen.append(await api.ok("GET", "/disputes/approvals"))
    seen.append(await api.ok("GET", "/disputes", params={"limit": 200}))
    seen.append([e["seq"] for e in (await api.ok("GET", "/audit-events", params={"limit": 200}))["items"]])
    return seen


async def test_every_disputes_endpoint_is_in_the_tenancy_table(app):
    assert dispute_operations(app) == set(ENDPOINTS)


async def test_supplier_b_gets_404_for_every_one_of_supplier_as_dispute_objects_and_changes_nothing(client, world):
    a, b = Api(client, world.a), Api(client, world.b)
    ids, a_cases = await _a_world(a, world.a)
    # B has a case of its own, so "not found" cannot mean "B has no cases at all".
    b_buyer = await make_buyer(world.b)
    b_case = await register(b, b_buyer, [{"invoice_id": (await make_invoice(world.b, b_buyer)).id}])
    before = await _everything_of(a, a_cases)
    b_before = await _everything_of(b, [b_case["id"]])
    made_up = Ids.made_up()

    for (method, route), calls in ENDPOINTS.items():
        for call in calls:
            theirs = await b.call(method, call.path(ids), **call.kwargs(ids))
            nowhere = await b.call(method, call.path(made_up), **call.kwargs(made_up))
            where = f"{method} {route}"
            assert "/api/v1" + call.path(ids) == _filled(route, ids), where  # the call is the endpoint it is listed under
            assert theirs.status_code == call.status, (where, theirs.status_code, theirs.text[:300])
            if call.status == 200:
                shown = theirs.text
                assert not any(i in shown for i in (*a_cases, ids.approval_id, ids.buyer_id)), where
            else:
                # The same answer as for an id that exists nowhere: nothing tells B that A's exists.
                assert (theirs.status_code, theirs.json()) == (nowhere.status_code, nowhere.json()), where
                if call.status == 404:
                    assert theirs.json()["detail"] == "Not found.", where  # the service's answer, not a missing route

    # B's own case, with A's file, task or proposal named under it, is no way in either.
    for path in (f"/disputes/{b_case['id']}/files/{ids.file_id}",):
        assert (await b.call("GET", path)).status_code == 404
    cross = await b.call("POST", "/disputes/assign", json={"case_ids": [b_case["id"], ids.case_id], "owner_user_id": None})
    assert cross.status_code == 404

    assert await _everything_of(a, a_cases) == before
    assert await _everything_of(b, [b_case["id"]]) == b_before


async def test_b_lists_none_of_as_cases_whatever_it_filters_on(client, world):
    a, b = Api(client, world.a), Api(client, world.b)
    ids, a_cases = await _a_world(a, world.a)
    assert sorted(c["id"] for c in (await a.ok("GET", "/disputes"))["items"]) == sorted(a_cases)
    for params in ({}, {"q": "D-"}, {"buyer_id": ids.buyer_id}, {"owner": "unassigned"}, {"state": ["open", "agreed"]}):
        listed = await b.ok("GET", "/disputes", params=params)
        assert (listed["total"], listed["items"]) == (0, []), params
    assert (await b.ok("GET", "/disputes/approvals"))["items"] == []
