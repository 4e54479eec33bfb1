"""The first promise: a supplier sees only its own tenant — through the API, the pages, the ORM and raw SQL."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text

from backend.db.models import Model, TenantOwned
from backend.db.tenancy import TenancyError, TenantId
from backend.db.uow import global_unit_of_work, tenant_unit_of_work
from backend.tenants.models import Membership, MembershipStatus, Role
from tests.conftest import bearer, csrf_token, sign_in

TENANT_OWNED_TABLES = sorted(m.local_table.name for m in Model.registry.mappers if issubclass(m.class_, TenantOwned))


async def test_api_answers_404_for_another_tenants_member(client, world):
    charlies_member = world.b.finance.membership_id
    for method, kwargs in (("get", {}), ("patch", {"json": {"role": "viewer"}}), ("delete", {})):
        response = await getattr(client, method)(f"/api/v1/members/{charlies_member}", headers=bearer(world.a.api_key), **kwargs)
        assert response.status_code == 404, (method, response.text)
    # Charlie still sees himself as owner: nothing was changed by the refused calls.
    mine = await client.get(f"/api/v1/members/{charlies_member}", headers=bearer(world.b.api_key))
    assert mine.status_code == 200 and mine.json()["role"] == "owner"


async def test_api_answers_404_the_same_for_a_missing_member(client, world):
    foreign = await client.get(f"/api/v1/members/{world.b.finance.membership_id}", headers=bearer(world.a.api_key))
    missing = await client.get(f"/api/v1/members/{uuid.uuid4()}", headers=bearer(world.a.api_key))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()


async def test_api_lists_only_the_callers_team(client, world):
    response = await client.get("/api/v1/members", headers=bearer(world.a.api_key))
    emails = {m["email"] for m in response.json()["items"]}
    assert emails == {world.a.finance.email, world.a.collaborator.email}
    assert world.b.finance.email not in response.text


async def test_audit_api_never_shows_another_tenants_entries(client, world):
    response = await client.get("/api/v1/audit-events?limit=200", headers=bearer(world.a.api_key))
    assert response.status_code == 200
    assert world.b.finance.email not in response.text and world.b.name not in response.text


async def test_pages_answer_404_for_another_tenants_member(client, world):
    await sign_in(client, world.a.finance)
    token = await csrf_token(client, "/console/team")
    target = world.b.collaborator.membership_id
    role = await client.post(f"/console/team/{target}/role", data={"role": "owner", "_csrf_token": token})
    remove = await client.post(f"/console/team/{target}/remove", data={"_csrf_token": token})
    assert role.status_code == remove.status_code == 404
    assert world.b.collaborator.email not in role.text
    async with tenant_unit_of_work(TenantId(world.b.tenant_id)) as session:
        membership = (await session.scalars(select(Membership).where(Membership.id == target))).one()
    assert membership.role is Role.COLLABORATOR


async def test_team_page_shows_only_the_tenants_people(client, world):
    await sign_in(client, world.a.finance)
    page = await client.get("/console/team")
    assert world.a.collaborator.email in page.text
    assert world.b.finance.email not in page.text and world.b.collaborator.email not in page.text


async def test_orm_query_is_scoped_to_the_session_tenant(world):
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        tenants_seen = set((await session.scalars(select(Membership.tenant_id))).all())
    assert tenants_seen == {world.a.tenant_id}


async def test_orm_query_without_a_tenant_is_refused(world):
    with pytest.raises(TenancyError):
        async with global_unit_of_work() as session:
            await session.scalars(select(Membership))


async def test_orm_bulk_update_cannot_reach_another_tenant(world):
    from sqlalchemy import update

    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        await session.execute(update(Membership).where(Membership.id == world.b.finance.membership_id).values(role=Role.VIEWER))
    async with tenant_unit_of_work(TenantId(world.b.tenant_id)) as session:
        membership = (await session.scalars(select(Membership).where(Membership.id == world.b.finance.membership_id))).one()
    assert membership.role is Role.OWNER


async def test_orm_refuses_to_write_a_row_for_another_tenant(world):
    with pytest.raises(TenancyError):
        async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
            session.add(
                Membership(
                    tenant_id=world.b.tenant_id,
                    user_id=world.a.collaborator.user_id,
                    role=Role.OWNER,
                    status=MembershipStatus.ACTIVE,
                )
            )


# --- the second wall: PostgreSQL row-level security, as the application role ---------------


async def _raw(statement: str, params: dict | None = None, *, tenant: uuid.UUID | None = None):
    from backend.db.engine import get_database

    async with get_database().engine.connect() as connection:
        if tenant is not None:
            await connection.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant)})
        result = await connection.execute(text(statement), params or {})
        rows = result.fetchall() if result.returns_rows else None
        await connection.commit()
        return rows


@pytest.mark.postgresql
async def test_raw_sql_without_the_tenant_setting_sees_no_tenant_owned_rows(world):
    for table in TENANT_OWNED_TABLES:
        assert (await _raw(f"SELECT count(*) FROM {table}"))[0][0] == 0, table
    assert (await _raw("SELECT count(*) FROM tenants"))[0][0] == 0


@pytest.mark.postgresql
async def test_raw_sql_with_a_tenant_setting_sees_only_that_tenant(world):
    rows = await _raw("SELECT DISTINCT tenant_id FROM memberships", tenant=world.a.tenant_id)
    assert {r[0] for r in rows} == {world.a.tenant_id}


@pytest.mark.postgresql
async def test_tenant_setting_does_not_survive_commit_on_a_pooled_connection(world):
    from backend.db.engine import get_database

    async with get_database().engine.connect() as connection:
        await connection.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(world.a.tenant_id)})
        assert (await connection.execute(text("SELECT count(*) FROM memberships"))).scalar_one() >= 2
        await connection.commit()
        assert (await connection.execute(text("SELECT count(*) FROM memberships"))).scalar_one() == 0
        await connection.commit()


@pytest.mark.postgresql
async def test_row_level_security_refuses_an_insert_for_another_tenant(world):
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="row-level security"):
        await _raw(
            "INSERT INTO memberships (tenant_id, id, user_id, role, status, created_at) "
            "VALUES (:other, :id, :user, 'owner', 'active', now())",
            {"other": world.b.tenant_id, "id": uuid.uuid4(), "user": world.a.collaborator.user_id},
            tenant=world.a.tenant_id,
        )


@pytest.mark.postgresql
async def test_application_role_is_no_superuser_and_owns_no_table():
    role = await _raw("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
    assert role == [(False, False)]
    owned = await _raw("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user")
    assert owned == []


@pytest.mark.postgresql
async def test_every_tenant_owned_table_forces_row_level_security():
    rows = await _raw(
        "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' "
        "AND relrowsecurity AND relforcerowsecurity"
    )
    assert set(TENANT_OWNED_TABLES) | {"tenants"} <= {r[0] for r in rows}


def test_every_tenant_owned_key_leads_with_tenant_id():
    for mapper in Model.registry.mappers:
        if not issubclass(mapper.class_, TenantOwned):
            continue
        table = mapper.local_table
        assert next(c.name for c in table.primary_key.columns) == "tenant_id", table.name
        for constraint in table.constraints:
            if constraint.__class__.__name__ == "UniqueConstraint":
                assert "tenant_id" in [c.name for c in constraint.columns], (table.name, constraint.name)


@pytest.mark.postgresql
async def test_the_data_layer_scopes_queries_even_where_row_level_security_would_let_them_through(world):
    # Open the second wall on purpose (cross-tenant setting) to see the first one hold on its own.
    async with tenant_unit_of_work(TenantId(world.a.tenant_id)) as session:
        await session.execute(text("SELECT set_config('app.cross_tenant', 'on', true)"))
        assert (await session.execute(text("SELECT count(DISTINCT tenant_id) FROM memberships"))).scalar_one() >= 2
        tenants_seen = set((await session.scalars(select(Membership.tenant_id))).all())
    assert tenants_seen == {world.a.tenant_id}


@pytest.mark.postgresql
async def test_two_owners_demoted_at_once_leave_one_owner(world):
    import asyncio

    from backend.auth.principal import Principal, PrincipalKind
    from backend.errors import Conflict
    from backend.tenants import service as tenants

    tenant = TenantId(world.a.tenant_id)
    async with tenant_unit_of_work(tenant) as session:
        (
            await session.scalars(select(Membership).where(Membership.id == world.a.collaborator.membership_id))
        ).one().role = Role.OWNER
    owner = Principal(PrincipalKind.USER, world.a.finance.user_id, tenant, Role.OWNER, world.a.finance.email, "Alice")

    async def demote(membership_id):
        async with tenant_unit_of_work(tenant) as session:
            await tenants.change_role(session, owner, membership_id, Role.VIEWER)

    results = await asyncio.gather(
        demote(world.a.finance.membership_id), demote(world.a.collaborator.membership_id), return_exceptions=True
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1
    async with tenant_unit_of_work(tenant) as session:
        roles = (await session.scalars(select(Membership.role))).all()
    assert roles.count(Role.OWNER) == 1


LEDGER_TABLES = ("buyers", "buyer_contacts", "invoices", "invoice_lines", "ledger_entries", "allocations")


@pytest.mark.postgresql
async def test_raw_sql_on_the_ledger_sees_only_the_tenant_in_the_setting(world):
    from backend.buyers import service as buyers
    from backend.invoices import service as ledger
    from tests.factories import make_buyer, make_invoice, owner_of

    for supplier in (world.a, world.b):
        buyer_id = await make_buyer(supplier)
        await make_invoice(supplier, buyer_id)
        async with tenant_unit_of_work(TenantId(supplier.tenant_id)) as session:
            await buyers.add_contact(session, owner_of(supplier), buyer_id, name="AP", email="ap@example.com")
            await ledger.record_payment(session, owner_of(supplier), buyer_id=buyer_id, amount="100.00", currency="CNY")
    for table in LEDGER_TABLES:
        seen = {r[0] for r in await _raw(f"SELECT DISTINCT tenant_id FROM {table}", tenant=world.a.tenant_id)}
        assert seen == {world.a.tenant_id}, table
        assert (await _raw(f"SELECT count(*) FROM {table}"))[0][0] == 0, table
