"""Personal API keys: a member's own key acts as that member, with the role they have at the time of
the call, so a collaborator can answer their task and a second person can approve over the API.

Alice owns supplier A and Bob collaborates there (world.a); Charlie owns supplier B (world.b) and
must never reach anything of A's.
"""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select

from backend.audit import service as audit
from backend.audit.service import verify_chain
from backend.auth import service as auth
from backend.auth.models import ApiKey
from backend.auth.principal import ACTOR_LABEL_LENGTH, Principal, PrincipalKind
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from backend.errors import PermissionDenied
from backend.tenants import service as tenants
from backend.tenants.models import Role, User
from tests.conftest import Person, bearer, csrf_token, sign_in
from tests.disputes.test_api_helpers import (
    Api,
    agreed,
    due_in,
    in_person,
    invited_and_joined,
    personal_key,
    register,
    set_threshold,
)
from tests.factories import make_buyer, make_invoice


def uow(supplier):
    return tenant_unit_of_work(TenantId(supplier.tenant_id))


async def _key_row(supplier, secret: str) -> ApiKey:
    async with uow(supplier) as session:
        return (await session.scalars(select(ApiKey).where(ApiKey.prefix == secret[:12]))).one()


async def _status(client, secret: str, path: str = "/tenant") -> int:
    return (await client.get(f"/api/v1{path}", headers=bearer(secret))).status_code


async def _case_with_task_for(api: Api, supplier, assignee: Person) -> tuple[dict, dict]:
    buyer_id = await make_buyer(supplier, "Huadong Machinery Co.")
    invoice = await make_invoice(supplier, buyer_id)
    case = await register(api, buyer_id, [{"invoice_id": invoice.id, "amount": "500.00"}])
    task = await api.ok(
        "POST",
        f"/disputes/{case['id']}/tasks",
        201,
        json={
            "assignee_user_id": str(assignee.user_id),
            "team": "quality",
            "question": "Were the bearings scratched when they left the warehouse?",
            "due_on": due_in(3),
        },
    )
    return case, task


async def _revoke_in_console(client, key_id: uuid.UUID):
    token = await csrf_token(client, "/console/api-keys")
    return await client.post(f"/console/api-keys/{key_id}/revoke", data={"_csrf_token": token})


# --- making and seeing keys ------------------------------------------------------------------


async def test_a_collaborator_makes_a_personal_key_shown_once_kept_as_a_hash_and_acting_as_them(client, world):
    await sign_in(client, world.a.collaborator)
    secret = await personal_key(client, "Bob scripts")

    stored = await _key_row(world.a, secret)
    assert (stored.user_id, stored.role, stored.name) == (world.a.collaborator.user_id, None, "Bob scripts")
    assert secret not in (stored.secret_hash, stored.prefix) and len(stored.secret_hash) == 64
    listing = await client.get("/console/api-keys")
    assert "Bob scripts" in listing.text and stored.prefix in listing.text and secret not in listing.text

    me = await client.get("/api/v1/members", headers=bearer(secret))
    assert me.status_code == 200  # a collaborator may read the team, and the key is the collaborator
    assert (await client.get("/api/v1/tenant", headers=bearer(secret))).json()["id"] == str(world.a.tenant_id)
    async with uow(world.a) as session:
        assert (await session.get(ApiKey, (world.a.tenant_id, stored.id))).last_used_at is not None


async def test_a_personal_key_needs_a_name_and_the_refusal_keeps_nothing(client, world):
    await sign_in(client, world.a.collaborator)
    token = await csrf_token(client, "/console/api-keys")
    refused = await client.post("/console/api-keys/personal", data={"name": "   ", "_csrf_token": token})
    assert (
        refused.status_code == 422
        and "Give the key a name, for example the script" in refused.text
        and 'id="new-secret"' not in refused.text
    )
    async with uow(world.a) as session:
        assert not (await session.scalars(select(ApiKey).where(ApiKey.user_id == world.a.collaborator.user_id))).all()


async def test_a_collaborator_cannot_make_an_organisation_key_nor_see_anyone_elses(client, world):
    await sign_in(client, world.a.finance)
    owners_secret = await personal_key(client, "Alice laptop")
    await sign_in(client, world.a.collaborator)
    page = await client.get("/console/api-keys")
    assert page.status_code == 200
    assert "Your personal keys" in page.text
    assert "Alice laptop" not in page.text and owners_secret[:12] not in page.text and "First key" not in page.text
    token = await csrf_token(client, "/console/api-keys")
    refused = await client.post("/console/api-keys", data={"name": "ERP", "role": "admin", "_csrf_token": token})
    assert refused.status_code == 403
    async with uow(world.a) as session:
        assert not (await session.scalars(select(ApiKey).where(ApiKey.name == "ERP"))).all()


async def test_the_owner_sees_the_teams_personal_keys_and_revokes_one(client, world):
    await sign_in(client, world.a.collaborator)
    secret = await personal_key(client, "Bob scripts")
    key = await _key_row(world.a, secret)
    await sign_in(client, world.a.finance)
    page = await client.get("/console/api-keys")
    assert "Personal keys of the team" in page.text and "Bob scripts" in page.text and world.a.collaborator.email in page.text
    assert secret not in page.text
    revoked = await _revoke_in_console(client, key.id)
    assert revoked.status_code in (200, 303)
    assert await _status(client, secret) == 401


async def test_a_key_cannot_make_keys(world, client):
    await sign_in(client, world.a.collaborator)
    secret = await personal_key(client)
    principal = await auth.resolve_api_key(secret)
    async with uow(world.a) as session:
        with pytest.raises(PermissionDenied):
            await auth.create_personal_api_key(session, principal, name="another")


# --- acting as the person --------------------------------------------------------------------


async def test_the_assignee_answers_their_task_over_the_api_with_their_personal_key(client, world):
    api = Api(client, world.a)
    case, task = await _case_with_task_for(api, world.a, world.a.collaborator)
    await sign_in(client, world.a.collaborator)
    bob = Api(client, world.a, await personal_key(client))

    answered = await bob.ok("POST", f"/disputes/tasks/{task['id']}/answer", json={"answer": "Yes: five were scratched."})
    assert (answered["status"], answered["answered_by"]) == ("answered", world.a.collaborator.email)
    # Answering is what a collaborator may do; working the case is not.
    moved = await bob.call("POST", f"/disputes/{case['id']}/moves", json={"to": "negotiating"})
    assert moved.status_code == 403
    assert (await api.ok("GET", f"/disputes/{case['id']}"))["state"] != "negotiating"


async def test_an_organisation_key_still_cannot_stand_in_for_the_assignee(client, world):
    """The organisation's key with a read-only role is not the colleague the task was given to."""
    api = Api(client, world.a)
    case, task = await _case_with_task_for(api, world.a, world.a.collaborator)
    async with uow(world.a) as session:
        _key, viewer_secret = await auth.create_api_key(session, audit.SYSTEM, name="Reports", role="viewer")
    refused = await Api(client, world.a, viewer_secret).call(
        "POST", f"/disputes/tasks/{task['id']}/answer", json={"answer": "Not mine to say."}
    )
    assert refused.status_code in (403, 404)
    [still] = (await api.ok("GET", f"/disputes/{case['id']}/tasks"))["items"]
    assert still["status"] == "open"


async def test_a_credit_manager_approves_with_their_personal_key_and_the_requester_cannot(client, world):
    api = Api(client, world.a)
    await set_threshold(world.a, "CNY", "100.00")
    buyer_id = await make_buyer(world.a, "Huadong Machinery Co.")
    invoice = await make_invoice(world.a, buyer_id)
    case, _proposal = await agreed(api, buyer_id, invoice.id)

    requester = await invited_and_joined(client, api, "Wang Requester", "credit_manager")
    requester_api = Api(client, world.a, await personal_key(client))
    approver = await invited_and_joined(client, api, "Mei Credit", "credit_manager")
    approver_secret = await personal_key(client)
    approver_api = Api(client, world.a, approver_secret)

    asked = await requester_api.call(
        "POST",
        f"/disputes/{case['id']}/resolve",
        json={"outcome": "partly_valid", "root_cause_code": "product_defect", "note": "Five of ten", "version": case["version"]},
    )
    assert asked.status_code == 202, asked.text
    approval = asked.json()["approval"]
    assert approval["requested_by"] == requester.label

    refused = await requester_api.call("POST", f"/disputes/approvals/{approval['id']}/approve", json={})
    assert refused.status_code == 409 and refused.json()["field"] == "approval"
    assert (await api.ok("GET", f"/disputes/{case['id']}"))["state"] == "agreed"

    approved = await approver_api.ok("POST", f"/disputes/approvals/{approval['id']}/approve", json={"note": "Photos convince"})
    assert approved["case"]["state"] == "resolved" and approved["approval"]["decided_by"] == approver.label
    entries = (await api.ok("GET", f"/invoices/{invoice.id}/entries"))["items"]
    assert [(e["kind"], e["amount"], e["created_by"]) for e in entries if e["kind"] == "credit_note"] == [
        ("credit_note", "300.00", approver.label)
    ]

    # The trail names the person, and the key they used, in an intact chain.
    trail = (await api.ok("GET", "/audit-events", params={"object_type": "dispute", "object_id": case["id"]}))["items"]
    [entry] = [e for e in trail if e["action"] == "dispute.approval_approved"]
    assert (entry["actor_kind"], entry["actor_id"]) == ("user", str(approver.id))
    assert entry["actor_label"] == f"{approver.label} (API key {approver_secret[:12]}…)"
    async with uow(world.a) as session:
        assert (await verify_chain(session)).intact


async def test_a_viewers_personal_key_reads_but_cannot_approve(client, world):
    api = Api(client, world.a)
    buyer_id = await make_buyer(world.a, "Huadong Machinery Co.")
    invoice = await make_invoice(world.a, buyer_id)
    case, _proposal = await agreed(api, buyer_id, invoice.id)
    owner = await in_person(client, world.a)
    asked = await owner.call(
        "POST", f"/disputes/{case['id']}/resolve", json={"outcome": "partly_valid", "root_cause_code": "product_defect"}
    )
    assert asked.status_code == 202, asked.text
    approval = asked.json()["approval"]
    await invited_and_joined(client, api, "Vera Viewer", "viewer")
    viewer = Api(client, world.a, await personal_key(client))
    assert (await viewer.call("GET", f"/disputes/{case['id']}")).status_code == 200
    assert (await viewer.call("POST", f"/disputes/approvals/{approval['id']}/approve", json={})).status_code == 403
    assert (await api.ok("GET", f"/disputes/{case['id']}"))["state"] == "agreed"


# --- the key follows the membership ------------------------------------------------------------


async def test_a_personal_key_follows_a_change_of_role_at_once(client, world):
    api = Api(client, world.a)
    buyer_id = await make_buyer(world.a, "Huadong Machinery Co.")
    invoice = await make_invoice(world.a, buyer_id)
    await sign_in(client, world.a.collaborator)
    bob = Api(client, world.a, await personal_key(client))
    body = {
        "buyer_id": str(buyer_id),
        "reason_code": "quality",
        "description": "Scratched",
        "channel": "email",
        "items": [{"invoice_id": str(invoice.id), "amount": "100.00"}],
    }

    assert (await bob.call("POST", "/disputes", json=body)).status_code == 403
    await api.ok("PATCH", f"/members/{world.a.collaborator.membership_id}", json={"role": "collector"})
    assert (await bob.call("POST", "/disputes", json=body)).status_code == 201
    await api.ok("PATCH", f"/members/{world.a.collaborator.membership_id}", json={"role": "viewer"})
    assert (await bob.call("POST", "/disputes", json=body)).status_code == 403
    assert (await bob.call("GET", "/disputes")).status_code == 200


async def test_a_removed_members_key_is_refused_and_stays_refused_if_they_are_invited_again(client, world):
    api = Api(client, world.a)
    await sign_in(client, world.a.collaborator)
    secret = await personal_key(client)
    assert await _status(client, secret) == 200

    removed = await api.call("DELETE", f"/members/{world.a.collaborator.membership_id}")
    assert removed.status_code in (200, 204)
    assert await _status(client, secret) == 401

    # Invited again and joined with their own password: a fresh start, without the old key.
    member = await api.ok("POST", "/members", 201, json={"email": world.a.collaborator.email, "role": "collaborator"})
    async with uow(world.a) as session:
        mail = await tenants.issue_invitation(session, uuid.UUID(member["id"]), "https://testserver.local")
    path = "/" + mail.link.split("://", 1)[1].split("/", 1)[1]
    page = await client.get(path)
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    password = world.a.collaborator.password
    joined = await client.post(
        path,
        data={"display_name": "Bob", "password": password, "password_again": password, "_csrf_token": token},
        follow_redirects=False,
    )
    assert joined.status_code == 303, joined.text
    assert await _status(client, secret) == 401
    page = await client.get("/console/api-keys")
    assert "You have no personal keys." not in page.text  # the old key is listed, for what it was ...
    fresh = await personal_key(client)
    assert await _status(client, fresh) == 200  # ... and a new one works


async def test_removing_a_member_revokes_their_personal_keys_and_says_so(client, world):
    await sign_in(client, world.a.collaborator)
    secret = await personal_key(client, "Bob scripts")
    await Api(client, world.a).call("DELETE", f"/members/{world.a.collaborator.membership_id}")
    await sign_in(client, world.a.finance)
    page = await client.get("/console/api-keys")
    row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*Bob scripts(?:(?!</tr>).)*</tr>", page.text, re.S).group(0)
    # Removing the member revoked the key: listed as revoked, acting as no one (no role shown).
    assert 'class="revoked"' in row and "Revoked" in row and "Collaborator" not in row
    assert await _status(client, secret) == 401
    # Removing the member revoked the key too, and the trail says which.
    assert (await _key_row(world.a, secret)).revoked_at is not None
    removal = (await Api(client, world.a).ok("GET", "/audit-events?action=member.removed", 200))["items"][0]
    assert removal["after"]["personal_keys_revoked"] == [secret[: len(removal["after"]["personal_keys_revoked"][0])]]


async def test_a_revoked_personal_key_is_refused(client, world):
    await sign_in(client, world.a.collaborator)
    secret = await personal_key(client)
    key = await _key_row(world.a, secret)
    response = await _revoke_in_console(client, key.id)
    assert response.status_code in (200, 303)
    assert await _status(client, secret) == 401
    page = await client.get("/console/api-keys")
    assert "Revoked" in page.text


async def test_a_member_cannot_revoke_someone_elses_key(client, world):
    await sign_in(client, world.a.finance)
    owners_secret = await personal_key(client, "Alice laptop")
    owners_key = await _key_row(world.a, owners_secret)
    async with uow(world.a) as session:
        first_key = (await session.scalars(select(ApiKey).where(ApiKey.user_id.is_(None)))).first()
    await sign_in(client, world.a.collaborator)
    for key_id in (owners_key.id, first_key.id):
        assert (await _revoke_in_console(client, key_id)).status_code == 404
    assert await _status(client, owners_secret) == 200
    assert await _status(client, world.a.api_key) == 200


# --- tenancy -------------------------------------------------------------------------------


async def test_another_tenants_personal_key_never_reaches_this_tenant(client, world):
    api = Api(client, world.a)
    case, task = await _case_with_task_for(api, world.a, world.a.collaborator)
    await sign_in(client, world.b.finance)
    charlie_secret = await personal_key(client, "Charlie scripts")
    charlie = Api(client, world.b, charlie_secret)

    assert (await charlie.ok("GET", "/tenant"))["id"] == str(world.b.tenant_id)
    assert (await charlie.call("GET", f"/disputes/{case['id']}")).status_code == 404
    answered = await charlie.call("POST", f"/disputes/tasks/{task['id']}/answer", json={"answer": "mine now"})
    assert answered.status_code == 404
    assert case["id"] not in (await charlie.call("GET", "/disputes")).text
    [still] = (await api.ok("GET", f"/disputes/{case['id']}/tasks"))["items"]
    assert still["status"] == "open"

    # Nor can A's owner see or revoke Charlie's key from A's console.
    charlies_key = await _key_row(world.b, charlie_secret)
    await sign_in(client, world.a.finance)
    assert "Charlie scripts" not in (await client.get("/console/api-keys")).text
    assert (await _revoke_in_console(client, charlies_key.id)).status_code == 404
    assert await _status(client, charlie_secret) == 200


def test_the_trail_names_the_key_even_for_the_longest_address():
    email = "a" * 300 + "@example.com"  # 312 characters, within what an address may have
    person = Principal(
        kind=PrincipalKind.USER,
        id=uuid.uuid4(),
        tenant_id=TenantId(uuid.uuid4()),
        role=Role.COLLABORATOR,
        label=email,
        display_name="A",
        api_key_prefix="acc_12345678",
    )
    label = person.actor().label
    assert len(label) <= ACTOR_LABEL_LENGTH and label.endswith("(API key acc_12345678…)") and label.startswith("aaaa")
    assert person.label == email  # what four-eyes checks compare stays the address


async def test_an_owners_personal_key_acts_as_an_admin_never_as_an_owner(client, world):
    await sign_in(client, world.a.finance)  # the owner
    secret = await personal_key(client, "Alice laptop")
    headers = {"Authorization": f"Bearer {secret}"}
    made_owner = await client.post("/api/v1/members", json={"email": "intruder@example.com", "role": "owner"}, headers=headers)
    assert made_owner.status_code == 422 and made_owner.json()["field"] == "role"  # only an owner grants the owner role
    async with uow(world.a) as session:
        assert await session.scalar(select(func.count()).select_from(User).where(User.email == "intruder@example.com")) == 0
    # Everything an admin may do still works with it.
    assert (await client.get("/api/v1/members", headers=headers)).status_code == 200
