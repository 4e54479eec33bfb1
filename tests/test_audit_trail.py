"""The audit trail: written with the change, never changed afterwards, and any tampering is found at its row."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from backend.audit import service as audit
from backend.audit.models import AuditEvent
from backend.db.engine import get_database
from backend.db.tenancy import TenantId
from backend.db.uow import tenant_unit_of_work
from tests.conftest import TEST_DB, _admin_execute, bearer, sign_in


async def _as_application_role(tenant_id, statement: str):
    async with get_database().engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})
        try:
            return await connection.execute(text(statement))
        finally:
            await connection.rollback()


async def test_the_application_role_cannot_update_or_delete_audit_rows(world):
    for statement in ("UPDATE audit_events SET action = 'nothing.happened'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match=r"permission denied|append-only"):
            await _as_application_role(world.a.tenant_id, statement)
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        assert "tenant.created" in (await session.scalars(select(AuditEvent.action))).all()


async def test_an_orm_change_to_an_audit_row_is_refused(world):
    with pytest.raises(DBAPIError):
        async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
            entry = (await session.scalars(select(AuditEvent))).first()
            entry.actor_label = "someone else"


async def test_a_change_that_rolls_back_leaves_no_audit_entry(world):
    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned):
        async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
            audit.record(session, audit.SYSTEM, "test.abandoned", "tenant", world.a.tenant_id)
            raise Abandoned
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        assert "test.abandoned" not in (await session.scalars(select(AuditEvent.action))).all()


async def test_entries_record_who_what_and_before_and_after(client, world):
    await client.patch(
        f"/api/v1/members/{world.a.collaborator.membership_id}", json={"role": "viewer"}, headers=bearer(world.a.api_key)
    )
    entry = (await client.get("/api/v1/audit-events?action=member.role_changed", headers=bearer(world.a.api_key))).json()[
        "items"
    ][0]
    assert entry["actor_kind"] == "api_key" and entry["actor_label"].startswith("API key acc_")
    assert entry["before"]["role"] == "collaborator" and entry["after"]["role"] == "viewer"
    assert entry["ip"] and entry["occurred_at"]


async def test_the_chain_is_intact_after_ordinary_work(client, world):
    check = (await client.get("/api/v1/audit-events/verification", headers=bearer(world.a.api_key))).json()
    assert check == {"entries": check["entries"], "intact": True, "first_broken_seq": None} and check["entries"] >= 3


@pytest.mark.postgresql
async def test_an_entry_altered_behind_the_apps_back_is_found_at_exactly_that_row(client, world):
    # Only the table owner can do this, and only by switching the trigger off first.
    await _admin_execute(
        TEST_DB,
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
        f"UPDATE audit_events SET after = '{{\"role\": \"viewer\"}}' WHERE tenant_id = '{world.a.tenant_id}' AND seq = 2",
        "ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only",
    )
    check = (await client.get("/api/v1/audit-events/verification", headers=bearer(world.a.api_key))).json()
    assert check["intact"] is False and check["first_broken_seq"] == 2
    other = (await client.get("/api/v1/audit-events/verification", headers=bearer(world.b.api_key))).json()
    assert other["intact"] is True


async def test_concurrent_changes_keep_one_unbroken_chain(client, world):
    import asyncio

    async def change(n: int) -> None:
        async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
            audit.record(session, audit.SYSTEM, "test.concurrent", "tenant", world.a.tenant_id, after={"n": n})

    await asyncio.gather(*(change(n) for n in range(12)))
    check = (await client.get("/api/v1/audit-events/verification", headers=bearer(world.a.api_key))).json()
    assert check["intact"] is True
    entries = (await client.get("/api/v1/audit-events?action=test.concurrent&limit=50", headers=bearer(world.a.api_key))).json()[
        "items"
    ]
    assert sorted(e["after"]["n"] for e in entries) == list(range(12))


async def test_the_console_offers_the_audit_trail_only_to_roles_that_may_read_it(client, world):
    await sign_in(client, world.a.collaborator)
    home = (await client.get("/console")).text
    assert 'href="/console/audit"' not in home
    assert (await client.get("/console/audit")).status_code == 403
    client.cookies.clear()
    await sign_in(client, world.a.finance)
    assert 'href="/console/audit"' in (await client.get("/console")).text
