"""Team members: invitations by e-mail link, roles, removal, and the rules that keep a team governable."""

from __future__ import annotations

import email
import re

from backend.db.uow import all_tenants_unit_of_work
from tests.conftest import bearer, csrf_token, sign_in
from workers import relay
from workers.actors import broker


async def run_jobs() -> None:
    """Relay the outbox and let the in-process worker run what it published, until the jobs record no more
    (a job that queues an e-mail records the e-mail's own job)."""
    from dramatiq import Worker

    worker = Worker(broker, worker_threads=1)
    worker.start()
    try:
        while await relay.relay_once():
            for queue in broker.get_declared_queues():
                broker.join(queue, timeout=10_000)
            worker.join()
    finally:
        worker.stop()


def invitation_link(mail_dir, address: str) -> str:
    for path in mail_dir.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes())
        if message["To"] == address:
            return re.search(r"https?://\S+/console/invitations/(\S+)", message.get_payload(decode=True).decode()).group(0)
    raise AssertionError(f"no invitation e-mail to {address}")


async def test_an_invited_colleague_joins_through_the_e_mailed_link(client, world, mail_dir):
    response = await client.post(
        "/api/v1/members", json={"email": "Dana.Lee@Example.com", "role": "collector"}, headers=bearer(world.a.api_key)
    )
    assert response.status_code == 201 and response.json()["status"] == "invited"
    await run_jobs()
    link = invitation_link(mail_dir, "dana.lee@example.com")
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = await client.get(f"/{path}")
    assert page.status_code == 200 and page.headers["referrer-policy"] == "no-referrer"
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    short = await client.post(
        f"/{path}", data={"display_name": "Dana Lee", "password": "short", "password_again": "short", "_csrf_token": token}
    )
    assert short.status_code == 422 and "at least 12 characters" in short.text
    joined = await client.post(
        f"/{path}",
        data={
            "display_name": "Dana Lee",
            "password": "a-long-enough-password",
            "password_again": "a-long-enough-password",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert joined.status_code == 303
    home = await client.get("/console")
    assert "Dana Lee" in home.text
    # The link worked once.
    again = await client.get(f"/{path}")
    assert again.status_code == 404


async def test_an_altered_invitation_link_is_refused(client, world, mail_dir):
    await client.post(
        "/api/v1/members", json={"email": "eve.altered@example.com", "role": "viewer"}, headers=bearer(world.a.api_key)
    )
    await run_jobs()
    link = invitation_link(mail_dir, "eve.altered@example.com")
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    altered = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    assert (await client.get(altered)).status_code == 404


async def test_inviting_someone_already_in_the_team_is_a_clear_conflict(client, world):
    response = await client.post(
        "/api/v1/members", json={"email": world.a.collaborator.email, "role": "viewer"}, headers=bearer(world.a.api_key)
    )
    assert response.status_code == 409 and response.json()["field"] == "email"


async def test_a_bad_invitation_names_the_field_and_changes_nothing(client, world):
    before = (await client.get("/api/v1/members", headers=bearer(world.a.api_key))).json()["total"]
    bad_email = await client.post(
        "/api/v1/members", json={"email": "not-an-address", "role": "viewer"}, headers=bearer(world.a.api_key)
    )
    bad_role = await client.post(
        "/api/v1/members", json={"email": "ok@example.com", "role": "emperor"}, headers=bearer(world.a.api_key)
    )
    assert bad_email.status_code == 422 and bad_email.json()["field"] == "email"
    assert bad_role.status_code == 422 and bad_role.json()["field"] == "role"
    assert (await client.get("/api/v1/members", headers=bearer(world.a.api_key))).json()["total"] == before


async def test_the_last_owner_cannot_be_demoted_or_removed(client, world):
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, "/console/team")
    demote = await client.post(
        f"/console/team/{world.a.finance.membership_id}/role",
        data={"role": "viewer", "_csrf_token": token},
        headers={"HX-Request": "true"},
    )
    remove = await client.post(
        f"/console/team/{world.a.finance.membership_id}/remove", data={"_csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert demote.status_code == remove.status_code == 422
    assert "at least one owner" in demote.text
    assert (await client.get(f"/api/v1/members/{world.a.finance.membership_id}", headers=bearer(world.a.api_key))).json()[
        "role"
    ] == "owner"


async def test_an_api_key_cannot_make_anyone_owner(client, world):
    response = await client.patch(
        f"/api/v1/members/{world.a.collaborator.membership_id}", json={"role": "owner"}, headers=bearer(world.a.api_key)
    )
    assert response.status_code == 422


async def test_a_collaborator_cannot_invite(client, world):
    await sign_in(client, world.a.collaborator)
    team = await client.get("/console/team")
    assert team.status_code == 200 and "Invite a colleague" not in team.text
    token = await csrf_token(client, "/console/team")
    response = await client.post(
        "/console/team/invitations", data={"email": "sneaky@example.com", "role": "owner", "_csrf_token": token}
    )
    assert response.status_code == 403


async def test_removing_a_member_is_audited_with_who_and_what(client, world):
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, "/console/team")
    await client.post(f"/console/team/{world.a.collaborator.membership_id}/remove", data={"_csrf_token": token})
    entries = (await client.get("/api/v1/audit-events?action=member.removed", headers=bearer(world.a.api_key))).json()["items"]
    assert len(entries) == 1
    assert entries[0]["actor_label"] == world.a.finance.email and entries[0]["before"]["role"] == "collaborator"


async def test_a_person_in_two_organisations_switches_between_them(client, world):
    from backend.auth.principal import Principal, PrincipalKind
    from backend.db.tenancy import TenantId
    from backend.db.uow import tenant_unit_of_work
    from backend.tenants import service as tenants
    from backend.tenants.models import Role
    from backend.tenants.repository import MembershipRepository

    owner_b = Principal(
        PrincipalKind.USER, world.b.finance.user_id, TenantId(world.b.tenant_id), Role.OWNER, world.b.finance.email, "Charlie"
    )
    async with tenant_unit_of_work(TenantId(world.b.tenant_id)) as session:
        membership = await tenants.invite_member(session, owner_b, email=world.a.finance.email, role="viewer")
        await MembershipRepository(session).get(membership.id)
        membership.status = membership.status.ACTIVE
    async with all_tenants_unit_of_work("test: organisation slug") as session:
        from backend.tenants.repository import TenantRepository

        slug_b = (await TenantRepository(session).get(world.b.tenant_id)).slug
    await sign_in(client, world.a.finance)
    home = await client.get("/console")
    assert world.b.name in home.text  # offered in the switcher
    token = await csrf_token(client, "/console")
    await client.post("/console/switch", data={"organisation": slug_b, "_csrf_token": token})
    assert (await client.get("/console")).text.count(world.b.name) >= 1
    team = await client.get("/console/team")
    assert world.b.collaborator.email in team.text and world.a.collaborator.email not in team.text
